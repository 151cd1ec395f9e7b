"""Rules over the learning-rate range test: is the learning rate inside the range where the loss falls?"""

from __future__ import annotations

import math
from typing import Callable

from ftaudit.probes.lr_range import DEFAULT_SETTINGS, LrAnalysis, LrCurveSettings, LrRangeResult, analyse
from ftaudit.results import Severity
from ftaudit.rules.base import Judgement, Rule, Threshold

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
    Rule("lr-outside-range", "the learning rate lies in the range where the range test's loss falls fastest",
         "lr-range", _lr_outside, (LR_SMOOTH, LR_DIVERGE, LR_FELL, LR_FAST, LR_START),
         emits=("user_lr", "range_low", "range_high", "fastest_low", "fastest_high", "steepest_lr", "suggested_lr",
                "diverged_lr", "falls_from_lr", "falls_from_lr_sum", "run_lr_sum")),
)
