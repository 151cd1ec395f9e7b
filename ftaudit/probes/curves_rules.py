"""Rules over the factor curves: would more data, another model size or another learning rate help?"""

from __future__ import annotations

import math
from typing import Callable

from ftaudit.probes.learning_curve import LearningCurveResult
from ftaudit.probes.lr_range import DEFAULT_SETTINGS, LrAnalysis, LrCurveSettings, LrRangeResult, analyse
from ftaudit.probes.size_curve import SizeCurveResult
from ftaudit.results import Severity
from ftaudit.rules.base import Judgement, Rule, Threshold, pct

MIN_GAIN = Threshold("data_limited_min_gain", 0.01, "data-limited when the 95% lower bound of the predicted test "
                                                    "accuracy gain from 2x the training data is above this")
FLAT_GAIN = Threshold("saturated_max_gain", 0.01, "saturated when the 95% upper bound of the predicted test "
                                                  "accuracy gain from 2x the training data is below this")
FLAT_ERROR = Threshold("saturated_min_error", 0.05, "a saturated curve warns only when the test error at the full "
                                                    "size is at least this (otherwise there is little left to gain)")
GAP_GROWTH = Threshold("max_gap_growth", 0.01, "warns when the train-test gap grows by more than this per doubling "
                                               "of the data (95% lower bound of the slope)")
LR_SMOOTH = Threshold("lr_range_smooth_share", DEFAULT_SETTINGS.smooth_share, "width of the Gaussian smoothing of "
                      "the range test's loss, as a share of its steps (centred, so features stay at their lr)",
                      minimum=0.0)
LR_DIVERGE = Threshold("lr_range_diverge_factor", DEFAULT_SETTINGS.diverge_factor, "the range test diverged where "
                       "its smoothed loss exceeds this multiple of its best so far (fastai's lr_find)", minimum=1.0)
LR_FELL = Threshold("lr_range_fell_ratio", DEFAULT_SETTINGS.fell_ratio, "it also diverged where, after falling "
                    "below this share of its start, the smoothed loss climbs back above the start")
LR_FAST = Threshold("lr_range_fast_share", DEFAULT_SETTINGS.fast_share, "the fastest range: where the loss falls at "
                    "least this share as fast as at its steepest")
LR_START = Threshold("lr_range_start_share", DEFAULT_SETTINGS.start_share, "the loss starts to fall (the low end of "
                     "the usable range) where it falls at least this share as fast as at its steepest")
SIZE_TOLERANCE = Threshold("model_size_tolerance", 0.01, "a smaller model whose test accuracy is within this of "
                                                         "the full model's generalizes as well")


def _points(x: float) -> str:
    return f"{100 * x:+.1f} points"


def _gain_text(lo: float, hi: float) -> str:
    return f"95% CI {100 * lo:+.1f} to {100 * hi:+.1f}"


def _seed_caveat(r: LearningCurveResult) -> str:
    gains = r.seed_gains
    if r.min_repeats > 1 and gains:
        return (f"; each seed's own curve predicts {_points(min(gains))} to {_points(max(gains))}, so the seed moves "
                "the prediction that much (the interval covers the seeds of the smaller sizes, not the full run's "
                "one seed)")
    if r.min_repeats > 1:
        return ""
    return ("; with one fine-tune per size the interval covers the sampling of the test set, not the seed, which "
            "can move a small fine-tune by several points (--curve-repeats 3 puts it in)")


def _seed_numbers(r: LearningCurveResult) -> dict[str, float | int]:
    gains = r.seed_gains
    out: dict[str, float | int] = {"repeats": r.min_repeats}
    if gains:
        out.update({"seed_gain_2x_min": min(gains), "seed_gain_2x_max": max(gains)})
    return out


def _data_limited(r: LearningCurveResult, threshold: Callable[[str], float]) -> Judgement | None:
    f = r.fit
    if f is None:
        return None
    limit = threshold(MIN_GAIN.name)
    lo, hi = f.gain_2x_ci
    numbers = {"full_size": f.full_size, "predicted_gain_2x": f.gain_2x, "gain_2x_ci_low": lo, "gain_2x_ci_high": hi,
               "predicted_gain_10x": f.gain_10x, "a": f.a, "b": f.b, "c": f.c, "data_limited_min_gain": limit,
               **_seed_numbers(r)}
    text = (f"twice the training data ({2 * f.full_size} examples) is predicted to change test accuracy by "
            f"{_points(f.gain_2x)} ({_gain_text(lo, hi)})")
    if lo > limit:
        return Judgement(Severity.WARN, f"{text}: the fine-tune is data-limited; more labelled data will help "
                                        f"(10x: {_points(f.gain_10x)}){_seed_caveat(r)}", numbers, MIN_GAIN.name)
    return Judgement(Severity.PASS, f"{text}: not clearly above {100 * limit:.1f} points, so not data-limited"
                                    f"{_seed_caveat(r)}", numbers, MIN_GAIN.name)


def _saturated(r: LearningCurveResult, threshold: Callable[[str], float]) -> Judgement | None:
    f = r.fit
    if f is None:
        return None
    limit, min_error = threshold(FLAT_GAIN.name), threshold(FLAT_ERROR.name)
    lo, hi = f.gain_2x_ci
    error = 1.0 - r.sizes[-1].test_accuracy
    numbers = {"predicted_gain_2x": f.gain_2x, "gain_2x_ci_low": lo, "gain_2x_ci_high": hi,
               "predicted_gain_10x": f.gain_10x, "asymptote": f.a, "test_error": error,
               "saturated_max_gain": limit, "saturated_min_error": min_error, **_seed_numbers(r)}
    text = (f"twice the training data is predicted to add at most {100 * hi:.1f} points (95% upper bound; "
            f"10x: {_points(f.gain_10x)})")
    if hi < limit and error >= min_error:
        return Judgement(Severity.WARN, f"{text}: the curve is flat at {pct(1 - error)} test accuracy, so more data "
                                        "will not fix the remaining error; look at the model, the optimiser or the "
                                        f"labels{_seed_caveat(r)}", numbers, FLAT_GAIN.name)
    if hi < limit:
        return Judgement(Severity.PASS, f"{text}: the curve is flat, with only {pct(error)} test error left",
                         numbers, FLAT_GAIN.name)
    return Judgement(Severity.PASS, f"{text}: the curve is not flat", numbers, FLAT_GAIN.name)


def _gap_trend(r: LearningCurveResult, threshold: Callable[[str], float]) -> Judgement | None:
    t = r.gap_trend
    if t is None:
        return None
    limit = threshold(GAP_GROWTH.name)
    lo, hi = t.slope_ci
    numbers = {"slope_per_doubling": t.slope, "slope_ci_low": lo, "slope_ci_high": hi,
               "gap_smallest": t.gaps[0], "gap_full": t.gaps[-1], "max_gap_growth": limit}
    text = (f"the train-test gap goes from {pct(t.gaps[0])} at {t.sizes[0]} examples to {pct(t.gaps[-1])} at "
            f"{t.sizes[-1]}: {_points(t.slope)} per doubling ({_gain_text(lo, hi)})")
    if lo > limit:
        return Judgement(Severity.WARN, f"{text}; it grows with more data, which more data cannot fix (suspect "
                                        "a train/test mismatch or labels that differ between them)", numbers,
                         GAP_GROWTH.name)
    if hi < 0:
        return Judgement(Severity.PASS, f"{text}; it shrinks as data grows", numbers, GAP_GROWTH.name)
    return Judgement(Severity.PASS, f"{text}; it does not clearly grow", numbers, GAP_GROWTH.name)


def _too_few(r: LearningCurveResult, threshold: Callable[[str], float]) -> Judgement:
    used = sum(s.above_chance for s in r.sizes)
    numbers = {"sizes": len(r.sizes), "above_chance": used, "chance": r.chance}
    if r.fit is None:
        return Judgement(Severity.WARN, f"only {used} of {len(r.sizes)} training-set sizes score above chance "
                                        f"({pct(r.chance)}): not enough points to fit a learning curve, so no "
                                        "extrapolation is made", numbers)
    return Judgement(Severity.PASS, f"{used} of {len(r.sizes)} sizes score above chance ({pct(r.chance)}) and were "
                                    f"fitted (RMSE {100 * r.fit.rmse:.1f} points)", numbers)


def _model_too_large(r: SizeCurveResult, threshold: Callable[[str], float]) -> Judgement | None:
    ref = next((m for m in r.models if m.name == r.reference), None)
    if ref is None:
        return None
    smaller = [m for m in r.models if m.parameters < ref.parameters]
    if not smaller:
        return None
    tol = threshold(SIZE_TOLERANCE.name)
    as_good = [m for m in smaller if m.diff >= -tol]
    numbers: dict[str, float | int | str | None] = {"reference": ref.name, "reference_test_accuracy":
                                                    ref.test_accuracy, "model_size_tolerance": tol}
    if as_good:
        m = min(as_good, key=lambda x: x.parameters)
        numbers.update({"model": m.name, "test_accuracy": m.test_accuracy, "difference": m.diff,
                        "difference_ci_low": m.diff_ci[0], "difference_ci_high": m.diff_ci[1],
                        "parameters": m.parameters, "reference_parameters": ref.parameters})
        return Judgement(Severity.WARN, f"{m.name} ({m.parameters / 1e6:.1f}M parameters) reaches "
                                        f"{pct(m.test_accuracy)} test accuracy vs {pct(ref.test_accuracy)} for "
                                        f"{ref.name} ({ref.parameters / 1e6:.1f}M): {_points(m.diff)} "
                                        f"({_gain_text(*m.diff_ci)}); the smaller model generalizes as well, so "
                                        "the full model is larger than this data needs", numbers,
                         SIZE_TOLERANCE.name)
    parts = ", ".join(f"{m.name} {_points(m.diff)}" for m in smaller)
    return Judgement(Severity.PASS, f"every smaller model generalizes worse than {ref.name} "
                                    f"({pct(ref.test_accuracy)}) by more than {100 * tol:.1f} points ({parts}): "
                                    "capacity helps here", numbers, SIZE_TOLERANCE.name)


def lr_analysis(r: LrRangeResult, threshold: Callable[[str], float]) -> LrAnalysis:
    """The range test's recorded trace read with the thresholds (a NaN/inf step, not in `lrs`, goes back on)."""
    settings = LrCurveSettings(smooth_share=threshold(LR_SMOOTH.name), diverge_factor=threshold(LR_DIVERGE.name),
                               fell_ratio=threshold(LR_FELL.name), fast_share=threshold(LR_FAST.name),
                               start_share=threshold(LR_START.name))
    lrs, losses = list(r.lrs), list(r.losses)
    if r.nonfinite_lr is not None:
        lrs.append(r.nonfinite_lr)
        losses.append(math.nan)
    return analyse(lrs, losses, settings)


def _lr_outside(r: LrRangeResult, threshold: Callable[[str], float]) -> Judgement | None:
    # Judged against Smith (2017)'s usable range for a fixed learning rate: from where the loss starts to fall to
    # where it is lowest. The steepest region is narrower and sits high (the sweep's loss lags the learning rate):
    # MiniLM at 256 reviews falls fastest at 3e-4..6e-4, yet fine-tunes well at 2e-5 to 1e-4. The low end is for
    # the audited run's length: the lowest peak rate whose schedule adds up (Σ lr) what the sweep had added up
    # when its loss started to fall; the high end is a stability limit and does not scale.
    a = lr_analysis(r, threshold)
    run_low = r.user_lr * a.falls_from_lr_sum / r.run_lr_sum if r.run_lr_sum and a.falls_from_lr_sum else None
    low = run_low or a.falls_from_lr or a.range_low
    high = a.min_loss_lr
    numbers = {"user_lr": r.user_lr, "range_low": low, "range_high": high, "fastest_low": a.range_low,
               "fastest_high": a.range_high, "steepest_lr": a.steepest_lr, "suggested_lr": a.suggested_lr,
               "diverged_lr": a.diverged_lr, "falls_from_lr": a.falls_from_lr,
               "falls_from_lr_sum": a.falls_from_lr_sum, "run_lr_sum": r.run_lr_sum}
    start = (f"the loss starts to fall at {a.falls_from_lr:.1e} once the sweep has added up "
             f"{a.falls_from_lr_sum:.1e} of learning rate, which your run's schedule reaches from a peak of "
             f"{low:.1e}" if run_low else f"the loss starts to fall at {low:.1e}")
    where = f"{start}; it falls fastest at {a.steepest_lr:.1e} and is lowest at {high:.1e}"
    if a.diverged_lr is not None and r.user_lr >= a.diverged_lr:
        return Judgement(Severity.FAIL, f"your learning rate {r.user_lr:.1e} is at or above {a.diverged_lr:.1e}, "
                                        f"where the range test diverged; {where}: use about {a.suggested_lr:.0e}",
                         numbers)
    if r.user_lr > high:
        return Judgement(Severity.WARN, f"your learning rate {r.user_lr:.1e} is above the usable range: {where}; "
                                        f"use about {a.suggested_lr:.0e}", numbers)
    if r.user_lr < low:
        return Judgement(Severity.WARN, f"your learning rate {r.user_lr:.1e} is below the usable range: {where}; "
                                        f"use about {a.suggested_lr:.0e}", numbers)
    return Judgement(Severity.PASS, f"your learning rate {r.user_lr:.1e} is inside the usable range: {where}",
                     numbers)


RULES = (
    Rule("data-limited", "twice the data is not predicted to raise test accuracy by more than the threshold",
         "learning-curve", _data_limited, (MIN_GAIN,),
         emits=("full_size", "predicted_gain_2x", "gain_2x_ci_low", "gain_2x_ci_high", "predicted_gain_10x", "a", "b",
                "c", "data_limited_min_gain", "repeats", "seed_gain_2x_min", "seed_gain_2x_max")),
    Rule("data-saturated", "the learning curve is not flat at a high test error", "learning-curve", _saturated,
         (FLAT_GAIN, FLAT_ERROR),
         emits=("predicted_gain_2x", "gain_2x_ci_low", "gain_2x_ci_high", "predicted_gain_10x", "asymptote",
                "test_error", "saturated_max_gain", "saturated_min_error", "repeats", "seed_gain_2x_min",
                "seed_gain_2x_max")),
    Rule("gap-trend", "the train-test gap does not grow with more data", "learning-curve", _gap_trend,
         (GAP_GROWTH,),
         emits=("slope_per_doubling", "slope_ci_low", "slope_ci_high", "gap_smallest", "gap_full", "max_gap_growth")),
    Rule("curve-too-few-points", "at least three training-set sizes score above chance", "learning-curve",
         _too_few,
         emits=("sizes", "above_chance", "chance")),
    Rule("model-too-large", "no smaller model generalizes as well as the full one", "size-curve", _model_too_large,
         (SIZE_TOLERANCE,),
         emits=("reference", "reference_test_accuracy", "model_size_tolerance", "model", "test_accuracy", "difference",
                "difference_ci_low", "difference_ci_high", "parameters", "reference_parameters")),
    Rule("lr-outside-range", "the learning rate lies in the range where the range test's loss falls fastest",
         "lr-range", _lr_outside, (LR_SMOOTH, LR_DIVERGE, LR_FELL, LR_FAST, LR_START),
         emits=("user_lr", "range_low", "range_high", "fastest_low", "fastest_high", "steepest_lr", "suggested_lr",
                "diverged_lr", "falls_from_lr", "falls_from_lr_sum", "run_lr_sum")),
)
