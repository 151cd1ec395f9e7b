"""DuplicatesProbe: repeated texts within each split, repeated texts that carry different labels, and their share
of the model's errors on that split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

import numpy as np

from ftaudit.probes.base import Need, Probe
from ftaudit.results import ProbeResult
from ftaudit.probes.text_keys import context_keys
from ftaudit.textsim import exact_groups

if TYPE_CHECKING:
    from ftaudit.context import AuditContext

N_EXAMPLES = 5
EXAMPLE_CHARS = 300


@dataclass(frozen=True)
class DuplicateGroup:
    """One normalised text that occurs several times in a split, with its label counts."""

    text: str  # the first occurrence as written (user data), cut to EXAMPLE_CHARS
    count: int
    labels: Mapping[str, int]  # label -> rows


@dataclass(frozen=True)
class SplitDuplicates:
    split: str
    n: int
    duplicate_rows: int  # rows whose normalised text already occurred earlier in the split
    duplicate_share: float  # duplicate_rows / n
    groups: int  # distinct texts that occur more than once
    largest_group: int
    conflicting_groups: int  # repeated texts with more than one label
    conflicting_rows: int  # rows in those groups
    conflicting_share: float  # conflicting_rows / n
    examples: tuple[DuplicateGroup, ...]  # conflicting groups first, then the largest
    repeated_rows: int = 0  # rows whose text occurs more than once in the split (every copy)
    errors: int | None = None  # the model's wrong predictions on the split; None without a model
    errors_on_repeated: int | None = None  # ... on the repeated rows
    errors_on_conflicting: int | None = None  # ... on the rows of conflicting groups


@dataclass(frozen=True)
class DuplicatesResult(ProbeResult):
    kind = "duplicates"
    splits: tuple[SplitDuplicates, ...]


def split_duplicates(name: str, texts: tuple[str, ...], keys: tuple[str, ...], labels: np.ndarray,
                     label_names: tuple[str, ...], correct: np.ndarray | None = None) -> SplitDuplicates:
    groups = exact_groups(keys)
    repeated = np.zeros(len(keys), dtype=bool)
    conflicted = np.zeros(len(keys), dtype=bool)
    summaries = []
    for rows in groups.values():
        ids, counts = np.unique(labels[rows], return_counts=True)
        repeated[rows] = True
        conflicted[rows] = len(ids) > 1
        summaries.append((len(ids) > 1, len(rows), rows[0], {label_names[i]: int(c) for i, c in zip(ids, counts)}))
    conflicting = [s for s in summaries if s[0]]
    duplicate_rows = sum(s[1] - 1 for s in summaries)
    conflicting_rows = sum(s[1] for s in conflicting)
    n = len(texts)
    wrong = None if correct is None else ~np.asarray(correct, dtype=bool)
    chosen = sorted(summaries, key=lambda s: (not s[0], -s[1], s[2]))[:N_EXAMPLES]
    examples = tuple(DuplicateGroup(text=texts[first][:EXAMPLE_CHARS], count=count, labels=by_label)
                     for _, count, first, by_label in chosen)
    return SplitDuplicates(
        split=name, n=n, duplicate_rows=duplicate_rows, duplicate_share=duplicate_rows / n if n else 0.0,
        groups=len(summaries), largest_group=max((s[1] for s in summaries), default=1),
        conflicting_groups=len(conflicting), conflicting_rows=conflicting_rows,
        conflicting_share=conflicting_rows / n if n else 0.0, examples=examples, repeated_rows=int(repeated.sum()),
        errors=None if wrong is None else int(wrong.sum()),
        errors_on_repeated=None if wrong is None else int((wrong & repeated).sum()),
        errors_on_conflicting=None if wrong is None else int((wrong & conflicted).sum()),
    )


class DuplicatesProbe(Probe):
    """Within-split duplicates after normalisation (case, whitespace, punctuation) and conflicting labels."""

    name = "duplicates"
    summary = "repeated texts within each split, and repeated texts with different labels"
    needs = frozenset({Need.TRAIN, Need.TEST})
    result_type = DuplicatesResult

    def run(self, ctx: "AuditContext") -> DuplicatesResult:
        model = ctx.lacks(Need.MODEL) is None
        return DuplicatesResult(splits=tuple(
            split_duplicates(name, s.texts, context_keys(ctx, name), s.labels, ctx.labels.names,
                             ctx.predictions(name).correct if model else None)
            for name, s in ctx.splits.items()))
