"""Tokenize once, predict in length-sorted, dynamically padded batches: the shared prediction pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np


@dataclass(frozen=True)
class Encodings:
    """Token ids of one split, truncated to max_length; `full_lengths` counts tokens before truncation."""

    input_ids: tuple[tuple[int, ...], ...]
    token_type_ids: tuple[tuple[int, ...], ...] | None
    full_lengths: np.ndarray  # int64 [n], with special tokens, before truncation
    max_length: int

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64, count=len(self.input_ids))

    def __len__(self) -> int:
        return len(self.input_ids)

    def subset(self, index: Sequence[int] | np.ndarray) -> "Encodings":
        """The rows `index`, without tokenizing again."""
        idx = np.asarray(index, dtype=np.int64)
        types = None if self.token_type_ids is None else tuple(self.token_type_ids[i] for i in idx)
        return Encodings(input_ids=tuple(self.input_ids[i] for i in idx), token_type_ids=types,
                         full_lengths=self.full_lengths[idx], max_length=self.max_length)


def encode(tokenizer: Any, texts: Sequence[str], pairs: Sequence[str] | None, max_length: int,
           chunk: int = 4096) -> Encodings:
    """Tokenize without padding. One untruncated pass gives the true lengths; only long rows are re-encoded."""
    ids: list[tuple[int, ...]] = []
    types: list[tuple[int, ...]] | None = [] if _uses_token_types(tokenizer) else None
    full: list[int] = []
    for start in range(0, len(texts), chunk):
        t = list(texts[start:start + chunk])
        p = None if pairs is None else list(pairs[start:start + chunk])
        out = tokenizer(t, p, truncation=False, padding=False, return_attention_mask=False,
                        return_token_type_ids=types is not None, verbose=False)
        long_rows = [i for i, row in enumerate(out["input_ids"]) if len(row) > max_length]
        full.extend(len(row) for row in out["input_ids"])
        if long_rows:
            cut = tokenizer([t[i] for i in long_rows], None if p is None else [p[i] for i in long_rows],
                            truncation=True, max_length=max_length, padding=False, return_attention_mask=False,
                            return_token_type_ids=types is not None, verbose=False)
            for k, i in enumerate(long_rows):
                out["input_ids"][i] = cut["input_ids"][k]
                if types is not None:
                    out["token_type_ids"][i] = cut["token_type_ids"][k]
        ids.extend(tuple(row) for row in out["input_ids"])
        if types is not None:
            types.extend(tuple(row) for row in out["token_type_ids"])
    return Encodings(input_ids=tuple(ids), token_type_ids=None if types is None else tuple(types),
                     full_lengths=np.asarray(full, dtype=np.int64), max_length=max_length)


def _uses_token_types(tokenizer: Any) -> bool:
    return "token_type_ids" in getattr(tokenizer, "model_input_names", ())


def length_batches(lengths: np.ndarray, batch_size: int, max_tokens: int | None = None) -> Iterator[np.ndarray]:
    """Indices grouped into batches of similar length (longest first), capped by count and padded tokens."""
    order = np.argsort(-lengths, kind="stable")
    start = 0
    while start < len(order):
        end = min(start + batch_size, len(order))
        if max_tokens is not None:
            longest = int(lengths[order[start]])
            end = min(end, start + max(1, max_tokens // max(longest, 1)))
        yield order[start:end]
        start = end


def collate(enc: Encodings, index: np.ndarray, pad_id: int, device: Any) -> dict[str, Any]:
    """Pad the rows in `index` to their longest and move them to `device`."""
    import torch

    rows = [enc.input_ids[i] for i in index]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, r in enumerate(rows):
        ids[k, : len(r)] = torch.as_tensor(r, dtype=torch.long)
        mask[k, : len(r)] = 1
    batch = {"input_ids": ids, "attention_mask": mask}
    if enc.token_type_ids is not None:
        types = torch.zeros((len(rows), width), dtype=torch.long)
        for k, i in enumerate(index):
            r = enc.token_type_ids[i]
            types[k, : len(r)] = torch.as_tensor(r, dtype=torch.long)
        batch["token_type_ids"] = types
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def pad_id_of(tokenizer: Any) -> int:
    """The tokenizer's padding id (0 when it has none)."""
    pad = getattr(tokenizer, "pad_token_id", None)
    return int(pad) if pad is not None else 0


def predict_logits(model: Any, enc: Encodings, *, device: Any, batch_size: int, pad_id: int,
                   progress: Any = None) -> np.ndarray:
    """Logits [n, C] as float32, in the order of `enc`; inference mode, autocast on GPU."""
    import torch

    from ftaudit.modeling import autocast

    n = len(enc)
    num_labels = model.config.num_labels
    out = np.empty((n, num_labels), dtype=np.float32)
    model.eval()
    lengths = enc.lengths
    max_tokens = batch_size * 128  # keeps long-text batches from blowing up memory
    with torch.inference_mode(), autocast(device):
        for index in length_batches(lengths, batch_size, max_tokens):
            batch = collate(enc, index, pad_id, device)
            logits = model(**batch).logits
            out[index] = logits.float().cpu().numpy()
            if progress is not None:
                progress(len(index))
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-example cross-entropy in nats."""
    z = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return log_norm - z[np.arange(len(labels)), labels]


@dataclass(frozen=True)
class Predictions:
    """One split's logits with its gold labels; everything else is derived."""

    logits: np.ndarray  # float32 [n, C]
    labels: np.ndarray  # int64 [n]

    @property
    def probs(self) -> np.ndarray:
        return softmax(self.logits.astype(np.float64))

    @property
    def pred(self) -> np.ndarray:
        return self.logits.argmax(axis=1)

    @property
    def loss(self) -> np.ndarray:
        return cross_entropy(self.logits.astype(np.float64), self.labels)

    @property
    def correct(self) -> np.ndarray:
        return self.pred == self.labels
