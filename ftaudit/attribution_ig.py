"""Batched integrated gradients on the word embeddings (Captum), subword-to-word merging, and deletion passes.

IG attributes F(x) = log p(target | x), the target class's log-probability, over the straight path from a
baseline x' (every token PAD except [CLS]/[SEP] and other special tokens, same attention mask) to x.
Completeness (Sundararajan et al. 2017): sum_i a_i = F(x) − F(x'). The relative error of an example is
|sum_i a_i − (F(x) − F(x'))| / max(|F(x) − F(x')|, DELTA_FLOOR).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ftaudit.inference import Encodings, length_batches, predict_logits

DELTA_FLOOR = 1e-2  # nats: below this |F(x) − F(x')| the relative error is measured against this floor


@dataclass(frozen=True)
class IGRun:
    """Per item: token attributions (float64 [len(row)]), relative completeness error, steps used, F(x) − F(x')."""

    attributions: tuple[np.ndarray, ...]
    relative_error: np.ndarray  # float64 [items]
    steps: np.ndarray  # int64 [items]
    output_change: np.ndarray  # float64 [items], F(x) − F(x') in nats
    seconds: float


def special_ids(tokenizer: Any) -> frozenset[int]:
    """Ids kept in the baseline and excluded from words: [CLS], [SEP], [PAD], ... but not [UNK]."""
    unk = getattr(tokenizer, "unk_token_id", None)
    return frozenset(int(i) for i in getattr(tokenizer, "all_special_ids", ()) if i != unk)


def baseline_ids(ids: Sequence[int], keep: frozenset[int], pad_id: int) -> list[int]:
    return [t if t in keep else pad_id for t in ids]


def _forward(model: Any, device: Any) -> Callable[..., Any]:
    import torch

    from ftaudit.modeling import autocast

    def forward(input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
        with autocast(device):
            logits = model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits
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


def integrated_gradients(model: Any, enc: Encodings, rows: np.ndarray, targets: np.ndarray, *, device: Any,
                         pad_id: int, keep: frozenset[int], n_steps: int, max_steps: int, tolerance: float,
                         batch_size: int, max_tokens: int, progress: Callable[[int], None] | None = None) -> IGRun:
    """IG for each item (enc row `rows[k]`, class `targets[k]`), many items per pass, sorted by length.

    Items whose relative completeness error exceeds `tolerance` are redone with twice the steps, up to
    `max_steps`. `max_tokens` caps interpolation rows × padded length per forward pass (memory).
    """
    import time

    from captum.attr import LayerIntegratedGradients

    start = time.perf_counter()
    n = len(rows)
    attributions: list[np.ndarray] = [np.zeros(0)] * n
    error = np.full(n, np.inf)
    steps_used = np.zeros(n, dtype=np.int64)
    change = np.zeros(n)
    if n == 0:
        return IGRun((), error, steps_used, change, 0.0)
    forward = _forward(model, device)
    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    lengths = np.asarray([len(enc.input_ids[r]) for r in rows], dtype=np.int64)
    was_training = model.training
    model.eval()
    with ParameterGradsOff(model):
        try:
            endpoints = _endpoint_change(forward, enc, rows, targets, lengths, device, pad_id, keep, batch_size)
            change[:] = endpoints
            pending = np.arange(n)
            steps = n_steps
            while len(pending):
                for chunk in length_batches(lengths[pending], max(1, batch_size)):
                    items = pending[chunk]
                    width = int(lengths[items].max())
                    fit = max(1, max_tokens // width)  # interpolation rows per forward pass
                    for sub in np.array_split(items, int(np.ceil(len(items) / min(len(items), fit)))):
                        _attribute(lig, enc, rows, targets, sub, steps, fit, device, pad_id, keep, change,
                                   attributions, error)
                        steps_used[sub] = steps
                        if progress is not None:
                            progress(len(sub))
                if steps >= max_steps:
                    break
                steps = min(max_steps, steps * 2)
                pending = np.flatnonzero(error > tolerance)
        finally:
            model.train(was_training)
    return IGRun(tuple(attributions), error, steps_used, change, time.perf_counter() - start)


def _inputs(enc: Encodings, rows: np.ndarray, device: Any, pad_id: int, keep: frozenset[int]) -> tuple[Any, ...]:
    ids, mask = _pad([enc.input_ids[r] for r in rows], pad_id)
    base, _ = _pad([baseline_ids(enc.input_ids[r], keep, pad_id) for r in rows], pad_id)
    types = None
    if enc.token_type_ids is not None:
        types, _ = _pad([enc.token_type_ids[r] for r in rows], 0)
        types = types.to(device)
    return ids.to(device), base.to(device), mask.to(device), types


def _endpoint_change(forward: Callable[..., Any], enc: Encodings, rows: np.ndarray, targets: np.ndarray,
                     lengths: np.ndarray, device: Any, pad_id: int, keep: frozenset[int],
                     batch_size: int) -> np.ndarray:
    """F(x) − F(x') per item, from one no-grad pass over inputs and baselines."""
    import torch

    out = np.zeros(len(rows))
    with torch.inference_mode():
        for index in length_batches(lengths, max(1, batch_size) * 4):
            ids, base, mask, types = _inputs(enc, rows[index], device, pad_id, keep)
            both = forward(torch.cat([ids, base]), torch.cat([mask, mask]),
                           None if types is None else torch.cat([types, types]))
            t = torch.as_tensor(targets[index], device=both.device)
            k = len(index)
            out[index] = (both[:k].gather(1, t[:, None]) - both[k:].gather(1, t[:, None]))[:, 0].double().cpu().numpy()
    return out


def _attribute(lig: Any, enc: Encodings, rows: np.ndarray, targets: np.ndarray, items: np.ndarray, steps: int,
               rows_per_pass: int, device: Any, pad_id: int, keep: frozenset[int], change: np.ndarray,
               attributions: list[np.ndarray], error: np.ndarray) -> None:
    import torch

    ids, base, mask, types = _inputs(enc, rows[items], device, pad_id, keep)
    extra = (mask,) if types is None else (mask, types)
    internal = max(len(items), (rows_per_pass // len(items)) * len(items))
    attr = lig.attribute(ids, baselines=base, target=torch.as_tensor(targets[items], device=device),
                         additional_forward_args=extra, n_steps=steps, internal_batch_size=internal)
    per_token = attr.float().sum(dim=-1).double().cpu().numpy()
    for k, item in enumerate(items):
        a = per_token[k, : len(enc.input_ids[rows[item]])]
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
