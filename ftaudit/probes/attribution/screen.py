"""Screen, then confirm: one-pass gradient saliency over the whole sample; the plan, the rounds and the stop rule of IG.

Grad-L2 (Bastings et al. 2022): per token t, s_t = ||∂F/∂e_t||₂ with F = log p(target | x) and e_t the output of
the module integrated gradients interpolates (the word embeddings, see `architectures`); one forward and one
backward pass per batch. Words sum their subwords' s_t, like integrated gradients' attributions.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Hashable, Sequence

import numpy as np

from ftaudit.architectures import architecture_of
from ftaudit.inference import Encodings, length_batches
from ftaudit.probes.attribution import Options
from ftaudit.probes.attribution.ig import (ParameterGradsOff, TokenBatches, integrated_gradients, model_forward,
                                           word_keys, word_spans)
from ftaudit.probes.attribution.words import Item

if TYPE_CHECKING:
    from ftaudit.context import AuditContext


def grad_saliency(model: Any, enc: Encodings, rows: np.ndarray, targets: np.ndarray, *, device: Any, pad_id: int,
                  keep: frozenset[int], batch_size: int, max_tokens: int, math_attention: bool = False
                  ) -> tuple[tuple[np.ndarray, ...], float]:
    """Per item (enc row `rows[k]`, class `targets[k]`): s_t per token (float64 [len(row)]); and the seconds taken."""
    import torch

    start = time.perf_counter()
    n = len(rows)
    out: list[np.ndarray] = [np.zeros(0)] * n
    if n == 0:
        return (), 0.0
    arch = architecture_of(model)
    batches = TokenBatches(enc, device, pad_id, keep, lambda ids: arch.position_ids(ids, model.config))
    forward = model_forward(model, device, mixed=False, math_attention=math_attention)
    layer = arch.attribution_module(model)
    held: list[Any] = []

    def hook(module: Any, inputs: Any, output: Any) -> Any:
        first = output[0] if isinstance(output, tuple) else output
        leaf = first.detach().requires_grad_(True)
        held.append(leaf)
        return (leaf, *output[1:]) if isinstance(output, tuple) else leaf

    lengths = np.asarray([len(enc.input_ids[r]) for r in rows], dtype=np.int64)
    was_training = model.training
    model.eval()
    handle = layer.register_forward_hook(hook)
    try:
        with ParameterGradsOff(model), torch.enable_grad():
            for index in length_batches(lengths, max(1, batch_size) * 4, max_tokens):
                held.clear()
                ids, _, mask, types, positions = batches(rows[index])
                logp = forward(ids, mask, types, positions)
                t = torch.as_tensor(targets[index], device=logp.device)
                (grad,) = torch.autograd.grad(logp.gather(1, t[:, None]).sum(), held[0])
                norms = grad.float().norm(dim=-1).double().cpu().numpy()
                for k, item in enumerate(index):
                    out[item] = norms[k, : lengths[item]]
    finally:
        handle.remove()
        model.train(was_training)
    return tuple(out), time.perf_counter() - start


def round_robin(words: Sequence[Hashable], holders: dict[Hashable, list[Any]], skip: set[Any], limit: int) -> list[Any]:
    """The order in which examples get IG: the first unqueued holder of each word in turn, best-ranked word first.

    `holders[w]` lists the examples that contain word w in a fixed (shuffled) order; every word gets an example
    per turn, so a rare candidate is covered as early as a frequent one, until `limit` of its holders are queued
    (or were in `skip`) or its holders run out.
    """
    queued, order = set(skip), []
    cursor = {w: 0 for w in words}
    covered = {w: sum(1 for h in holders.get(w, ()) if h in skip) for w in words}
    active = [w for w in words if holders.get(w) and covered[w] < limit]
    while active:
        still = []
        for w in active:
            hs = holders[w]
            while cursor[w] < len(hs) and hs[cursor[w]] in queued:
                cursor[w] += 1
            if cursor[w] < len(hs):
                queued.add(hs[cursor[w]])
                order.append(hs[cursor[w]])
                covered[w] += 1
                if covered[w] < limit:
                    still.append(w)
        active = still
    return order


def stable(history: Sequence[np.ndarray], rounds: int, tolerance: float, attributed: int, min_examples: int) -> bool:
    """The stop rule. `history[j]` holds the k best IG scores (descending, zero-padded to k) after round j.

    Stable after the latest round when at least `min_examples` examples got IG and, in each of the last `rounds`
    rounds, no rank's score moved by more than `tolerance` × that round's best score. A word that dominates moves
    the curve when it enters or leaves the top; words that swap places with near-equal scores do not.
    """
    if attributed < min_examples or len(history) < rounds + 1:
        return False
    for before, after in zip(history[-rounds - 1:-1], history[-rounds:]):
        if np.abs(after - before).max(initial=0.0) > tolerance * max(float(after[0]) if len(after) else 0.0, 0.0):
            return False
    return True


def top_scores(scores: Sequence[float], k: int) -> np.ndarray:
    """The k largest of `scores`, descending, zero-padded to k."""
    top = np.sort(np.asarray(scores, dtype=np.float64))[::-1][:k]
    return np.concatenate([top, np.zeros(k - len(top))])


class IGRounds:
    """Integrated gradients a round at a time; keeps every item and the completeness numbers of every round."""

    def __init__(self, ctx: "AuditContext", o: Options, keep: frozenset[int], cont: np.ndarray, precision: str,
                 half: Any) -> None:
        self.ctx, self.o, self.keep, self.cont, self.precision, self.half = ctx, o, keep, cont, precision, half
        self.items: list[Item] = []
        self.errors: list[np.ndarray] = [np.zeros(0)]
        self.errors_initial: list[np.ndarray] = [np.zeros(0)]
        self.steps: list[np.ndarray] = [np.zeros(0)]
        self.redone: list[np.ndarray] = [np.zeros(0, dtype=bool)]
        self.seconds = 0.0

    def attributed(self) -> int:
        return sum(1 for it in self.items if it.is_prediction)

    def run(self, todo: list[tuple[str, int]], gold: list[tuple[str, int]]) -> None:
        """IG of the predicted class for `todo`, and of the gold class for `gold`."""
        ctx, o = self.ctx, self.o
        for split in ("train", "test"):
            enc, pred = ctx.encodings(split), ctx.predictions(split)
            mine = np.asarray([r for s, r in todo if s == split], dtype=np.int64)
            wrong = np.asarray([r for s, r in gold if s == split], dtype=np.int64)
            rows = np.concatenate([mine, wrong])
            if not len(rows):
                continue
            targets = np.concatenate([pred.pred[mine], pred.labels[wrong]]).astype(np.int64)
            ig = integrated_gradients(ctx.model, enc, rows, targets, device=ctx.device, pad_id=ctx.pad_id,
                                      keep=self.keep, n_steps=o.steps, max_steps=o.max_steps, tolerance=o.tolerance,
                                      batch_size=o.batch_size, max_tokens=o.max_tokens, precision=self.precision,
                                      half=self.half)
            self.errors_initial.append(ig.initial_error)
            self.errors.append(ig.relative_error)
            self.redone.append(ig.fp32_redone)
            self.steps.append(ig.steps)
            self.seconds += ig.seconds
            for k, (row, target) in enumerate(zip(rows, targets)):
                ids = enc.input_ids[row]
                spans = word_spans(ids, self.cont, self.keep)
                a = ig.attributions[k]
                self.items.append(Item(split, int(row), int(target), k < len(mine), word_keys(ids, spans), spans,
                                       np.asarray([a[s:e].sum() for s, e in spans], dtype=np.float64)))
