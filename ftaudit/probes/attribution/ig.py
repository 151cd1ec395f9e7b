"""Batched integrated gradients on the word embeddings (Captum), subword-to-word merging, and deletion passes.

IG attributes F(x) = log p(target | x), the target class's log-probability, over the straight path from a
baseline x' (every token PAD except [CLS]/[SEP] and other special tokens, same attention mask) to x, in the
word embeddings (or where `architectures` says: DeBERTa and ModernBERT at their embedding block's output).
Both ends and the path get the position ids that the model makes for x (RoBERTa counts them over non-PAD tokens,
so without them F(x') would see other positions than the path does).
Completeness (Sundararajan et al. 2017): sum_i a_i = F(x) − F(x'). The relative error of an example is
|sum_i a_i − (F(x) − F(x'))| / max(|F(x) − F(x')|, DELTA_FLOOR).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ftaudit.architectures import architecture_of
from ftaudit.inference import Encodings, length_batches, predict_logits

DELTA_FLOOR = 1e-2  # nats: below this |F(x) − F(x')| the relative error is measured against this floor


STALL = 0.5  # a bf16 item whose error does not halve when its steps double is limited by rounding, not quadrature
# nats: a reduced-precision item whose |F(x) − F(x')| is below this is attributed in fp32 from the start. bf16
# rounding alone misses the 5% completeness there: on a collapsed 9-class MiniLM 19 of 23 such items missed at 16
# steps in bf16 (none in fp32), against 8 of 39 above it; doubling their steps first only delayed the fp32 redo.
REDUCED_MIN_DELTA = 0.03


@dataclass(frozen=True)
class IGRun:
    """Per item: token attributions (float64 [len(row)]), relative completeness error, steps used, F(x) − F(x')."""

    attributions: tuple[np.ndarray, ...]
    relative_error: np.ndarray  # float64 [items]
    steps: np.ndarray  # int64 [items]
    output_change: np.ndarray  # float64 [items], F(x) − F(x') in nats
    seconds: float
    initial_error: np.ndarray  # float64 [items], relative error at the first step count
    precision: str  # what the passes ran in: "fp32", "bf16" or (CUDA autocast) "fp16"
    fp32_redone: np.ndarray  # bool [items]: a bf16 item that was redone in fp32 (its error had stalled)


def special_ids(tokenizer: Any) -> frozenset[int]:
    """Ids kept in the baseline and excluded from words: [CLS], [SEP], [PAD], ... but not [UNK]."""
    unk = getattr(tokenizer, "unk_token_id", None)
    return frozenset(int(i) for i in getattr(tokenizer, "all_special_ids", ()) if i != unk)


def baseline_ids(ids: Sequence[int], keep: frozenset[int], pad_id: int) -> list[int]:
    return [t if t in keep else pad_id for t in ids]


def model_forward(model: Any, device: Any, *, mixed: bool, math_attention: bool = False) -> Callable[..., Any]:
    """F as a function of token ids: log-softmax over classes, in fp32 whatever the model computes in."""
    import contextlib

    import torch

    from ftaudit.modeling import autocast

    def forward(input_ids: Any, attention_mask: Any, token_type_ids: Any = None, position_ids: Any = None) -> Any:
        with contextlib.ExitStack() as stack:
            if mixed:
                stack.enter_context(autocast(device))
            if math_attention:  # for a bf16 copy left on SDPA: the CPU's fused bf16 backward is ~10x slower
                from torch.nn.attention import SDPBackend, sdpa_kernel

                stack.enter_context(sdpa_kernel(SDPBackend.MATH))
            if position_ids is None:  # an architecture that makes its own (the table's generic row)
                out = model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            else:
                out = model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                            position_ids=position_ids)
            logits = out.logits
        return torch.log_softmax(logits.float(), dim=-1)

    return forward


def _pad(rows: Sequence[Sequence[int]], pad: int) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, r in enumerate(rows):
        ids[k, : len(r)] = torch.as_tensor(list(r), dtype=torch.long)
        mask[k, : len(r)] = 1
    return ids, mask


class ParameterGradsOff:
    """Context manager: requires_grad False on every parameter (only input gradients are needed); restored after."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.saved: list[tuple[Any, bool]] = []

    def __enter__(self) -> "ParameterGradsOff":
        self.saved = [(p, p.requires_grad) for p in self.model.parameters()]
        for p, _ in self.saved:
            p.requires_grad_(False)
        return self

    def __exit__(self, *exc: object) -> None:
        for p, flag in self.saved:
            p.requires_grad_(flag)


class _Pass:
    """One model at one precision: its forward, Captum's LayerIntegratedGradients on it, and F(x) − F(x') per item."""

    def __init__(self, model: Any, device: Any, n: int, *, mixed: bool, math_attention: bool = False) -> None:
        from captum.attr import LayerIntegratedGradients

        self.forward = model_forward(model, device, mixed=mixed, math_attention=math_attention)
        self.lig = LayerIntegratedGradients(self.forward, architecture_of(model).attribution_module(model))
        self.change = np.full(n, np.nan)

    def changes(self, items: np.ndarray,
                endpoints: Callable[[Callable[..., Any], np.ndarray], np.ndarray]) -> np.ndarray:
        todo = items[np.isnan(self.change[items])]
        if len(todo):
            self.change[todo] = endpoints(self.forward, todo)
        return self.change


def uses_bf16_copy(precision: str, device: Any) -> bool:
    """bf16 on a CPU runs a bf16 copy of the model; on CUDA reduced precision is autocast on the model itself."""
    return precision == "bf16" and device.type == "cpu"


def bf16_copy(model: Any) -> Any:
    """A bf16 copy of the model, in eval mode and without parameter gradients, with eager attention.

    On a CPU the fused SDPA kernel's bf16 backward is ~10x slower than plain matmuls, and SDPA's plain (MATH)
    kernel spends a tenth of an integrated-gradients pass on its fully-masked-row check (`_safe_softmax`'s
    isneginf/all/where); transformers' eager attention (matmul, softmax, matmul) does neither. A model that cannot
    switch keeps SDPA, which `model_forward` then restricts to the MATH kernel.
    """
    import copy

    import torch

    twin = copy.deepcopy(model).to(torch.bfloat16).eval()
    for p in twin.parameters():
        p.requires_grad_(False)
    try:
        twin.set_attn_implementation("eager")
    except (AttributeError, ValueError, ImportError):
        pass
    return twin


def integrated_gradients(model: Any, enc: Encodings, rows: np.ndarray, targets: np.ndarray, *, device: Any,
                         pad_id: int, keep: frozenset[int], n_steps: int, max_steps: int, tolerance: float,
                         batch_size: int, max_tokens: int, precision: str = "fp32", half: Any = None,
                         progress: Callable[[int], None] | None = None) -> IGRun:
    """IG for each item (enc row `rows[k]`, class `targets[k]`), many items per pass, sorted by length.

    Items whose relative completeness error exceeds `tolerance` are redone with twice the steps, up to
    `max_steps`. `max_tokens` caps interpolation rows × padded length per forward pass (memory).
    `precision` comes from `modeling.resolve_precision`. "bf16" on a CPU runs a bf16 copy of the model; a missing
    item is redone in fp32 at the same steps when doubling its steps did not halve its error (Gauss-Legendre error
    falls far faster than that, so what is left is bf16 rounding) or when it is at `max_steps`: bf16 is never the
    reason an item misses. An item whose |F(x) − F(x')| in the reduced-precision pass is under `REDUCED_MIN_DELTA`
    runs in fp32 from the start (and counts as redone). On CUDA, "bf16"/"fp16" is the model under autocast, with the
    same fall-back to fp32 (without it, items whose error sat on the rounding floor doubled their steps to `max_steps`).
    Each item's completeness is checked against F(x) − F(x') of the pass it was attributed in. `half` is the bf16
    copy to use (`bf16_copy(model)`); one is made when it is needed and not given.
    """
    import time

    start = time.perf_counter()
    n = len(rows)
    attributions: list[np.ndarray] = [np.zeros(0)] * n
    error = np.full(n, np.inf)
    steps_used = np.zeros(n, dtype=np.int64)
    change = np.zeros(n)
    redone = np.zeros(n, dtype=bool)
    if n == 0:
        return IGRun((), error, steps_used, change, 0.0, error.copy(), precision, redone)
    lengths = np.asarray([len(enc.input_ids[r]) for r in rows], dtype=np.int64)
    arch = architecture_of(model)
    batches = TokenBatches(enc, device, pad_id, keep, lambda ids: arch.position_ids(ids, model.config))

    def endpoints(forward: Callable[..., Any], items: np.ndarray) -> np.ndarray:
        return _endpoint_change(forward, batches, rows[items], targets[items], lengths[items], batch_size)

    was_training = model.training
    model.eval()
    with ParameterGradsOff(model):
        try:
            passes = {"fp32": _Pass(model, device, n, mixed=False)}
            first = "fp32"
            if uses_bf16_copy(precision, device):
                passes["bf16"] = _Pass(half if half is not None else bf16_copy(model), device, n, mixed=False,
                                       math_attention=True)
                first = "bf16"
            elif precision != "fp32":  # CUDA: the model itself under autocast
                passes[precision] = _Pass(model, device, n, mixed=True)
                first = precision
            plan: dict[tuple[int, str], np.ndarray] = {(n_steps, first): np.arange(n)}
            if first != "fp32":
                small = np.abs(passes[first].changes(np.arange(n), endpoints)) < REDUCED_MIN_DELTA
                plan = {key: items for key, items in (((n_steps, first), np.flatnonzero(~small)),
                                                      ((n_steps, "fp32"), np.flatnonzero(small))) if len(items)}
            initial = None
            while plan:
                later: dict[tuple[int, str], list[int]] = {}
                for (steps, name), pending in sorted(plan.items()):
                    p = passes[name]
                    previous = error[pending].copy()
                    p_change = p.changes(pending, endpoints)
                    for chunk in length_batches(lengths[pending], max(1, batch_size)):
                        items = pending[chunk]
                        width = int(lengths[items].max())
                        fit = max(1, max_tokens // width)  # interpolation rows per forward pass
                        for sub in np.array_split(items, int(np.ceil(len(items) / min(len(items), fit)))):
                            _attribute(p.lig, batches, rows, targets, sub, steps, fit, p_change, attributions,
                                       error)
                            steps_used[sub], change[sub], redone[sub] = steps, p_change[sub], name != first
                            if progress is not None:
                                progress(len(sub))
                    for item, before in zip(pending, previous):
                        if error[item] <= tolerance:
                            continue
                        stalled = np.isfinite(before) and error[item] > STALL * before
                        if name != "fp32" and (stalled or steps >= max_steps):
                            later.setdefault((steps, "fp32"), []).append(int(item))
                        elif steps < max_steps:
                            later.setdefault((min(2 * steps, max_steps), name), []).append(int(item))
                if initial is None:
                    initial = error.copy()
                plan = {key: np.asarray(items, dtype=np.int64) for key, items in later.items()}
        finally:
            model.train(was_training)
    return IGRun(tuple(attributions), error, steps_used, change, time.perf_counter() - start,
                 initial if initial is not None else error.copy(), precision, redone)


@dataclass(frozen=True)
class TokenBatches:
    """Padded input, baseline, mask, token types and position ids of some rows of `enc`, on `device`."""

    enc: Encodings
    device: Any
    pad_id: int
    keep: frozenset[int]
    positions: Callable[[Any], Any]  # padded input ids -> the position ids the model makes for them, or None

    def __call__(self, rows: np.ndarray) -> tuple[Any, ...]:
        enc = self.enc
        ids, mask = _pad([enc.input_ids[r] for r in rows], self.pad_id)
        base, _ = _pad([baseline_ids(enc.input_ids[r], self.keep, self.pad_id) for r in rows], self.pad_id)
        types = None
        if enc.token_type_ids is not None:
            types, _ = _pad([enc.token_type_ids[r] for r in rows], 0)
            types = types.to(self.device)
        positions = self.positions(ids)  # from x, for x' as well: the same positions at both ends of the path
        if positions is not None:
            positions = positions.to(self.device)
        return ids.to(self.device), base.to(self.device), mask.to(self.device), types, positions


def _endpoint_change(forward: Callable[..., Any], batches: TokenBatches, rows: np.ndarray, targets: np.ndarray,
                     lengths: np.ndarray, batch_size: int) -> np.ndarray:
    """F(x) − F(x') per item, from one no-grad pass over inputs and baselines."""
    import torch

    def twice(t: Any) -> Any:
        return None if t is None else torch.cat([t, t])

    out = np.zeros(len(rows))
    with torch.inference_mode():
        for index in length_batches(lengths, max(1, batch_size) * 4):
            ids, base, mask, types, positions = batches(rows[index])
            both = forward(torch.cat([ids, base]), twice(mask), twice(types), twice(positions))
            t = torch.as_tensor(targets[index], device=both.device)
            k = len(index)
            out[index] = (both[:k].gather(1, t[:, None]) - both[k:].gather(1, t[:, None]))[:, 0].double().cpu().numpy()
    return out


def _attribute(lig: Any, batches: TokenBatches, rows: np.ndarray, targets: np.ndarray, items: np.ndarray, steps: int,
               rows_per_pass: int, change: np.ndarray, attributions: list[np.ndarray], error: np.ndarray) -> None:
    import torch

    ids, base, mask, types, positions = batches(rows[items])
    extra = (mask, types, positions)
    internal = max(len(items), (rows_per_pass // len(items)) * len(items))
    attr = lig.attribute(ids, baselines=base, target=torch.as_tensor(targets[items], device=batches.device),
                         additional_forward_args=extra, n_steps=steps, internal_batch_size=internal)
    per_token = attr.float().sum(dim=-1).double().cpu().numpy()
    for k, item in enumerate(items):
        a = per_token[k, : len(batches.enc.input_ids[rows[item]])]
        attributions[item] = a
        error[item] = abs(a.sum() - change[item]) / max(abs(change[item]), DELTA_FLOOR)


# --------------------------------------------------------------------------- words


def continuation_table(tokenizer: Any) -> np.ndarray:
    """bool per vocabulary id: the piece continues the previous word (WordPiece '##', SentencePiece/BPE markers)."""
    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    tokens = [t or "" for t in vocab]
    if any(t.startswith("##") for t in tokens):
        return np.fromiter((t.startswith("##") for t in tokens), dtype=bool, count=len(tokens))
    for marker in ("\u2581", "\u0120"):  # SentencePiece '▁', byte-level BPE 'Ġ' mark a word start
        if sum(t.startswith(marker) for t in tokens) > len(tokens) // 10:
            return np.fromiter((not t.startswith(marker) and t.isalnum() for t in tokens), dtype=bool,
                               count=len(tokens))
    return np.zeros(len(tokens), dtype=bool)


def word_spans(ids: Sequence[int], cont: np.ndarray, skip: frozenset[int]) -> list[tuple[int, int]]:
    """(start, end) token positions of each word; special tokens belong to no word."""
    spans: list[tuple[int, int]] = []
    for pos, t in enumerate(ids):
        if t in skip:
            continue
        if spans and spans[-1][1] == pos and t < len(cont) and cont[t]:
            spans[-1] = (spans[-1][0], pos + 1)
        else:
            spans.append((pos, pos + 1))
    return spans


def word_keys(ids: Sequence[int], spans: Sequence[tuple[int, int]]) -> list[tuple[int, ...]]:
    return [tuple(ids[s:e]) for s, e in spans]


def render_word(tokenizer: Any, key: tuple[int, ...]) -> str:
    return tokenizer.convert_tokens_to_string(tokenizer.convert_ids_to_tokens(list(key))).strip()


# --------------------------------------------------------------------------- deletion


def delete_positions(enc: Encodings, rows: Sequence[int], drop: Sequence[set[int]]) -> Encodings:
    """A copy of enc's `rows` with the token positions in `drop[k]` removed from row k."""
    ids = tuple(tuple(t for p, t in enumerate(enc.input_ids[r]) if p not in d) for r, d in zip(rows, drop))
    types = None
    if enc.token_type_ids is not None:
        types = tuple(tuple(t for p, t in enumerate(enc.token_type_ids[r]) if p not in d) for r, d in zip(rows, drop))
    return Encodings(input_ids=ids, token_type_ids=types, full_lengths=np.asarray([len(x) for x in ids]),
                     max_length=enc.max_length)


def class_probs(model: Any, enc: Encodings, *, device: Any, batch_size: int, pad_id: int) -> np.ndarray:
    """Softmax probabilities [n, C] of the model on (edited) encodings."""
    from ftaudit.inference import softmax

    if len(enc) == 0:
        return np.zeros((0, model.config.num_labels))
    return softmax(predict_logits(model, enc, device=device, batch_size=batch_size, pad_id=pad_id).astype(np.float64))
