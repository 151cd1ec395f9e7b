"""Curve results round-trip through JSON, draw their charts and render their report sections with a verdict."""

from __future__ import annotations

import json

import pytest

from fixtures import curves
from ftaudit.probes.learning_curve import LearningCurveResult
from ftaudit.probes.lr_range import LrRangeResult
from ftaudit.probes.size_curve import SizeCurveResult
from ftaudit.results import ProbeOutcome, _decode_dataclass, _encode
from ftaudit.probes.learning_curve import chart as learning_curve_chart, rules as learning_curve_rules
from ftaudit.probes.lr_range import chart as lr_range_chart, rules as lr_range_rules
from ftaudit.probes.size_curve import chart as size_curve_chart, rules as size_curve_rules

STEEP = curves.learning_curve(0.95, 2.0, 0.35)
AT_CHANCE = curves.learning_curve(0.5, 0.0, 0.5)
# the 200-example point and the main fine-tune were still learning when they stopped
LEARNING = curves.learning_curve(0.95, 3.0, 0.5, sizes=(100, 200, 400, 800),
                                 loss=((0.05, 0.1), (0.25, 0.6), (0.02, 0.4), (0.2, 0.5)))
SIZE = curves.size_curve((0.70, 0.853, 0.85))
LR = curves.lr_range(1e-3)
RESULTS = [STEEP, AT_CHANCE, LEARNING, SIZE, LR]
IDS = ["learning-curve", "too-few-points", "still-learning", "size-curve", "lr-range"]
PROBE = {LearningCurveResult: "learning-curve", SizeCurveResult: "size-curve", LrRangeResult: "lr-range"}
RULES = learning_curve_rules.RULES + size_curve_rules.RULES + lr_range_rules.RULES
CHARTS = {LearningCurveResult: learning_curve_chart.charts, SizeCurveResult: size_curve_chart.charts,
          LrRangeResult: lr_range_chart.charts}


def charts(result):
    return CHARTS[type(result)](result)


@pytest.mark.parametrize("result", RESULTS, ids=IDS)
def test_results_round_trip_through_json(result):
    data = json.loads(json.dumps(_encode(result), allow_nan=False))
    assert data["kind"] == type(result).kind
    assert _decode_dataclass(type(result), data) == result


@pytest.mark.parametrize("result", RESULTS, ids=IDS)
def test_charts_are_inline_svg_with_a_title(result):
    out = charts(result)
    assert out
    for svg in out.values():
        assert svg.startswith("<svg") and 'role="img"' in svg and "aria-label=" in svg


def test_learning_curve_chart_draws_the_extrapolation_dashed_and_the_2x_10x_predictions():
    svg = charts(STEEP)["curve"]
    assert "stroke-dasharray" in svg
    assert "2×:" in svg and "10×:" in svg
    assert "at chance" in charts(AT_CHANCE)["curve"]


def test_lr_chart_marks_the_users_learning_rate():
    assert "your lr 1.0e-03" in charts(LR)["range"]


def findings_for(result):
    probe = PROBE[type(result)]
    outcome = ProbeOutcome(name=probe, status="ok", result=result)
    table = {t.name: t.default for r in RULES for t in r.thresholds}
    return outcome, [r.evaluate(outcome, table.__getitem__) for r in RULES if r.probe == probe]


@pytest.mark.parametrize("result", RESULTS, ids=IDS)
def test_sections_render_with_a_one_sentence_verdict(result):
    from ftaudit.report.html import environment

    outcome, findings = findings_for(result)
    html = environment().get_template(f"sections/{type(result).kind}.html.j2").render(
        s={"outcome": outcome, "charts": charts(result), "findings": findings, "kind": type(result).kind})
    assert 'class="verdict' in html and "<svg" in html
    worst = max((f for f in findings), key=lambda f: f.severity.rank)
    assert worst.message.split(":")[0].replace("'", "&#39;") in html


def test_learning_curve_section_states_the_schedule_and_the_missing_fit():
    from ftaudit.report.html import environment

    outcome, findings = findings_for(AT_CHANCE)
    html = environment().get_template("sections/learning_curve.html.j2").render(
        s={"outcome": outcome, "charts": {}, "findings": findings, "kind": "learning_curve"})
    assert "no curve was fitted" in html and "Mosbach" in html and "at least 40 optimisation steps" in html


def test_learning_curve_section_marks_the_points_still_learning():
    from ftaudit.report.html import environment

    outcome, findings = findings_for(LEARNING)
    html = environment().get_template("sections/learning_curve.html.j2").render(
        s={"outcome": outcome, "charts": charts(LEARNING), "findings": findings, "kind": "learning_curve"})
    assert "1 subset size(s) were still learning when they stopped\n(200 examples)" in html
    assert "--curve-still-learning" in html and "The main fine-tune was still learning when it" in html
    assert html.count("no (still learning)") == 1 and "yes (still learning)" in html  # the main run stays fitted
    assert "still learning (not fitted)" in html  # the chart's legend


def test_learning_curve_section_says_one_repeat_leaves_the_seed_out_of_the_intervals():
    import dataclasses

    from ftaudit.report.html import environment

    def render(result):
        outcome, findings = findings_for(result)
        return environment().get_template("sections/learning_curve.html.j2").render(
            s={"outcome": outcome, "charts": {}, "findings": findings, "kind": "learning_curve"})

    assert "cover the sampling of the test set only" in render(STEEP) and "--curve-repeats 3" in render(STEEP)
    repeated = dataclasses.replace(STEEP, sizes=tuple(dataclasses.replace(z, repeats=2) for z in STEEP.sizes[:-1])
                                   + STEEP.sizes[-1:])  # two fine-tunes at every subset size
    assert "cover the sampling of the test set only" not in render(repeated)
    html = render(repeated)
    assert "resample the 2 seeds" in html and "Each seed" not in html
    from ftaudit.probes.learning_curve import SeedFit

    seeds = dataclasses.replace(repeated, seed_fits=(SeedFit(0, 0.017, (0.012, 0.023)), SeedFit(1, None, None)))
    assert "predicts a gain at 2× of\n1.7 (1.2 to 2.3); none (too few points above chance) points" in render(seeds)


def test_curve_charts_draw_a_point_that_lies_outside_its_bootstrap_interval():
    """A flat curve's fitted gain of 0 can sit below its whole percentile interval (a held-out benchmark run at
    100% test accuracy crashed the report on matplotlib's negative error bar): the bar ends at the point."""
    import dataclasses

    from ftaudit.charts import interval_bars

    np_bars = interval_bars([0.0, 0.5], [(0.001, 0.02), (0.4, 0.6)])
    assert np_bars.tolist() == [[0.0, pytest.approx(0.1)], [0.02, pytest.approx(0.1)]]
    fit = dataclasses.replace(STEEP.fit, gain_2x=0.0, gain_2x_ci=(0.001, 0.02), gain_10x=0.0, gain_10x_ci=(0.002, 0.03))
    sizes = tuple(dataclasses.replace(z, test_accuracy_ci=(z.test_accuracy + 0.01, z.test_accuracy + 0.02))
                  for z in STEEP.sizes)
    assert "2×: +0.0 pts" in charts(dataclasses.replace(STEEP, fit=fit, sizes=sizes))["curve"]
    models = tuple(dataclasses.replace(m, test_accuracy_ci=(m.test_accuracy + 0.01, m.test_accuracy + 0.02))
                   for m in SIZE.models)
    assert charts(dataclasses.replace(SIZE, models=models))["curve"].startswith("<svg")


def test_learning_curve_section_shows_test_against_unseen_train_rows_and_the_fitted_loss_floor():
    import dataclasses

    import numpy as np

    from ftaudit.probes.learning_curve import UnseenTrain
    from ftaudit.report.html import environment
    from ftaudit.stats import contrast

    labels = np.array([0, 1] * 200)
    correct = np.concatenate([np.arange(200) < 130, np.arange(200) < 176])  # test 65%, unseen train rows 88%
    u = UnseenTrain(size=400, repeats=1, train_accuracy=0.95, unseen_accuracy=0.88,
                    contrast=contrast(correct, np.arange(400) < 200, labels=labels))
    result = dataclasses.replace(LEARNING, unseen_train=u, fitted_loss=0.25)
    outcome, findings = findings_for(result)
    html = environment().get_template("sections/learning_curve.html.j2").render(
        s={"outcome": outcome, "charts": {}, "findings": findings, "kind": "learning_curve"})
    assert "scored 65.0% on test (n=200) and\n88.0% on 200 train rows it never saw" in html
    assert "test is 23.0 points below them" in html and "train-test-mismatch" in html
    assert "while above 0.25 H(y)" in html  # the result's floor, not a constant written in the template
    mismatch = next(f for f in findings if f.code == "train-test-mismatch")
    assert mismatch.severity.value == "warn"
