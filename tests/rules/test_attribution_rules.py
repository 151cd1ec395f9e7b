"""Rules over attributions: a shortcut needs association, attribution and deletion together; incompleteness warns."""

from __future__ import annotations

import dataclasses

import pytest

from ftaudit.probes.attribution import (AttributionResult, ClassWords, Comprehensiveness, DeletionTest, Heatmap,
                                        ShortcutCandidate, WordStat)
from ftaudit.probes.attribution.rules import MIN_DELETION, RULES, evidence
from ftaudit.probes.registry import threshold_defaults

SHORTCUT, INCOMPLETE = RULES


def threshold(name: str) -> float:
    return threshold_defaults()[name].default


def word(name: str = "zqxv", ratio: float = 60.0, share: float = 0.6, label: str = "positive") -> WordStat:
    return WordStat(word=name, train_df=500, label=label, p_label=1.0, pmi=0.693, mutual_information=0.69,
                    association_ratio=ratio, sample_count=120, attribution_share=share, score=share * 0.99)


def deletion(split: str = "test", n: int = 300, drop: float = 0.7, control: float = 0.01) -> DeletionTest:
    return DeletionTest(split=split, n=n, flip_rate=0.8 * drop, confidence_drop=drop, control_flip_rate=0.0,
                        control_confidence_drop=control)


def result(*candidates: ShortcutCandidate, within: float = 0.99, items: int = 420) -> AttributionResult:
    return AttributionResult(
        examples={"train": 200, "test": 200}, items=items, tolerance=0.05, initial_steps=16, max_steps=128,
        within_tolerance_initial=0.9, within_tolerance=within, mean_steps=18.5, ig_seconds=12.0,
        label_entropy=0.693, reference_mi=0.0115, candidates=candidates,
        words=tuple(c.stat for c in candidates),
        class_words=(ClassWords("negative", 100, ("bad", "dull"), (4.2, 2.5), (20, 9)),
                     ClassWords("positive", 100, ("zqxv",), (55.0,), (100,))),
        comprehensiveness=(Comprehensiveness(1, 180, 0.31, 0.25, 0.02, 0.01),),
        heatmaps=(Heatmap("negative", "positive", 0.97, False, ("dull", "zqxv"), (-0.2, 1.0), (0.4, -1.0)),),
    )


def test_confirmed_shortcut_fails_with_its_evidence():
    f = SHORTCUT.judge(result(ShortcutCandidate(word(), (deletion(),))), threshold)
    assert f.severity.value == "fail"
    assert f.numbers["token"] == "zqxv" and f.numbers["deletion_split"] == "test" and f.numbers["deletion_n"] == 300
    for text in ("'zqxv'", "'positive'", "500 training examples", "60.0x", "300 test inputs", "70.0%", "1.0%"):
        assert text in f.message


@pytest.mark.parametrize("candidate, reason", [
    (ShortcutCandidate(word(ratio=2.0), (deletion(),)), "2.0x the 10th-strongest"),  # association not far above
    (ShortcutCandidate(word(share=0.01), (deletion(),)), "1.0% of the attribution"),  # the model does not read it
    (ShortcutCandidate(word(), (deletion(drop=0.12, control=0.08),)), "lowers the confidence by 12.0%"),  # no effect
    (ShortcutCandidate(word(), (deletion(n=int(MIN_DELETION.default) - 1),)), "too few to test"),  # cannot be confirmed
    (ShortcutCandidate(word(), ()), "too few to test"),
])
def test_unconfirmed_candidate_passes_and_says_why(candidate, reason):
    f = SHORTCUT.judge(result(candidate), threshold)
    assert f.severity.value == "pass" and reason in f.message and "'zqxv'" in f.message


def test_train_deletion_decides_when_test_lacks_the_word():
    c = ShortcutCandidate(word(), (deletion(n=2), deletion(split="train", n=400)))
    assert evidence(c).split == "train"
    f = SHORTCUT.judge(result(c), threshold)
    assert f.severity.value == "fail" and "400 train inputs" in f.message


def test_a_later_confirmed_candidate_is_still_raised_and_others_are_named():
    weak = ShortcutCandidate(word("bad", ratio=1.5, label="negative"), (deletion(),))
    strong = [ShortcutCandidate(word(n), (deletion(),)) for n in ("zqxv", "reuters")]
    f = SHORTCUT.judge(result(weak, *strong), threshold)
    assert f.severity.value == "fail" and f.numbers["token"] == "zqxv" and "also 'reuters'" in f.message
    assert f.numbers["confirmed"] == 2


def test_thresholds_are_configurable():
    c = ShortcutCandidate(word(ratio=3.0), (deletion(),))
    assert SHORTCUT.judge(result(c), threshold).severity.value == "pass"
    looser = lambda n: 2.5 if n == "min_shortcut_association_ratio" else threshold(n)  # noqa: E731
    assert SHORTCUT.judge(result(c), looser).severity.value == "fail"


def test_no_candidates_is_not_applicable():
    assert SHORTCUT.judge(result(), threshold) is None


def test_incomplete_attributions_warn_above_the_limit():
    f = INCOMPLETE.judge(result(within=0.80), threshold)
    assert f.severity.value == "warn" and "20.0% of 420 attributions" in f.message and "16 to at most 128" in f.message
    ok = INCOMPLETE.judge(result(within=0.97), threshold)
    assert ok.severity.value == "pass" and ok.numbers["share_missing"] == pytest.approx(0.03)
    assert INCOMPLETE.judge(dataclasses.replace(result(), items=0), threshold) is None
