"""LoRA adapters through peft: find and check an adapter folder, put it on its base, wrap a model for --lora, and
read each adapted module's low-rank factors (B, A, scaling) for the adapter probe.

An adapted module computes W₀x + s·B·A·x with B [out, r], A [r, in] and s = alpha / r (alpha / √r with rsLoRA):
its update is ΔW = s·B·A.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ftaudit.architectures import architecture_of
from ftaudit.errors import UsageError
from ftaudit.jsonfile import Fields, check_readable, read_json

ADAPTER_CONFIG = "adapter_config.json"
SAFE_ADAPTER = "adapter_model.safetensors"
PICKLE_ADAPTER = "adapter_model.bin"
ADAPTER_FIX = "pass the folder that peft's save_pretrained wrote (adapter_config.json + adapter_model.safetensors)"
PEFT_FIX = "pip install 'ftaudit[peft]'"
_PEFT_PREFIX = "base_model.model."
HEAD_KEYS = ("classifier.weight", "classifier.out_proj.weight", "score.weight")  # a sequence classifier's last layer


def is_adapter_folder(ref: str | None) -> bool:
    """A local folder with adapter_config.json and no config.json of its own: a peft adapter, not a whole model."""
    if not ref:
        return False
    path = Path(ref).expanduser()
    return (path / ADAPTER_CONFIG).is_file() and not (path / "config.json").is_file()


@contextlib.contextmanager
def _quiet_peft() -> Any:
    """peft asks transformers 5 `is_gradient_checkpointing`, which warns that it is renamed: not the user's concern."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def require_peft() -> Any:
    try:
        import peft
    except ImportError:
        raise UsageError("LoRA adapters need the peft package, which is not installed", PEFT_FIX) from None
    return peft


@dataclass(frozen=True)
class AdapterFiles:
    """A checked adapter folder: its weights file and the base that adapter_config.json records."""

    ref: str
    folder: Path
    weights: Path
    base: str | None  # base_model_name_or_path


def locate_adapter(ref: str, *, allow_pickle: bool) -> AdapterFiles:
    """Check an adapter folder: a LoRA adapter_config.json and safetensors weights (a .bin only with allow_pickle)."""
    folder = Path(ref).expanduser()
    path = folder / ADAPTER_CONFIG
    fields = Fields(read_json(path, "adapter config", fix=ADAPTER_FIX), path, fix=ADAPTER_FIX)
    peft_type = fields.get_str("peft_type", "LORA")
    if peft_type != "LORA":
        raise UsageError(f"{path}: peft_type is {peft_type}; ftaudit audits LoRA adapters",
                         "merge the adapter into its base (merge_and_unload, save_pretrained) and audit that folder")
    targets = fields.raw("target_modules")
    if isinstance(targets, str):
        targets = [targets]
    if targets is not None and not (isinstance(targets, list) and all(isinstance(t, str) for t in targets)):
        raise UsageError(f"{path}: field target_modules must be a string or a list of strings", ADAPTER_FIX)
    safe, pickle = folder / SAFE_ADAPTER, folder / PICKLE_ADAPTER
    if safe.is_file():
        weights = safe
    elif pickle.is_file():
        if not allow_pickle:
            raise UsageError(f"adapter folder {folder} has only pickle weights ({PICKLE_ADAPTER}), which can run code",
                             "re-save the adapter with safe_serialization=True, or pass --allow-pickle if you trust "
                             "the file")
        weights = pickle
    else:
        raise UsageError(f"adapter folder {folder} has no {SAFE_ADAPTER}", ADAPTER_FIX)
    check_readable(weights)
    fields.get_int("r", minimum=1)  # the rank and alpha are read from peft's config once loaded; checked here
    fields.get_float("lora_alpha")
    return AdapterFiles(ref=ref, folder=folder, weights=weights, base=fields.get_str("base_model_name_or_path") or None)


def adapter_base(files: AdapterFiles, base_flag: str | None) -> str:
    """The base to load the adapter onto: --base, else the recorded base when it is a local folder.

    A local adapter never makes ftaudit reach the network: a recorded hub id must be passed as --base.
    """
    if base_flag:
        return base_flag
    if files.base and Path(files.base).expanduser().is_dir():
        return files.base
    if files.base:
        raise UsageError(f"the adapter in {files.folder} was trained on {files.base!r}, which is not a local folder "
                         "here, and ftaudit does not download a base it was not asked for",
                         f"pass --base {files.base} (a hub id or a local copy of it)")
    raise UsageError(f"the adapter in {files.folder} does not record its base model",
                     "pass --base PATH|ID: the model the adapter was trained on")


def head_classes(files: AdapterFiles) -> int | None:
    """Number of classes of the classification head the adapter saved (modules_to_save), from the weights' shapes."""
    from ftaudit.modeling import DamagedWeights, safetensors_header

    try:
        if files.weights.suffix == ".safetensors":
            shapes = {key: entry["shape"] for key, entry in safetensors_header(files.weights).items()}
        else:  # a pickle, allowed by --allow-pickle: tensors only (weights_only)
            import torch

            state = torch.load(files.weights, map_location="cpu", weights_only=True)
            shapes = {key: list(value.shape) for key, value in state.items() if isinstance(value, torch.Tensor)}
    except DamagedWeights as exc:
        raise UsageError(f"adapter weights {files.weights} are damaged ({exc})",
                         "restore the file (re-save the adapter with save_pretrained)") from None
    except Exception as exc:  # a pickle that is not a state dict of tensors, or needs code to load
        raise UsageError(f"adapter weights {files.weights} could not be read ({type(exc).__name__})",
                         "re-save the adapter with save_pretrained(safe_serialization=True)") from None
    rows = [shape[0] for key, shape in shapes.items() if key.endswith(HEAD_KEYS) and len(shape) == 2]
    return rows[-1] if rows else None


def apply_adapter(model: Any, files: AdapterFiles) -> Any:
    """`model` (the base, with a head of the right size) with the adapter loaded: a peft PeftModel in eval mode."""
    require_peft()
    from peft import PeftModel

    try:
        with _quiet_peft():
            peft_model = PeftModel.from_pretrained(model, str(files.folder), is_trainable=False,
                                                   use_safetensors=files.weights.suffix == ".safetensors")
    except Exception as exc:  # peft raises ValueError/KeyError/RuntimeError for an adapter of another model
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"the adapter in {files.folder} does not fit its base ({type(exc).__name__}: {text[:160]})",
                         "pass the --base the adapter was trained on") from None
    peft_model.eval()
    return peft_model


# --------------------------------------------------------------------------- --lora


@dataclass(frozen=True)
class LoraSpec:
    """What --lora R trains: rank, alpha, dropout, and the module names to adapt (empty: the architecture's)."""

    rank: int
    alpha: float
    dropout: float
    target_modules: tuple[str, ...] = ()


def lora_spec(train_cfg: Any) -> LoraSpec | None:
    """The LoRA recipe of a TrainConfig, or None for a full fine-tune."""
    if not train_cfg.lora:
        return None
    return LoraSpec(rank=train_cfg.lora, alpha=train_cfg.lora_alpha, dropout=train_cfg.lora_dropout,
                    target_modules=tuple(train_cfg.lora_target_modules))


def wrap_lora(model: Any, spec: LoraSpec, new_modules: tuple[str, ...]) -> Any:
    """`model` wrapped by peft with a LoRA adapter; `new_modules` (the freshly initialised head) train in full."""
    require_peft()
    from peft import LoraConfig, TaskType, get_peft_model

    targets = spec.target_modules or architecture_of(model).lora_targets
    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=spec.rank, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                        target_modules=list(targets) if targets else None, modules_to_save=list(new_modules) or None)
    try:
        with _quiet_peft():
            return get_peft_model(model, config)
    except ValueError as exc:
        text = (str(exc).strip().splitlines() or [""])[0]
        raise UsageError(f"--lora cannot adapt this {type(model).__name__} ({text[:160]})",
                         "pass --lora-target-modules with the names of its linear layers, e.g. query,value") from None


# --------------------------------------------------------------------------- reading an adapter


@dataclass(frozen=True)
class LoraFactors:
    """One adapted module: ΔW = scaling · B @ A, next to the frozen weight's Frobenius norm."""

    module: str  # dotted name in the plain model, e.g. "bert.encoder.layer.0.attention.self.query"
    a: Any  # torch float32 [r, in]
    b: Any  # torch float32 [out, r]
    scaling: float
    base_norm: float  # ||W₀||_F


@dataclass(frozen=True)
class AdapterWeights:
    """What the adapter probe reads: the recipe and every adapted module's factors (taken before merging)."""

    source: str  # the adapter folder, or "--lora" for one ftaudit trained
    rank: int
    alpha: float
    use_rslora: bool
    use_dora: bool
    target_modules: tuple[str, ...]
    modules_to_save: tuple[str, ...]
    modules: tuple[LoraFactors, ...]


def plain_name(name: str) -> str:
    """A parameter or module name of a PeftModel as the plain model names it."""
    name = name[len(_PEFT_PREFIX):] if name.startswith(_PEFT_PREFIX) else name
    for part in (".base_layer", ".modules_to_save.default", ".original_module"):
        name = name.replace(part, "")
    return name


def read_adapter(peft_model: Any, source: str) -> AdapterWeights:
    """Every LoRA module's factors of the active adapter, as float32 CPU tensors."""
    import torch
    from peft.tuners.lora import LoraLayer

    name = peft_model.active_adapter
    config = peft_model.peft_config[name]
    modules = []
    with torch.no_grad():
        for module_name, module in peft_model.named_modules():
            if not isinstance(module, LoraLayer) or name not in module.lora_A:
                continue
            if not isinstance(module.lora_A[name], torch.nn.Linear):
                continue  # embedding and convolution adapters: not used on encoders' attention
            a = module.lora_A[name].weight.detach().float().cpu()
            b = module.lora_B[name].weight.detach().float().cpu()
            if getattr(module, "fan_in_fan_out", False):
                a, b = b.T.contiguous(), a.T.contiguous()
            base = module.get_base_layer().weight
            modules.append(LoraFactors(module=plain_name(module_name), a=a, b=b,
                                       scaling=float(module.scaling[name]),
                                       base_norm=float(torch.linalg.vector_norm(base.detach().float()))))
    targets = config.target_modules
    targets = (targets,) if isinstance(targets, str) else tuple(sorted(targets or ()))
    return AdapterWeights(source=source, rank=int(config.r), alpha=float(config.lora_alpha),
                          use_rslora=bool(config.use_rslora), use_dora=bool(getattr(config, "use_dora", False)),
                          target_modules=targets, modules_to_save=tuple(config.modules_to_save or ()),
                          modules=tuple(modules))


def merged(peft_model: Any) -> Any:
    """The plain transformers model with the adapter folded into its weights (W₀ + ΔW), in eval mode."""
    model = peft_model.merge_and_unload()
    model.eval()
    return model


# --------------------------------------------------------------------------- auditing an adapter folder


def load_adapter_model(config: Any, raw: Mapping[str, Any], notes: list[str], names: tuple[str, ...] | None
                       ) -> tuple[Path, Any, Any, AdapterWeights]:
    """(adapter folder, the base with the adapter merged in, the base's ModelFiles, the adapter's factors).

    `names`: the class names of the training record saved next to the adapter (fine-tune mode, the Trainer
    callback); without them, train's labels in sorted order (a note says so). Their number must match the saved head.
    """
    from ftaudit import modeling
    from ftaudit.data import resolve_labels

    m = config.model
    files = locate_adapter(m.model, allow_pickle=m.allow_pickle)
    base_files = modeling.locate(adapter_base(files, m.base), "base model", allow_pickle=m.allow_pickle)
    modeling.check_base_weights(modeling.base_weights(base_files))
    classes = head_classes(files)
    if classes is None:
        raise UsageError(f"the adapter in {files.folder} saved no classification head",
                         "train it with task_type=SEQ_CLS (peft saves the head in modules_to_save), or merge it and "
                         "audit the merged model")
    if not names:
        names = resolve_labels(raw["train"], [s for n, s in raw.items() if n != "train"], None).names
        notes.append(f"the adapter folder records no class names; its {classes} outputs were taken to be train's "
                     f"labels in sorted order ({', '.join(names[:10])})")
    if len(names) != classes:
        raise UsageError(f"the adapter's head has {classes} outputs but there are {len(names)} classes "
                         f"({', '.join(names[:10])})", "audit it on data with the classes it was trained on")
    base = modeling.load_classifier(base_files, what="base model", trust_remote_code=m.trust_remote_code,
                                    allow_pickle=m.allow_pickle, id2label=dict(enumerate(names)), require_head=False)
    peft_model = apply_adapter(base, files)
    weights = read_adapter(peft_model, str(files.folder))
    notes.append(f"a LoRA adapter (r = {weights.rank}) on {base_files.ref}: the audit is of the base with the adapter "
                 "merged in")
    return files.folder, merged(peft_model), base_files, weights
