"""The curve rules on synthetic results with known shapes: data-limited, saturated, gap trend, too few points,
model too large, learning rate outside the range."""

from __future__ import annotations

import dataclasses

import pytest

from fixtures import curves
from ftaudit.probes.learning_curve import SeedFit
from ftaudit.results import ProbeOutcome, Severity
from ftaudit.probes.learning_curve import rules as learning_curve
from ftaudit.probes.lr_range import rules as lr_range
from ftaudit.probes.size_curve import rules as size_curve

RULES = learning_curve.RULES + size_curve.RULES + lr_range.RULES
BY_CODE = {r.code: r for r in RULES}


def judge(code: str, result, **thresholds: float):
    rule = BY_CODE[code]
    table = {**{t.name: t.default for r in RULES for t in r.thresholds}, **thresholds}
    return rule.evaluate(ProbeOutcome(name=rule.probe, status="ok", result=result), table.__getitem__)


STEEP = curves.learning_curve(0.95, 2.0, 0.35)  # still rising fast at 1,024 examples
FLAT_LOW = curves.learning_curve(0.72, 0.0, 0.5)  # flat at 72%: more data will not help
FLAT_HIGH = curves.learning_curve(0.985, 0.0, 0.5)  # flat at 98.5%: nothing left to gain


def test_a_steep_curve_is_data_limited():
    f = judge("data-limited", STEEP)
    assert f.severity is Severity.WARN
    assert f.numbers["gain_2x_ci_low"] > 0.01
    assert "data-limited" in f.message and "2048 examples" in f.message


def test_a_flat_curve_is_not_data_limited_but_saturated():
    assert judge("data-limited", FLAT_LOW).severity is Severity.PASS
    f = judge("data-saturated", FLAT_LOW)
    assert f.severity is Severity.WARN and "flat at 72.0%" in f.message
    assert judge("data-saturated", STEEP).severity is Severity.PASS


def test_saturation_at_a_high_accuracy_only_passes():
    f = judge("data-saturated", FLAT_HIGH)
    assert f.severity is Severity.PASS and "little" not in f.message and "test error left" in f.message


def test_data_limited_threshold_is_configurable():
    gain_low = judge("data-limited", STEEP).numbers["gain_2x_ci_low"]
    assert judge("data-limited", STEEP, data_limited_min_gain=gain_low + 0.01).severity is Severity.PASS


def test_too_few_points_is_an_explicit_finding_and_the_fit_rules_step_aside():
    at_chance = curves.learning_curve(0.5, 0.0, 0.5, sizes=(128, 256, 512, 1024))
    assert at_chance.fit is None
    f = judge("curve-too-few-points", at_chance)
    assert f.severity is Severity.WARN and "0 of 4" in f.message and "not enough points" in f.message
    assert judge("data-limited", at_chance).severity is Severity.SKIP
    assert judge("data-saturated", at_chance).severity is Severity.SKIP
    assert judge("curve-too-few-points", STEEP).severity is Severity.PASS


def test_gap_trend_warns_when_the_gap_grows_and_passes_when_it_shrinks():
    sizes = (128, 256, 512, 1024)
    shrinking = curves.learning_curve(0.9, 1.0, 0.4, sizes=sizes, train=(1.0, 1.0, 1.0, 1.0))
    f = judge("gap-trend", shrinking)
    assert f.severity is Severity.PASS and "shrinks" in f.message
    # test accuracy falls as data grows (train and test disagree) while every subset fits its training rows
    falling = curves.learning_curve(0.6, -1.0, 0.4, sizes=sizes, train=(1.0, 1.0, 1.0, 1.0))
    g = judge("gap-trend", falling)
    assert g.severity is Severity.WARN and g.numbers["slope_per_doubling"] == pytest.approx(0.027, abs=0.005)


def test_under_trained_points_are_shown_but_neither_fitted_nor_trended():
    """The artefact of issue 23: subsets cut to a few steps fit their own rows worse than the full run, so the curve
    rises (and the gap grows) with the training length, not the data. Such points are left out."""
    sizes = (100, 200, 400, 800)
    cut = curves.learning_curve(0.95, 3.0, 0.5, sizes=sizes, train=(0.55, 0.58, 0.62, 0.87))
    assert [z.under_trained for z in cut.sizes] == [True, True, True, False]
    assert [z.fitted for z in cut.sizes] == [False, False, False, True]
    assert cut.fit is None and cut.gap_trend is None
    f = judge("curve-too-few-points", cut)
    assert f.severity is Severity.WARN and f.numbers["under_trained"] == 3 and f.numbers["fitted"] == 1
    assert "worse than the full run fits train" in f.message and "--curve-min-steps" in f.message
    assert judge("data-limited", cut).severity is Severity.SKIP  # no +x points at 2x from under-training
    assert judge("gap-trend", cut).severity is Severity.SKIP
    # the same accuracies with subsets that fit their rows: a fitted, data-limited curve
    fair = curves.learning_curve(0.95, 3.0, 0.5, sizes=sizes, train=(1.0, 0.98, 0.93, 0.87))
    assert all(z.fitted for z in fair.sizes) and judge("data-limited", fair).severity is Severity.WARN


def test_points_still_learning_are_shown_but_not_fitted():
    """Issue 23: a subset whose training loss still fell at the end would have moved with more steps, so its raised
    schedule measures the training length as well as the data. A falling loss below 0.3 H(y) is memorisation and
    does not count; the main fine-tune is the recipe itself and stays in the fit, marked."""
    sizes = (100, 200, 400, 800)
    h = 0.693
    fitted_well = (0.05, 0.10)  # the loss still fell, but far below H(y): the subset is fitted
    learning = (0.25, 0.60)  # fell by 25% over its last quarter at 0.87 H(y)
    curve = curves.learning_curve(0.95, 3.0, 0.5, sizes=sizes, loss=(fitted_well, learning, (0.02, 0.4),
                                                                      (0.3, 0.05)), label_entropy=h)
    assert [z.still_learning for z in curve.sizes] == [False, True, False, False]
    assert [z.fitted for z in curve.sizes] == [True, False, True, True]
    assert curve.fit is not None and curve.fit.sizes == (100, 400, 800)
    f = judge("curve-too-few-points", curve)
    assert f.severity is Severity.PASS and f.numbers["still_learning"] == 1 and "200 examples" in f.message
    # the main fine-tune still learning too: marked, but kept in the fit (the curve extrapolates its recipe)
    both = curves.learning_curve(0.95, 3.0, 0.5, sizes=sizes, loss=(fitted_well, learning, (0.02, 0.4),
                                                                     (0.2, 0.5)), label_entropy=h)
    assert both.sizes[-1].still_learning and both.sizes[-1].fitted and both.fit.sizes == (100, 400, 800)
    assert judge("curve-too-few-points", both).numbers["still_learning"] == 1
    # two subsets still learning leave two sizes: no fit, and the finding says why
    two = curves.learning_curve(0.95, 3.0, 0.5, sizes=sizes, loss=(learning, learning, (0.02, 0.4), (0.02, 0.4)),
                                label_entropy=h)
    assert two.fit is None
    g = judge("curve-too-few-points", two)
    assert g.severity is Severity.WARN and g.numbers["still_learning"] == 2 and "100 examples, 200 examples" in g.message
    assert judge("data-limited", two).severity is Severity.SKIP


def test_saturation_is_not_judged_on_a_main_run_that_barely_fitted_its_training_data():
    """Issue 23: at 800 rows x 2 epochs (50 steps) the curve was flat (+0.1 points at 2x) and said data-saturated,
    while 2x the data at the same epochs scored +19.9: the run had barely left a chance-level loss."""
    flat = dict(sizes=(100, 200, 400, 800), train=(0.70, 0.68, 0.66, 0.65))
    barely = curves.learning_curve(0.62, 0.0, 0.5, loss=((0.02, 0.5), (0.02, 0.6), (0.02, 0.62), (0.02, 0.631)),
                                   label_entropy=0.692, **flat)
    f = judge("data-saturated", barely)
    assert f.severity is Severity.PASS and "not judged" in f.message and "0.91x H(y)" in f.message
    assert f.numbers["full_loss_ratio"] == pytest.approx(0.631 / 0.692)
    assert f.threshold_name == "saturated_max_loss_ratio"
    # the same flat curve on a run whose loss left chance level is saturated
    fitted = curves.learning_curve(0.62, 0.0, 0.5, loss=((0.02, 0.3),) * 4, label_entropy=0.692, **flat)
    assert judge("data-saturated", fitted).severity is Severity.WARN
    assert judge("data-saturated", barely, saturated_max_loss_ratio=0.95).severity is Severity.WARN
    # a curve whose points recorded no loss (a fine-tune ftaudit did not run) is judged as before
    assert judge("data-saturated", curves.learning_curve(0.62, 0.0, 0.5, **flat)).severity is Severity.WARN


def test_saturation_is_not_judged_while_the_main_run_was_still_learning():
    flat = dict(sizes=(100, 200, 400, 800), train=(0.70, 0.68, 0.66, 0.65), label_entropy=0.692)
    rising = curves.learning_curve(0.62, 0.0, 0.5, loss=((0.02, 0.3),) * 3 + ((0.2, 0.4),), **flat)
    assert rising.sizes[-1].still_learning and rising.fit is not None  # three subsets are still fitted
    f = judge("data-saturated", rising)
    assert f.severity is Severity.PASS and "still learning" in f.message and f.numbers["full_still_learning"] == 1


def test_model_too_large_when_a_smaller_model_is_as_good():
    f = judge("model-too-large", curves.size_curve((0.70, 0.853, 0.85)))
    assert f.severity is Severity.WARN and f.numbers["model"] == "2 layers"
    g = judge("model-too-large", curves.size_curve((0.70, 0.78, 0.85)))
    assert g.severity is Severity.PASS and "capacity helps" in g.message


def test_model_too_large_uses_the_tolerance():
    result = curves.size_curve((0.70, 0.835, 0.85))
    assert judge("model-too-large", result).severity is Severity.PASS
    assert judge("model-too-large", result, model_size_tolerance=0.02).severity is Severity.WARN


@pytest.mark.parametrize("user_lr,severity,word", [(5e-5, Severity.PASS, "inside"), (1e-3, Severity.WARN, "above"),
                                                   (1e-7, Severity.WARN, "below"), (0.05, Severity.FAIL, "diverged")])
def test_lr_outside_range(user_lr, severity, word):
    r = curves.lr_range(user_lr)
    f = judge("lr-outside-range", r)
    assert f.severity is severity and word in f.message
    if severity is not Severity.PASS:
        assert f"{r.suggested_lr:.0e}" in f.message


def test_lr_range_brackets_the_fall_and_finds_the_divergence():
    r = curves.lr_range(5e-5, fall_at=5e-5, diverge_at=3e-3)
    assert r.range_low < 5e-5 < r.range_high < 1e-3
    assert r.steepest_lr == pytest.approx(5e-5, rel=0.5)
    assert 3e-3 < r.diverged_lr < 0.1
    assert r.range_low <= r.suggested_lr <= r.range_high
    assert r.falls_from_lr < r.range_low and r.min_loss_lr > r.range_high  # the usable range is wider


def test_a_learning_rate_below_the_steepest_region_but_where_the_loss_falls_is_usable():
    r = curves.lr_range(5e-5, fall_at=3e-4, diverge_at=2e-2)  # MiniLM at 256 reviews: steepest near 4e-4
    assert r.range_low > 5e-5 and r.falls_from_lr < 5e-5
    f = judge("lr-outside-range", r)
    assert f.severity is Severity.PASS and "usable range" in f.message
    assert f.numbers["range_low"] == r.falls_from_lr and f.numbers["range_high"] == r.min_loss_lr


def test_rules_never_judge_without_their_numbers():
    no_trend = dataclasses.replace(STEEP, gap_trend=None)
    assert judge("gap-trend", no_trend).severity is Severity.SKIP


def test_a_long_run_makes_a_rate_below_the_sweeps_fall_usable():
    # The sweep's loss starts to fall near 8e-5 (MiniLM at 256 reviews), after adding up about 6e-4 of learning
    # rate; a 160-step run with warm-up and decay (about 80 full-rate steps) adds that up from a peak near 1e-5.
    long_run = curves.lr_range(2e-5, fall_at=3e-4, diverge_at=2e-2, run_steps=80)
    assert long_run.falls_from_lr > 2e-5 > long_run.run_low_lr
    assert long_run.run_low_lr == pytest.approx(long_run.falls_from_lr_sum / 80)
    f = judge("lr-outside-range", long_run)
    assert f.severity is Severity.PASS and "inside" in f.message and "reaches from a peak of" in f.message
    assert f.numbers["range_low"] == long_run.run_low_lr and f.numbers["run_lr_sum"] == pytest.approx(2e-5 * 80)
    # the same rate in a run of 2 full-rate steps never adds up enough: below the range
    short_run = curves.lr_range(2e-5, fall_at=3e-4, diverge_at=2e-2, run_steps=2)
    f = judge("lr-outside-range", short_run)
    assert f.severity is Severity.WARN and "below" in f.message and "added up" in f.message
    # the high end is a stability limit: it does not move with the run's length
    high = long_run.min_loss_lr
    for run_steps in (2, 80, 10_000):
        f = judge("lr-outside-range", curves.lr_range(1.5 * high, fall_at=3e-4, diverge_at=2e-2, run_steps=run_steps))
        assert f.severity is Severity.WARN and "above" in f.message and f.numbers["range_high"] == high


def test_a_single_repeat_verdict_says_the_seed_is_not_in_its_interval():
    f = judge("data-limited", STEEP)
    assert f.numbers["repeats"] == 1 and "not the seed" in f.message and "--curve-repeats 3" in f.message
    assert "not the seed" in judge("data-saturated", FLAT_LOW).message
    repeated = dataclasses.replace(STEEP, sizes=tuple(dataclasses.replace(z, repeats=3) for z in STEEP.sizes[:-1])
                                   + STEEP.sizes[-1:])
    f = judge("data-limited", repeated)
    assert f.numbers["repeats"] == 3 and "seed" not in f.message and "seed_gain_2x_min" not in f.numbers
    # with the seeds' own curves, the finding says how far the seed moves the prediction
    fits = (SeedFit(0, 0.017, (0.012, 0.023)), SeedFit(1, 0.028, (0.016, 0.037)), SeedFit(2, None, None))
    seeds = dataclasses.replace(repeated, seed_fits=fits)
    f = judge("data-limited", seeds)
    assert f.numbers["seed_gain_2x_min"] == 0.017 and f.numbers["seed_gain_2x_max"] == 0.028
    assert "+1.7 points to +2.8 points" in f.message and "not the seed" not in f.message


def test_the_lr_range_divergence_is_decided_by_the_rules_thresholds():
    from ftaudit.probes.registry import threshold_defaults

    r = curves.lr_range(0.05)  # above where the trace rises past 4x its best
    defaults = {name: t.default for name, t in threshold_defaults().items()}
    outcome = ProbeOutcome(name="lr-range", status="ok", result=r)
    rule = next(x for x in RULES if x.code == "lr-outside-range")
    assert rule.evaluate(outcome, defaults.__getitem__).severity is Severity.FAIL
    assert rule.evaluate(outcome, defaults.__getitem__).numbers["diverged_lr"] == r.diverged_lr
    lenient = {**defaults, "lr_range_diverge_factor": 1e6, "lr_range_fell_ratio": 0.0}
    f = rule.evaluate(outcome, lenient.__getitem__)
    assert f.numbers["diverged_lr"] is None and f.severity is Severity.WARN and "above" in f.message


def test_a_sweep_that_ended_in_nan_diverged_at_that_learning_rate():
    r = curves.lr_range(5e-5, diverge_at=1.0, steps=100)  # the trace itself never diverges
    assert judge("lr-outside-range", r).numbers["diverged_lr"] is None
    cut = dataclasses.replace(r, lrs=r.lrs[:80], losses=r.losses[:80], nonfinite_lr=r.lrs[80])
    f = judge("lr-outside-range", cut)
    assert f.numbers["diverged_lr"] == pytest.approx(r.lrs[80])
