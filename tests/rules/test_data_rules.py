"""Data rules: each planted defect raises its finding with its numbers; clean data passes (no false alarm)."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.data import data_context, sentences, vocabulary, with_predictions
from ftaudit.probes.balance import BalanceProbe
from ftaudit.probes.calibration import calibration
from ftaudit.probes.duplicates import DuplicatesProbe
from ftaudit.probes.leakage import LeakageProbe
from ftaudit.probes.shift import ShiftProbe
from ftaudit.probes.truncation import QUANTILES, TruncationResult, split_truncation
from ftaudit.results import ProbeOutcome, Severity
from ftaudit.probes.balance import rules as balance_rules
from ftaudit.probes.calibration import rules as calibration_rules
from ftaudit.probes.duplicates import rules as duplicates_rules
from ftaudit.probes.leakage import rules as leakage_rules
from ftaudit.probes.shift import rules as shift_rules
from ftaudit.probes.truncation import rules as truncation_rules
from ftaudit.probes.registry import threshold_defaults

RULES = (leakage_rules.RULES + duplicates_rules.RULES + balance_rules.RULES + truncation_rules.RULES + shift_rules.RULES
         + calibration_rules.RULES)

BY_CODE = {r.code: r for r in RULES}


def judge(code: str, result, **overrides: float):
    defaults = {name: t.default for name, t in threshold_defaults().items()}
    defaults.update(overrides)
    rule = BY_CODE[code]
    return rule.evaluate(ProbeOutcome(name=rule.probe, status="ok", result=result), defaults.__getitem__)


def random_labels(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n)


@pytest.fixture(scope="module")
def clean():
    ctx = data_context((sentences(2000, 1), random_labels(2000, 1)), (sentences(500, 2), random_labels(500, 2)))
    return {p.name: p().run(ctx) for p in (LeakageProbe, DuplicatesProbe, BalanceProbe, ShiftProbe)}


@pytest.mark.parametrize("code", ["train-test-leakage", "duplicates-within-split", "conflicting-labels",
                                  "class-imbalance", "label-shift", "distribution-shift"])
def test_clean_data_passes(clean, code):
    f = judge(code, clean[BY_CODE[code].probe])
    assert f.severity is Severity.PASS, f.message
    assert f.threshold_name and f.numbers


def test_leakage_warns_then_fails_with_the_share_in_the_message():
    train, test = sentences(1000, 1), sentences(200, 2)
    for copied, severity in ((4, Severity.WARN), (30, Severity.FAIL)):
        ctx = data_context((train + test[:copied], random_labels(1000 + copied, 1)), (test, random_labels(200, 2)))
        with_predictions(ctx, "test", np.zeros((200, 2)))
        f = judge("train-test-leakage", LeakageProbe().run(ctx))
        assert f.severity is severity
        assert f"{copied} of 200 test examples ({100 * copied / 200:.1f}%)" in f.message
        assert "accuracy" in f.message and f.numbers["leaked_share"] == copied / 200


def test_duplicates_and_conflicts():
    texts = sentences(100, 1)
    texts += texts[:10]
    labels = np.r_[random_labels(100, 1), 1 - random_labels(100, 1)[:10]]
    r = DuplicatesProbe().run(data_context((texts, labels), (sentences(20, 2), random_labels(20, 2))))
    dup, conf = judge("duplicates-within-split", r), judge("conflicting-labels", r)
    assert dup.severity is Severity.WARN and "10 of 110 train rows (9.1%)" in dup.message
    assert conf.severity is Severity.WARN and "10 texts in train occur with different labels" in conf.message
    assert judge("duplicates-within-split", r, max_duplicate_share=0.1).severity is Severity.PASS


def test_imbalance_and_a_class_missing_from_train():
    def balance(train_labels, test_labels):
        return BalanceProbe().run(data_context((sentences(len(train_labels), 1), train_labels),
                                               (sentences(len(test_labels), 2), test_labels)))

    rare = balance(np.r_[np.zeros(950, int), np.ones(50, int)], np.r_[np.zeros(95, int), np.ones(5, int)])
    f = judge("class-imbalance", rare)
    assert f.severity is Severity.WARN and "'positive' has 5.0% of the rows, 0.10x" in f.message
    assert judge("label-shift", rare).severity is Severity.PASS  # same imbalance on both sides
    missing = balance(np.zeros(100, int), np.r_[np.zeros(50, int), np.ones(50, int)])
    assert judge("class-imbalance", missing).severity is Severity.FAIL
    shifted = judge("label-shift", missing)
    assert shifted.severity is Severity.WARN and shifted.numbers["total_variation"] == pytest.approx(0.5)


def test_label_shift_needs_significance():
    small = BalanceProbe().run(data_context((sentences(20, 1), [0, 1] * 10), (sentences(10, 2), [0] * 7 + [1] * 3)))
    assert small.label_tv == pytest.approx(0.2)
    assert judge("label-shift", small).severity is Severity.PASS  # 10 test rows: not significant


def test_distribution_shift_by_length_and_by_vocabulary():
    train = sentences(2000, 1, min_words=5, max_words=15)
    long = ShiftProbe().run(data_context((train, random_labels(2000, 1)),
                                         (sentences(500, 2, min_words=20, max_words=40), random_labels(500, 2))))
    f = judge("distribution-shift", long)
    assert f.severity is Severity.WARN and "KS" in f.message and f.threshold_name == "max_length_ks"
    other = ShiftProbe().run(data_context((train, random_labels(2000, 1)),
                                          (sentences(500, 2, vocab=vocabulary(3000, 7), min_words=5, max_words=15),
                                           random_labels(500, 2))))
    f = judge("distribution-shift", other)
    assert f.severity is Severity.WARN and "unseen in train" in f.message and f.threshold_name == "max_oov_excess"


def test_truncation_warns_on_examples_and_fails_on_tokens():
    def result(lengths):
        return TruncationResult(max_length=10, quantiles=QUANTILES, splits=(split_truncation("train", lengths, 10),))

    assert judge("truncation-heavy", result([5] * 99 + [11])).severity is Severity.PASS
    warn = judge("truncation-heavy", result([5] * 90 + [11] * 10))
    assert warn.severity is Severity.WARN and "10.0% of train examples" in warn.message
    fail = judge("truncation-heavy", result([30] * 100))
    assert fail.severity is Severity.FAIL and "66.7% of their tokens" in fail.message


def test_calibration_poor_only_beyond_the_limit_and_chance():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)

    def probs(conf, correct):
        top = np.where(correct, labels[:len(conf)], 1 - labels[:len(conf)])
        p = np.zeros((len(conf), 2))
        p[np.arange(len(conf)), top], p[np.arange(len(conf)), 1 - top] = conf, 1 - conf
        return p

    conf = rng.uniform(0.6, 1.0, 2000)
    good = calibration(probs(conf, rng.random(2000) < conf), labels, bins=10, seed=0)
    assert judge("calibration-poor", good).severity is Severity.PASS
    over = calibration(probs(np.full(2000, 0.99), rng.random(2000) < 0.8), labels, bins=10, seed=0)
    f = judge("calibration-poor", over)
    assert f.severity is Severity.WARN and "over-confident" in f.message and "2000 test examples" in f.message
    # 30 examples at confidence 0.9, 25 right: ECE 6.7% is above the 5% limit but within what chance gives n=30
    tiny = calibration(probs(np.full(30, 0.9), np.arange(30) < 25), labels[:30], bins=10, seed=0)
    assert tiny.ece == pytest.approx(0.9 - 25 / 30) and tiny.ece_noise > tiny.ece
    assert judge("calibration-poor", tiny).severity is Severity.PASS


def _contrast(group_correct: int, n: int, rest_correct: int, n_rest: int):
    from ftaudit.stats import contrast

    correct = np.r_[np.arange(n) < group_correct, np.arange(n_rest) < rest_correct]
    return contrast(correct, np.r_[np.ones(n, dtype=bool), np.zeros(n_rest, dtype=bool)])


def test_truncation_emits_what_the_cut_costs():
    splits = (split_truncation("train", [100] * 30 + [5] * 70, 10), split_truncation("test", [100] * 30 + [5] * 70, 10))
    costly = TruncationResult(max_length=10, quantiles=QUANTILES, splits=splits, impact=_contrast(12, 30, 63, 70),
                              impact_basis="cut-vs-uncut")
    f = judge("truncation-heavy", costly)
    assert f.severity is Severity.FAIL
    assert f.numbers["impact"] == pytest.approx(0.9 - 0.4) and f.numbers["impact_ci_low"] > 0.3
    assert (f.numbers["impact_n"], f.numbers["impact_n_rest"], f.numbers["impact_basis"]) == (30, 70, "cut-vs-uncut")
    assert "accuracy 40.0% on cut test examples (n=30) vs 90.0% on uncut ones (n=70): -50.0 points" in f.message
    free = judge("truncation-heavy", TruncationResult(max_length=10, quantiles=QUANTILES, splits=splits,
                                                      impact=_contrast(27, 30, 63, 70), impact_basis="cut-vs-uncut"))
    assert free.numbers["impact"] == pytest.approx(0.0, abs=1e-12) and free.numbers["impact_ci_low"] < 0
    unmeasured = judge("truncation-heavy", TruncationResult(max_length=10, quantiles=QUANTILES, splits=splits))
    assert unmeasured.numbers["impact"] is None and "accuracy" not in unmeasured.message


def test_truncation_emits_what_the_cut_removes_from_the_data():
    from ftaudit.stats import paired_gain

    splits = (split_truncation("train", [20] * 100, 10), split_truncation("test", [20] * 100, 10))
    whole = np.arange(100) < 90
    cut = np.arange(100) < 70  # the whole texts get 20 more examples right, none fewer
    f = judge("truncation-heavy", TruncationResult(max_length=10, quantiles=QUANTILES, splits=splits,
                                                   information=paired_gain(cut, whole)))
    assert f.numbers["information_loss"] == pytest.approx(0.2) and f.numbers["information_loss_ci_low"] > 0.1
    assert (f.numbers["information_cut_accuracy"], f.numbers["information_whole_accuracy"]) == (0.7, 0.9)
    assert "a bag-of-words classifier scores 90.0% on the whole test texts vs 70.0% on the cut ones: +20.0 points" \
        in f.message
    unmeasured = judge("truncation-heavy", TruncationResult(max_length=10, quantiles=QUANTILES, splits=splits))
    assert unmeasured.numbers["information_loss"] is None and "bag-of-words" not in unmeasured.message


def test_leakage_impact_is_positive_when_leaked_rows_score_higher():
    train, test = sentences(1000, 1), sentences(200, 2)
    labels = random_labels(200, 2)
    ctx = data_context((train + test[:40], random_labels(1040, 1)), (test, labels))
    logits = np.eye(2)[labels] * 3
    logits[40:][np.arange(160) % 2 == 0] *= -1  # leaked rows all right, clean rows half right
    with_predictions(ctx, "test", logits)
    f = judge("train-test-leakage", LeakageProbe().run(ctx))
    # within class: the clean rows' accuracy is weighted to the leaked rows' class mix, which differs a little
    assert f.numbers["impact"] == pytest.approx(0.5, abs=0.02) and f.numbers["impact_ci_low"] > 0.3
    assert f.numbers["impact_strata"] == 2 and f.numbers["impact_unadjusted"] == pytest.approx(0.5)
    assert (f.numbers["leaked_accuracy"], f.numbers["clean_accuracy"]) == (1.0, 0.5)  # unweighted, as measured
    assert f.numbers["impact_accuracy"] == 1.0 and f.numbers["impact_rest_accuracy"] == pytest.approx(0.5, abs=0.02)


def test_imbalance_emits_the_rare_class_recall_gap():
    ctx = data_context((sentences(1000, 1), np.r_[np.zeros(950, int), np.ones(50, int)]),
                       (sentences(200, 2), np.arange(200) % 2))
    with_predictions(ctx, "test", np.tile([3.0, 0.0], (200, 1)))
    f = judge("class-imbalance", BalanceProbe().run(ctx))
    assert f.severity is Severity.WARN
    assert f.numbers["impact"] == 1.0 and f.numbers["impact_ci_low"] > 0.9
    assert "recall 0.0% on its examples (n=100) vs 100.0% on the other classes' examples" in f.message


def test_shift_judges_the_axis_that_fired():
    train = sentences(1000, 1)
    test = [s + " " + s for s in sentences(200, 2)]  # twice as long: the length test fires
    ctx = data_context((train, random_labels(1000, 1)), (test, random_labels(200, 2)))
    labels = ctx.splits["test"].labels
    with_predictions(ctx, "test", np.eye(2)[labels] * 3)
    f = judge("distribution-shift", ShiftProbe().run(ctx))
    assert f.severity is Severity.WARN and f.numbers["impact_axis"] == "length"
    assert f.numbers["impact"] == 0 and f.numbers["impact_ci_low"] < 0  # every example right: no cost
    assert "least like train by length" in f.message


def test_conflicts_emit_their_share_of_the_errors():
    texts = sentences(200, 1)
    texts[1] = texts[3] = texts[0]
    labels = np.array([0, 1] * 100)  # texts 0 and 1 differ in label, 3 too: a conflict of three rows
    ctx = data_context((texts, labels), (sentences(50, 2), np.array([0, 1] * 25)))
    logits = np.eye(2)[labels] * 3
    logits[1] *= -1  # the model's only train error is on a conflicting row
    with_predictions(ctx, "train", logits)
    with_predictions(ctx, "test", np.eye(2)[ctx.splits["test"].labels] * 3)
    f = judge("conflicting-labels", DuplicatesProbe().run(ctx))
    assert f.numbers["split"] == "train" and f.numbers["error_share"] == 1.0
    assert "holding 1 of the model's 1 errors there" in f.message


def test_a_collapse_onto_the_majority_is_no_cost_of_rarity_among_three_classes():
    # emotion x B (issue 23): every test prediction on the train majority; the rarest class's 0% recall is every
    # minority class's recall, so the comparison is with the other minority classes, not with the majority
    train = np.r_[np.zeros(700, int), np.ones(280, int), np.full(20, 2)]
    test = np.r_[np.zeros(100, int), np.ones(80, int), np.full(20, 2)]
    ctx = data_context((sentences(1000, 1), train), (sentences(200, 2), test), labels=("a", "b", "c"))
    with_predictions(ctx, "test", np.tile([3.0, 0.0, 0.0], (200, 1)))
    f = judge("class-imbalance", BalanceProbe().run(ctx))
    assert f.severity is Severity.WARN and f.numbers["impact"] == 0.0 and f.numbers["impact_ci_low"] < 0
    assert "recall 0.0% on its examples (n=20) vs 0.0% on the other minority classes' examples (n=80)" in f.message
