"""AttributionProbe: screen a sample by gradient saliency, confirm with integrated gradients, test by deletion.

Per word (subwords merged), on the training data: document frequency, p(y | word), PMI and the mutual information
I(word present; y) in nats. Screen: on the whole stratified sample, each word's mean share of Grad-L2 saliency
s_w / Σs where it occurs; shortlist = the words ranked highest by that share × I/H(Y). Confirm: integrated
gradients on the heatmap examples, then on examples that hold shortlisted words, a round at a time, until the top
candidates (by IG share × I/H(Y)) stop changing. The top ones are deleted from the inputs that contain them
(ERASER comprehensiveness, DeYoung et al. 2020) next to a control that deletes a random other word.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ftaudit.options import opt
from ftaudit.errors import UsageError
from ftaudit.probes.base import Need, Probe
from ftaudit.results import ProbeResult

if TYPE_CHECKING:
    from ftaudit.context import AuditContext

REFERENCE_RANK = 10  # association is compared with the 10th-largest mutual information of any word
TOP_WORDS = 10
COMPREHENSIVENESS_K = (1, 3, 5)


@dataclass(frozen=True)
class Options:
    examples: int = opt(200, "examples screened per split (train and test), stratified by label; all of a split "
                             "when it is smaller", flag="--attribution-examples")
    ig: str = opt("screened", "which sampled examples get integrated gradients: screened (the heatmap examples, "
                              "then rounds of examples holding the gradient screen's top words until the top "
                              "candidates are stable) or all (every sampled example)", flag="--attribution-ig",
                  choices=("screened", "all"))
    shortlist: int = opt(10, "words the gradient screen passes on: examples holding them get integrated gradients",
                         flag="--attribution-shortlist")
    ig_per_word: int = opt(12, "most examples holding one shortlisted word that are queued for integrated gradients",
                           flag="--attribution-ig-per-word")
    stable_rounds: int = opt(1, "stop rule: over this many consecutive IG rounds (of --attribution-batch-size "
                                "examples), no score among the --attribution-candidates best moved by more than "
                                "--attribution-stable-tolerance × the best score", flag="--attribution-stable-rounds")
    stable_tolerance: float = opt(0.25, "stop rule: the largest move of a top score in a round, relative to the best "
                                        "score, that still counts as stable: the words among the best are all "
                                        "deletion-tested, so their order among near-equals does not matter",
                                  flag="--attribution-stable-tolerance")
    min_ig_examples: int = opt(32, "stop rule: fewest examples given integrated gradients before it may stop",
                               flag="--attribution-min-ig-examples")
    steps: int = opt(16, "first number of integration steps (Gauss-Legendre); examples that miss the completeness "
                         "tolerance are redone with twice as many", flag="--attribution-steps")
    precision: str = opt("auto", "precision of the integrated-gradients and deletion passes: auto is bf16 on a CPU "
                                 "with AMX (a bf16 copy of the model), fp32 elsewhere; bf16 on a GPU is autocast. "
                                 "Items whose bf16 error stalls, or that miss at the most steps, are redone in fp32",
                         flag="--attribution-precision", choices=("auto", "fp32", "bf16"))
    max_steps: int = opt(128, "most integration steps an example is given", flag="--attribution-max-steps")
    tolerance: float = opt(0.05, "completeness tolerance: |Σ attributions − (F(x) − F(baseline))| relative to "
                                 "|F(x) − F(baseline)|", flag="--attribution-tolerance")
    candidates: int = opt(5, "shortcut candidates tested by deletion", flag="--attribution-candidates")
    min_df: int = opt(5, "fewest training examples a word must occur in to be a shortcut candidate",
                      flag="--attribution-min-df")
    deletion_examples: int = opt(500, "most inputs per split a candidate is deleted from",
                                 flag="--attribution-deletion-examples")
    batch_size: int = opt(16, "examples per integrated-gradients pass (sorted by length)",
                          flag="--attribution-batch-size")
    max_tokens: int = opt(8192, "interpolation rows × padded tokens per forward pass; lower it when memory is short",
                          flag="--attribution-max-tokens")
    heatmaps: int = opt(8, "test examples shown as token heatmaps: the most confidently wrong, then a few correct",
                        flag="--attribution-heatmaps")

    def validate(self) -> None:
        checks = [
            (self.examples >= 2, f"--attribution-examples must be at least 2, got {self.examples}", "use e.g. 200"),
            (self.steps >= 2, f"--attribution-steps must be at least 2, got {self.steps}", "use e.g. 16"),
            (self.max_steps >= self.steps, f"--attribution-max-steps ({self.max_steps}) is below "
                                           f"--attribution-steps ({self.steps})", "use e.g. 128"),
            (0 < self.tolerance < 1, f"--attribution-tolerance must be in (0, 1), got {self.tolerance}",
             "use 0.05 (Sundararajan et al. 2017)"),
            (self.candidates >= 1, f"--attribution-candidates must be at least 1, got {self.candidates}", "use 5"),
            (self.min_df >= 1, f"--attribution-min-df must be at least 1, got {self.min_df}", "use e.g. 5"),
            (self.deletion_examples >= 1, f"--attribution-deletion-examples must be at least 1, got "
                                          f"{self.deletion_examples}", "use e.g. 500"),
            (self.batch_size >= 1, f"--attribution-batch-size must be at least 1, got {self.batch_size}", "use 16"),
            (self.max_tokens >= 64, f"--attribution-max-tokens must be at least 64, got {self.max_tokens}",
             "use e.g. 8192"),
            (self.heatmaps >= 0, f"--attribution-heatmaps must be >= 0, got {self.heatmaps}", "use e.g. 8"),
            (self.shortlist >= 1, f"--attribution-shortlist must be at least 1, got {self.shortlist}", "use e.g. 10"),
            (self.ig_per_word >= 1, f"--attribution-ig-per-word must be at least 1, got {self.ig_per_word}",
             "use e.g. 12"),
            (self.stable_rounds >= 1, f"--attribution-stable-rounds must be at least 1, got {self.stable_rounds}",
             "use e.g. 1"),
            (0 < self.stable_tolerance < 1, f"--attribution-stable-tolerance must be in (0, 1), got "
                                            f"{self.stable_tolerance}", "use e.g. 0.25"),
            (self.min_ig_examples >= 1, f"--attribution-min-ig-examples must be at least 1, got "
                                        f"{self.min_ig_examples}", "use e.g. 32"),
        ]
        for ok, problem, fix in checks:
            if not ok:
                raise UsageError(problem, fix)


@dataclass(frozen=True)
class WordStat:
    """One word: its label association on train and its attribution on the sample."""

    word: str
    train_df: int  # training examples that contain it
    label: str  # the label it is most associated with
    p_label: float  # p(label | word) on train
    pmi: float  # log p(label | word) / p(label), nats
    mutual_information: float  # I(word present; label) on train, nats
    association_ratio: float  # mutual_information / the REFERENCE_RANK-th largest of any word
    sample_count: int  # examples given IG (target = prediction) that contain it
    attribution_share: float  # mean |a_w| / Σ|a| over those examples
    score: float  # attribution_share × mutual_information / H(label)
    screen_count: int = 0  # screened examples that contain it
    screen_share: float = 0.0  # mean Grad-L2 share s_w / Σs over those examples


@dataclass(frozen=True)
class DeletionTest:
    """Deleting a word from the inputs of one split that contain it, against deleting a random other word."""

    split: str
    n: int
    flip_rate: float  # share of predictions that change
    confidence_drop: float  # mean drop of the originally predicted class's probability
    control_flip_rate: float
    control_confidence_drop: float


@dataclass(frozen=True)
class ShortcutCandidate:
    stat: WordStat
    deletions: tuple[DeletionTest, ...]  # test first when it contains the word, then train


@dataclass(frozen=True)
class ClassWords:
    """Words that push most toward one predicted class: signed share a_w / Σ|a|, summed over the sample."""

    label: str
    n: int  # attributed examples predicted as this class
    words: tuple[str, ...]
    total_share: tuple[float, ...]
    count: tuple[int, ...]


@dataclass(frozen=True)
class Comprehensiveness:
    """ERASER comprehensiveness on the test sample: delete the k words with the largest attribution."""

    k: int
    n: int
    confidence_drop: float
    flip_rate: float
    random_confidence_drop: float  # deleting k random words instead
    random_flip_rate: float


@dataclass(frozen=True)
class Heatmap:
    """One test example's words with attributions scaled to [-1, 1] (by the largest |a_w|)."""

    gold: str
    predicted: str
    confidence: float
    correct: bool
    words: tuple[str, ...]
    scores: tuple[float, ...]  # toward the predicted class
    gold_scores: tuple[float, ...] = ()  # toward the gold class (misclassified examples)


@dataclass(frozen=True)
class AttributionResult(ProbeResult):
    kind = "attribution"
    examples: Mapping[str, int]  # screened examples per split (the stratified sample)
    items: int  # IG runs (prediction targets, plus gold targets of misclassified examples)
    tolerance: float
    initial_steps: int
    max_steps: int
    within_tolerance_initial: float  # share of items within tolerance at the first step count
    within_tolerance: float  # share within tolerance after raising steps
    mean_steps: float
    ig_seconds: float
    label_entropy: float  # H(label) on train, nats
    reference_mi: float
    candidates: tuple[ShortcutCandidate, ...]
    words: tuple[WordStat, ...]  # the highest-scoring words (candidates first)
    class_words: tuple[ClassWords, ...]
    comprehensiveness: tuple[Comprehensiveness, ...]
    heatmaps: tuple[Heatmap, ...]
    precision: str = "fp32"  # "fp32", "bf16" or "fp16": what the integrated-gradients and deletion passes ran in
    fp32_redone: int = 0  # bf16 items run in fp32: |F(x) − F(x')| under reduced_min_delta, or their error stalled
    # or missed at max_steps
    reduced_min_delta: float = 0.0  # nats: items below it ran in fp32 from the start (with precision bf16/fp16)
    attributed: Mapping[str, int] = field(default_factory=dict)  # examples given IG per split (prediction target)
    ig_mode: str = "all"  # "screened" or "all" (--attribution-ig)
    stopped: str = "all"  # why IG stopped: "stable" (the stop rule held), "exhausted" (no example left), "all"
    ig_rounds: int = 0  # IG rounds run (the heatmap round first)
    stable_rounds: int = 0  # the stop rule's constants, as run
    stable_tolerance: float = 0.0
    min_ig_examples: int = 0
    ig_per_word: int = 0
    round_size: int = 0  # examples per IG round after the first (--attribution-batch-size)
    shortlist: tuple[str, ...] = ()  # the screen's top words, best first
    screen_seconds: float = 0.0  # the Grad-L2 pass


class AttributionProbe(Probe):
    """Integrated gradients on a sample; per-word attribution vs label association; shortcuts tested by deletion."""

    name = "attribution"
    summary = "integrated-gradients token attributions, shortcut candidates, confirmation by deletion"
    needs = frozenset({Need.MODEL, Need.TRAIN, Need.TEST})
    result_type = AttributionResult
    Options = Options

    def run(self, ctx: "AuditContext") -> AttributionResult:
        from ftaudit.probes.attribution.workflow import run_attribution

        return run_attribution(ctx, self.options)


def association(doc_sets: list[set[Any]], labels: np.ndarray, n_classes: int) -> tuple[dict[Any, np.ndarray], np.ndarray]:
    """Per key, its document count per class [C]; and the class counts [C]."""
    per_class: dict[Any, np.ndarray] = defaultdict(lambda: np.zeros(n_classes, dtype=np.int64))
    for keys, y in zip(doc_sets, labels):
        for key in keys:
            per_class[key][y] += 1
    return dict(per_class), np.bincount(labels, minlength=n_classes)


def mutual_information(counts: np.ndarray, totals: np.ndarray) -> float:
    """I(present; y) in nats from a word's per-class document counts and the per-class totals."""
    n = totals.sum()
    mi = 0.0
    for present in (counts, totals - counts):
        p_x = present.sum() / n
        if p_x <= 0:
            continue
        for c in range(len(totals)):
            p_xy = present[c] / n
            if p_xy > 0:
                mi += p_xy * math.log(p_xy / (p_x * totals[c] / n))
    return mi


def entropy(totals: np.ndarray) -> float:
    p = totals[totals > 0] / totals.sum()
    return float(-(p * np.log(p)).sum())


def top_counts(counter: Mapping[Any, float], k: int) -> list[Any]:
    return [key for key, _ in Counter(counter).most_common(k)]
