"""Load models, tokenizers and base weights safely (safetensors first, no remote code); pick device and precision."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from ftaudit.architectures import architecture_of
from ftaudit.errors import UsageError
from ftaudit.jsonfile import Fields, check_readable, parse_json, read_json

SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "*.model")  # one of these holds a vocabulary
BASE_KEY = "ftaudit_base_model"  # written into config.json by fine-tune mode and the Trainer callback


def quiet_transformers() -> None:
    """Silence transformers' load reports and progress bars; ftaudit reports what matters itself."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)


def looks_like_path(ref: str) -> bool:
    """True for refs that cannot be hub ids ("org/name"): absolute, relative-dotted, nested or weight files."""
    return ref.startswith((".", "/", "~", "\\")) or ref.count("/") > 1 or " " in ref \
        or Path(ref).suffix in (".bin", ".pt", ".pth", ".safetensors", ".json")


@dataclass(frozen=True)
class ModelFiles:
    """Where a model's files are: a local folder (resolved from a hub id when needed)."""

    ref: str
    folder: Path
    safetensors: tuple[Path, ...]
    pickles: tuple[Path, ...]
    config: Mapping[str, Any]


def _hub_download(ref: str, what: str, allow_pickle: bool) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    patterns = ["*.json", "*.txt", "*.model", "*.safetensors"] + (["*.bin"] if allow_pickle else [])
    try:
        return Path(snapshot_download(ref, allow_patterns=patterns))
    except HFValidationError:
        raise UsageError(f"{what} {ref!r} is neither a local folder nor a valid hub id",
                         "check the path (it does not exist) or the hub id") from None
    except Exception as exc:  # network, auth and offline errors all mean the same to the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"there is no folder {ref} and {what} {ref!r} could not be fetched from the Hugging Face "
                         f"hub ({first[:160]})",
                         "check the id and the network, or pass a local folder (HF_HUB_OFFLINE=1 forbids "
                         "downloads)") from None


def locate(ref: str, what: str, *, allow_pickle: bool) -> ModelFiles:
    """Find a model's folder and weight files; refuse pickle-only checkpoints unless allowed."""
    path = Path(ref).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"{what} {ref} is a file, not a model folder",
                             "pass the folder that holds config.json and the weights")
        folder = path
    elif looks_like_path(ref):
        raise UsageError(f"{what} folder {ref} does not exist", "check the path")
    else:
        folder = _hub_download(ref, what, allow_pickle)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise UsageError(f"{what} folder {folder} has no config.json",
                         "pass a folder written by save_pretrained (config.json + weights)")
    config = read_model_config(config_file)
    try:
        safes = tuple(sorted(folder.glob("*.safetensors")))
        pickles = tuple(sorted(p for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth")))
    except PermissionError:
        raise UsageError(f"cannot read {folder}: permission denied", "make the folder readable by this user") \
            from None
    for file in folder.iterdir():  # every file transformers may read: a permission problem is named now
        if file.is_file() and not file.name.startswith("."):
            check_readable(file)
    if not safes and not pickles:
        raise UsageError(f"{what} folder {folder} has no weights (no *.safetensors)",
                         "save the model there with save_pretrained, or point at the folder that has the weights")
    if not safes and not allow_pickle:
        raise UsageError(f"{what} folder {folder} has only pickle weights ({pickles[0].name}), which can run code",
                         "convert them to safetensors, or pass --allow-pickle if you trust the file")
    return ModelFiles(ref=ref, folder=folder, safetensors=safes, pickles=pickles, config=config)


CONFIG_FIX = "restore the file from save_pretrained"
CONFIG_FIELDS = {  # fields of config.json that ftaudit reads itself, with the JSON type each must have
    "model_type": str, "architectures": list, "id2label": dict, "label2id": dict, "auto_map": dict,
    "_name_or_path": str, BASE_KEY: str, "max_position_embeddings": int, "num_labels": int,
}


def read_model_config(path: Path) -> dict[str, Any]:
    """config.json of a model folder: a JSON object whose fields ftaudit reads have the right types."""
    data = read_json(path, "model config", fix=CONFIG_FIX)
    fields = Fields(data, path, fix=CONFIG_FIX)
    for key, tp in CONFIG_FIELDS.items():
        value = data.get(key)
        if value is None:
            continue
        if tp is int:
            fields.get_int(key)
        elif not isinstance(value, tp):
            raise UsageError(f"{path}: field {key} must be {_JSON_NAMES[tp]}, got {type(value).__name__}", CONFIG_FIX)
    if not all(isinstance(a, str) for a in data.get("architectures") or ()):
        raise UsageError(f"{path}: field architectures must be a list of strings", CONFIG_FIX)
    for key in ("id2label", "label2id"):
        if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in (data.get(key) or {}).values()):
            raise UsageError(f"{path}: field {key} must map to strings or integers", CONFIG_FIX)
    return data


_JSON_NAMES = {str: "a string", list: "a list", dict: "an object"}


def recorded_base(files: ModelFiles) -> tuple[str | None, str]:
    """The base model a checkpoint records (ftaudit's own key, else transformers' `_name_or_path`), and why not.

    A recorded base is used only when it is a local folder that exists: a local model never makes ftaudit reach
    the network. A hub id (or a folder that is gone) gives None and the reason, which tells how to pass --base.
    """
    for key in (BASE_KEY, "_name_or_path"):
        value = files.config.get(key)
        if not isinstance(value, str) or not value or "\0" in value:
            continue
        path = Path(value).expanduser()
        try:
            if path.resolve() == files.folder.resolve():
                continue
            if path.is_dir():
                return value, ""
        except (OSError, RuntimeError, ValueError):
            pass
        return None, (f"the checkpoint records its base as {value!r}, which is not a local folder here, and ftaudit "
                      f"does not download a base it was not asked for; pass --base {value} to compare with it")
    return None, "no --base was given and the checkpoint does not record its base model"


def has_tokenizer_files(folder: Path) -> bool:
    """True when the folder holds a vocabulary (transformers would otherwise build an empty tokenizer)."""
    return any(next(folder.glob(pattern), None) is not None for pattern in TOKENIZER_FILES)


def refuse_remote_code(folder: Path, what: str, trust_remote_code: bool) -> None:
    """A folder that maps Auto classes to its own Python files (auto_map) is refused without --trust-remote-code.

    transformers would silently ignore that code for a known model_type, or refuse with an error for an unknown
    one; either way the model is not the one its author meant, so ftaudit says so before loading anything.
    """
    if trust_remote_code:
        return
    for name in ("config.json", "tokenizer_config.json"):
        if not (folder / name).is_file():
            continue
        data = read_json(folder / name, "config", fix=CONFIG_FIX)
        auto_map = data.get("auto_map") if isinstance(data, dict) else None
        if auto_map:
            shown = sorted(auto_map)[0] if isinstance(auto_map, dict) else str(auto_map)[:60]
            raise UsageError(f"{what} folder {folder} ships its own Python code ({name} maps {shown} to it in "
                             "auto_map), which ftaudit does not run by default",
                             "read that code, then pass --trust-remote-code if you trust it")


def load_tokenizer(folder: Path, *, trust_remote_code: bool, fallback: Path | None = None) -> tuple[Any, str]:
    """The folder's tokenizer, else the fallback's (returns a note saying so)."""
    from transformers import AutoTokenizer

    for candidate, note in ((folder, ""), (fallback, f"the model folder has no tokenizer; used {fallback}'s")):
        if candidate is None or not has_tokenizer_files(candidate):
            continue
        refuse_remote_code(candidate, "tokenizer", trust_remote_code)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(candidate), trust_remote_code=trust_remote_code)
        except Exception:  # a damaged or foreign tokenizer raises many types; the next candidate may do
            continue
        if len(tokenizer) > len(set(tokenizer.all_special_ids)):
            return tokenizer, note
    raise UsageError(f"no tokenizer in {folder}" + ("" if fallback else " and no base model to take one from"),
                     "copy the tokenizer files (tokenizer.json or vocab.txt + tokenizer_config.json) there")


def _auto_config(files: ModelFiles, what: str, trust_remote_code: bool) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(files.folder), trust_remote_code=trust_remote_code)
    except ValueError as exc:
        text = (str(exc).splitlines() or [""])[0]
        if "trust_remote_code" in text:
            raise UsageError(f"{what} {files.ref} needs its own Python code to load",
                             "read that code, then pass --trust-remote-code if you trust it") from None
        raise UsageError(f"{what} {files.ref} has a config transformers cannot read ({text[:160]})",
                         "pass a folder written by save_pretrained of a transformers model") from None
    except Exception as exc:  # the folder's own code (with --trust-remote-code) may raise anything
        text = (str(exc).strip().splitlines() or [""])[0]
        raise UsageError(f"{what} {files.ref} has a config that could not be loaded ({type(exc).__name__}: "
                         f"{text[:160]})", "pass a folder written by save_pretrained of a transformers model") \
            from None


def load_classifier(files: ModelFiles, *, what: str, trust_remote_code: bool, allow_pickle: bool,
                    id2label: Mapping[int, str] | None = None, require_head: bool = True) -> Any:
    """An AutoModelForSequenceClassification in eval mode on the CPU.

    With `require_head`, a checkpoint whose classification head is missing (a bare encoder) is refused.
    With `id2label`, a new head of that many classes is created (fine-tune mode).
    """
    import torch
    from transformers import AutoModelForSequenceClassification

    refuse_remote_code(files.folder, what, trust_remote_code)
    config = _auto_config(files, what, trust_remote_code)
    kwargs: dict[str, Any] = {}
    if id2label is not None:
        kwargs = {"num_labels": len(id2label), "id2label": dict(id2label),
                  "label2id": {v: k for k, v in id2label.items()}}
        for key, value in kwargs.items():
            setattr(config, key, value)
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            str(files.folder), config=config, trust_remote_code=trust_remote_code,
            use_safetensors=bool(files.safetensors) or not allow_pickle, output_loading_info=True,
            dtype=torch.float32, weights_only=True,  # a pickle may hold tensors, never code
        )
    except ValueError as exc:
        text = (str(exc).splitlines() or [""])[0]
        if "Unrecognized configuration class" in text or "ForSequenceClassification" in text:
            arch = (files.config.get("architectures") or [files.config.get("model_type", "?")])[0]
            raise UsageError(f"{what} {files.ref} is a {arch}, which has no sequence-classification head in "
                             "transformers", "pass a BERT-style encoder checkpoint") from None
        raise _load_error(exc, what, files.ref) from None
    except Exception as exc:  # safetensors, pickle and torch raise their own types for a damaged file
        raise _load_error(exc, what, files.ref) from None
    mismatched = info.get("mismatched_keys") or ()
    if mismatched:
        first = sorted(mismatched)[0]
        first = first[0] if isinstance(first, tuple) else first
        if not (id2label is not None and "classifier" in str(first)):
            raise UsageError(f"{what} {files.ref}: weight {first} has a shape that does not match config.json",
                             "save config and weights together with save_pretrained")
    missing = [k for k in info.get("missing_keys", ()) if "position_ids" not in k]
    if require_head and missing:
        head = [k for k in missing if not k.startswith(getattr(model, "base_model_prefix", "") + ".")]
        if head:
            raise UsageError(f"{what} {files.ref} has no trained classification head (missing {sorted(head)[0]})",
                             "pass the fine-tuned checkpoint, or use --fine-tune with this model as --base")
        raise UsageError(f"{what} {files.ref} is missing weights ({sorted(missing)[0]})",
                         "save the complete model with save_pretrained")
    model.eval()
    return model


def _load_error(exc: BaseException, what: str, ref: str) -> UsageError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "ignore_mismatched_sizes" in text or "size mismatch" in text:
        return UsageError(f"{what} {ref}: the weights have shapes that do not match config.json",
                          "save config and weights together with save_pretrained")
    if "weights_only" in str(exc) or "Unsupported global" in str(exc):
        return UsageError(f"{what} {ref} holds a pickle that needs code to load ({type(exc).__name__}), which "
                          "ftaudit refuses even with --allow-pickle", "convert the checkpoint to safetensors "
                          "where you trust it, and audit that")
    return UsageError(f"{what} {ref} could not be loaded ({type(exc).__name__}: {text[:160]})",
                      "check that the weights are complete and match config.json")


def usable_positions(model: Any, tokenizer: Any) -> int | None:
    """Tokens per example the model can take: its position embeddings (RoBERTa-style models reserve two)."""
    config = model.config
    positions = getattr(config, "max_position_embeddings", None)
    if not isinstance(positions, int) or positions <= 0:
        return None
    positions -= architecture_of(model).position_offset  # RoBERTa's position ids start after padding_idx
    declared = getattr(tokenizer, "model_max_length", None)
    if isinstance(declared, int) and 0 < declared < positions:
        positions = declared
    return positions


def check_vocab(model: Any, tokenizer: Any, ref: str) -> None:
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        raise UsageError(f"the tokenizer of {ref} has {len(tokenizer)} tokens but the model's embeddings have "
                         f"{rows} rows", "use the tokenizer the model was trained with")


# --------------------------------------------------------------------------- base weights


_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
              "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


_ST_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
MAX_HEADER = 100 << 20  # the safetensors format's own limit on the JSON header


class DamagedWeights(ValueError):
    """A .safetensors file whose header does not describe its bytes (truncated, overlapping, unknown dtype)."""


def safetensors_header(file: Path) -> dict[str, Any]:
    """The validated JSON header of a .safetensors file: key -> {dtype, shape, data_offsets, start}.

    `start` is the tensor's byte offset in the file. Raises DamagedWeights unless every tensor has a known dtype,
    a shape of non-negative integers whose byte size is its offsets' span, and the spans tile the data exactly
    (no gaps, no overlaps, nothing past the end of the file), as the safetensors format requires.
    """
    size_on_disk = file.stat().st_size
    with open(file, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise DamagedWeights("shorter than the 8-byte header length")
        size = int.from_bytes(prefix, "little")
        if size > MAX_HEADER or 8 + size > size_on_disk:
            raise DamagedWeights(f"its header claims {size} bytes, the file has {size_on_disk}")
        raw = f.read(size)
    try:
        header = parse_json(raw.decode("utf-8"), "the header", "", max_depth=4)
    except (UnicodeDecodeError, UsageError):
        raise DamagedWeights("its header is not valid JSON") from None
    if not isinstance(header, dict):
        raise DamagedWeights("its header is not a JSON object")
    header.pop("__metadata__", None)
    data_size = size_on_disk - 8 - size
    spans = []
    for key, entry in header.items():
        if not isinstance(entry, dict) or entry.get("dtype") not in _ST_SIZES:
            raise DamagedWeights(f"tensor {key[:80]!r} has no known dtype")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                  for d in shape):
            raise DamagedWeights(f"tensor {key[:80]!r} has an invalid shape")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_size):
            raise DamagedWeights(f"tensor {key[:80]!r} lies outside the file (truncated?)")
        if offsets[1] - offsets[0] != math.prod(shape) * _ST_SIZES[entry["dtype"]]:
            raise DamagedWeights(f"tensor {key[:80]!r} has offsets that do not match its shape and dtype")
        spans.append((offsets[0], offsets[1], key))
        entry["start"] = 8 + size + offsets[0]
    end = 0
    for start, stop, key in sorted(spans):
        if start != end:
            raise DamagedWeights(f"tensor {key[:80]!r} overlaps another or leaves a gap")
        end = stop
    if end != data_size:
        raise DamagedWeights(f"its tensors cover {end} of its {data_size} data bytes")
    return header


def check_base_weights(base: "BaseWeights") -> None:
    """Read every header (safetensors) or the whole weights_only pickle once, so a damaged base exits 2 now,
    naming the file, not half-way through the drift probe."""
    import pickle

    for file in base.files:
        try:
            if base.pickled:
                base._load_pickle(file)
            else:
                safetensors_header(file)
                _library_check(file)
        except DamagedWeights as exc:
            raise UsageError(f"base model weights {file} are damaged ({exc})",
                             "restore the file (re-download or re-save it with save_pretrained)") from None
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, AttributeError,
                ImportError, TypeError, IndexError) as exc:
            error = _load_error(exc, "base model", str(file))
            raise error from None


def _library_check(file: Path) -> None:
    """The safetensors library's own validation of the header (it maps the file; nothing is loaded)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="pt") as f:
            f.keys()
    except SafetensorError as exc:
        raise DamagedWeights(str(exc).splitlines()[0][:120]) from None


@dataclass(frozen=True)
class BaseWeights:
    """The pre-trained weights, read one tensor at a time (safetensors) or from a weights_only pickle.

    Safetensors are read with plain file reads, not mmap, so that only the tensor being compared is resident:
    peak memory stays near one model plus its largest tensor.
    """

    ref: str
    files: tuple[Path, ...]
    pickled: bool = False

    def keys(self) -> list[str]:
        if self.pickled:
            return list(self._pickle_state())
        return [k for file in self.files for k in safetensors_header(file)]

    def _pickle_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for file in self.files:
            state.update(self._load_pickle(file))
        return state

    @staticmethod
    def _load_pickle(file: Path) -> dict[str, Any]:
        import torch

        state = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
        if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                  for k, v in state.items()):
            raise ValueError(f"{file} does not hold a state dict of tensors")
        return state

    @contextlib.contextmanager
    def reader(self) -> Iterator["TensorReader"]:
        """A TensorReader over the base: shapes by key, and flat slices read straight from the file."""
        if self.pickled:
            yield TensorReader.from_state(self._pickle_state())
            return
        index = {key: (file, entry) for file in self.files for key, entry in safetensors_header(file).items()}
        with contextlib.ExitStack() as stack:
            handles = {file: stack.enter_context(open(file, "rb")) for file in self.files}
            yield TensorReader(index=index, handles=handles)


class TensorReader:
    """Reads base tensors by key without holding them: `shape(key)`, `read(key, start, count)` (flat slice)."""

    def __init__(self, index: Mapping[str, Any], handles: Mapping[Path, Any] | None = None) -> None:
        self.index = dict(index)
        self.handles = handles or {}
        self.keys = set(self.index)

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "TensorReader":
        return cls({k: (None, v) for k, v in state.items()})

    def shape(self, key: str) -> tuple[int, ...]:
        file, entry = self.index[key]
        return tuple(entry.shape) if file is None else tuple(entry["shape"])

    def read(self, key: str, start: int = 0, count: int | None = None) -> Any:
        import torch

        file, entry = self.index[key]
        if file is None:  # an in-memory tensor from a weights_only pickle
            flat = entry.reshape(-1)
            return flat[start:] if count is None else flat[start:start + count]
        dtype = getattr(torch, _ST_DTYPES[entry["dtype"]])
        total = math.prod(entry["shape"])
        count = total - start if count is None else min(count, total - start)
        out = torch.empty(count, dtype=dtype)
        if count:
            f = self.handles[file]
            f.seek(entry["start"] + start * out.element_size())
            got = f.readinto(memoryview(out.view(torch.uint8).numpy()))
            if got != count * out.element_size():  # the file changed since its header was checked
                raise UsageError(f"base model weights {file} ended early while reading {key}",
                                 "restore the file (re-download or re-save it with save_pretrained)")
        return out


def base_weights(files: ModelFiles) -> BaseWeights:
    if files.safetensors:
        return BaseWeights(ref=files.ref, files=files.safetensors)
    return BaseWeights(ref=files.ref, files=files.pickles, pickled=True)


# --------------------------------------------------------------------------- device


DEVICE_SPEC = re.compile(r"auto|cpu|cuda(?::(\d{1,3}))?|mps")  # where ftaudit can compute


def select_device(spec: str) -> Any:
    """auto, cpu, cuda, cuda:N or mps; anything else torch may accept (meta, xla, ...) is refused."""
    import torch

    match = DEVICE_SPEC.fullmatch(spec)
    if match is None:
        raise UsageError(f"unknown device {spec!r}", "use auto, cpu, cuda, cuda:N or mps")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {spec} was asked for but no CUDA GPU is available", "use --device auto or cpu")
        if match.group(1) is not None and int(match.group(1)) >= torch.cuda.device_count():
            raise UsageError(f"--device {spec}: there are only {torch.cuda.device_count()} CUDA device(s)",
                             "use cuda:0 .. cuda:N-1, or --device auto")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("--device mps was asked for but MPS is not available here", "use --device auto or cpu")
    return device


def autocast(device: Any) -> contextlib.AbstractContextManager:
    """bf16 autocast on GPUs that support it, fp16 on older ones; full precision on CPU."""
    import torch

    if device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=_cuda_autocast_dtype())


def _cuda_autocast_dtype() -> Any:
    import torch

    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def fast_bf16_cpu() -> bool:
    """The CPU multiplies bf16 matrices in hardware and oneDNN may use it: Intel AMX, or AVX512-BF16 (AMD Zen 4 and
    later, Intel Cooper Lake). oneDNN's bf16 check is False under ONEDNN_MAX_CPU_ISA=AVX2, so that setting gives fp32.

    Measured (MiniLM, 2 cores): AMX made the demo's attribution 1.8x faster; AVX512-BF16 on an AMD EPYC made
    attribution on 600 reviews 1.6x faster (17.5 s vs 27.7 s), with the same candidates and scores to 3 digits.
    """
    import torch

    hardware = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return bool(any(f is not None and f() for f in hardware) and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_precision(choice: str, device: Any) -> str:
    """The precision integrated gradients runs in: 'fp32', 'bf16', or on CUDA the dtype `autocast` uses.

    'auto' is bf16 where it was measured faster: a CPU with AMX or AVX512-BF16 (1.6x). Elsewhere it is fp32: bf16
    emulated in software is slower, and on an H100 MiniLM's passes took as long in fp32 as under bf16 autocast once warm
    (0.42 s vs 0.44 s for 200 examples) while bf16's first passes in a process cost seconds of kernel warm-up.
    """
    import torch

    if choice == "fp32" or (choice == "auto" and device.type == "cuda"):
        return "fp32"
    if device.type == "cuda":
        return "bf16" if _cuda_autocast_dtype() is torch.bfloat16 else "fp16"
    if choice == "bf16" or fast_bf16_cpu():
        return "bf16"
    return "fp32"


def describe_device(device: Any) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
