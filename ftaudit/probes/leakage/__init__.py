"""LeakageProbe: test examples with an exact or near-duplicate twin in train, and the accuracy on them vs the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ftaudit.options import opt
from ftaudit.errors import UsageError
from ftaudit.probes.base import Need, Probe
from ftaudit.results import ProbeResult
from ftaudit.probes.text_keys import context_keys, context_signatures
from ftaudit.stats import Contrast, contrast
from ftaudit.textsim import BANDS, NGRAM, PERMS, near_duplicates

if TYPE_CHECKING:
    from ftaudit.context import AuditContext

N_EXAMPLES = 6
EXAMPLE_CHARS = 300


@dataclass(frozen=True)
class LeakExample:
    test_index: int
    train_index: int
    test_text: str  # user data, cut to EXAMPLE_CHARS
    train_text: str
    test_label: str
    train_label: str
    similarity: float  # 1.0 for exact twins; else the exact Jaccard similarity of the character n-gram sets
    exact: bool


@dataclass(frozen=True)
class LeakageResult(ProbeResult):
    kind = "leakage"
    n_train: int
    n_test: int
    exact: int  # test rows whose normalised text is also in train
    near: int  # further test rows with a near-duplicate in train (MinHash candidate, exact Jaccard >= similarity)
    leaked_share: float  # (exact + near) / n_test
    label_disagreements: int  # leaked test rows whose train twin has a different label
    similarity: float  # the near-duplicate threshold (Jaccard similarity of character n-gram sets)
    ngram: int
    perms: int
    bands: int
    examples: tuple[LeakExample, ...]
    leaked_accuracy: float | None = None  # the model's accuracy on leaked test rows (None: no model, or none leaked)
    clean_accuracy: float | None = None  # ... and on the rest of test
    n_clean: int = 0
    near_checked: int = 0  # test rows whose MinHash candidates had their exact Jaccard computed
    near_rejected: int = 0  # ... of which no candidate reached the threshold (MinHash false positives among them)
    impact: Contrast | None = None  # accuracy on leaked test rows (the group) vs clean ones; None without a model


@dataclass(frozen=True)
class LeakageOptions:
    near_duplicate_similarity: float = opt(0.7, "Jaccard similarity of character 5-gram sets (MinHash candidates, "
                                                "verified exactly) from which a test text counts as a "
                                                "near-duplicate of a train text")

    def validate(self) -> None:
        if not 0 < self.near_duplicate_similarity <= 1:
            raise UsageError(f"leakage near_duplicate_similarity must be in (0, 1], got "
                             f"{self.near_duplicate_similarity}", "use e.g. 0.7; 1 keeps exact duplicates only")


def _cut(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS - 1] + "…"


def find_leaks(train_keys: tuple[str, ...], test_keys: tuple[str, ...], train_sig: np.ndarray, test_sig: np.ndarray,
               similarity: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(twin, sim, exact, checked) per test row: the train index of its twin (-1: none), the similarity, exact or
    not, and whether MinHash candidates were verified by their exact Jaccard similarity."""
    first: dict[str, int] = {}
    for i, k in enumerate(train_keys):
        if k:
            first.setdefault(k, i)
    twin = np.fromiter((first.get(k, -1) if k else -1 for k in test_keys), dtype=np.int64, count=len(test_keys))
    exact = twin >= 0
    sim = exact.astype(np.float64)
    empty = np.fromiter((not k for k in test_keys), dtype=bool, count=len(test_keys))
    checked = np.zeros(len(test_keys), dtype=bool)
    if similarity < 1:
        m = near_duplicates(test_sig, train_sig, similarity, skip=exact | empty, query_keys=test_keys,
                            reference_keys=train_keys)
        near = m.index >= 0
        twin[near], sim[near] = m.index[near], m.similarity[near]
        checked = m.checked
    return twin, sim, exact, checked


class LeakageProbe(Probe):
    """Train/test leakage: exact twins after normalisation and MinHash near-duplicates (LSH, not quadratic)."""

    name = "leakage"
    summary = "test examples duplicated (exactly or nearly) in train, and the model's accuracy on them"
    needs = frozenset({Need.TRAIN, Need.TEST})
    result_type = LeakageResult
    Options = LeakageOptions

    def run(self, ctx: "AuditContext") -> LeakageResult:
        threshold = self.options.near_duplicate_similarity
        train, test = ctx.splits["train"], ctx.splits["test"]
        train_keys, test_keys = context_keys(ctx, "train"), context_keys(ctx, "test")
        need_sig = threshold < 1
        twin, sim, exact, checked = find_leaks(train_keys, test_keys,
                                      context_signatures(ctx, "train") if need_sig else np.zeros((0, PERMS)),
                                      context_signatures(ctx, "test") if need_sig else np.zeros((0, PERMS)),
                                      threshold)
        leaked = twin >= 0
        names = ctx.labels.names
        disagree = leaked & (train.labels[np.maximum(twin, 0)] != test.labels)
        # examples: label disagreements first (the most damaging), then near twins, then exact ones
        order = sorted(np.flatnonzero(leaked), key=lambda i: (not disagree[i], bool(exact[i]), int(i)))
        examples = tuple(
            LeakExample(test_index=int(i), train_index=int(twin[i]), test_text=_cut(test.texts[i]),
                        train_text=_cut(train.texts[twin[i]]), test_label=names[test.labels[i]],
                        train_label=names[train.labels[twin[i]]], similarity=float(sim[i]), exact=bool(exact[i]))
            for i in order[:N_EXAMPLES])
        leaked_acc = clean_acc = impact = None
        if ctx.lacks(Need.MODEL) is None:
            correct = ctx.predictions("test").correct
            plain = contrast(correct, leaked)
            leaked_acc, clean_acc = plain.accuracy, plain.rest_accuracy
            impact = contrast(correct, leaked, labels=test.labels)  # within class: the leaked rows' mix may differ
        return LeakageResult(
            n_train=len(train), n_test=len(test), exact=int(exact.sum()), near=int((leaked & ~exact).sum()),
            leaked_share=float(leaked.mean()) if len(test) else 0.0, label_disagreements=int(disagree.sum()),
            similarity=threshold, ngram=NGRAM, perms=PERMS, bands=BANDS, examples=examples,
            leaked_accuracy=leaked_acc, clean_accuracy=clean_acc, n_clean=int((~leaked).sum()),
            near_checked=int(checked.sum()), near_rejected=int((checked & ~leaked).sum()), impact=impact,
        )
