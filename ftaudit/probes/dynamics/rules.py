"""Rules over the training dynamics: collapse, divergence, vanishing gradients, under-training, label noise, seeds.

Collapse follows the failed-run definition of Dodge et al. 2020 and Mosbach et al. 2021: the loss stays near the
label entropy H(y) and the classifier predicts (nearly) one class or scores no better than the majority baseline; or,
whatever the loss, it predicts (nearly) one class on test and scores no better than that baseline there (a run that
fit its training rows but learned nothing that transfers has failed as surely).
"""

from __future__ import annotations

import statistics
from typing import Callable

from ftaudit.probes.dynamics import DynamicsResult
from ftaudit.results import Severity
from ftaudit.rules.base import Judgement, Rule, Threshold, pct
from ftaudit.rules.shared import COLLAPSE_SKILL, skill

T = Callable[[str], float]

COLLAPSE_LOSS = Threshold("collapse_loss_ratio", 0.9, "final training loss at or above this share of the label "
                                                      "entropy H(y) is a loss that never left chance level")
COLLAPSE_SHARE = Threshold("collapse_class_share", 0.9, "a run predicting at least this share of examples as one "
                                                        "class has collapsed onto it")
DIVERGE_FINAL = Threshold("diverge_final_ratio", 1.5, "final training loss this many times the initial loss: the "
                                                      "run diverged")
DIVERGE_SPIKE = Threshold("diverge_spike_ratio", 10.0, "a training-loss window this many times the initial loss: "
                                                       "the loss exploded")
VANISHING = Threshold("vanishing_grad_ratio", 0.01, "lowest encoder layer's gradient norm below this fraction of "
                                                    "the top layer's: gradients vanish in the lower layers")
STILL_IMPROVING = Threshold("still_improving_drop", 0.15, "training loss still falling by this share between the "
                                                          "60-80% and 80-100% windows of the steps: under-trained")
STILL_IMPROVING_FLOOR = Threshold("still_improving_min_loss", 0.3, "still-improving is judged only when the final "
                                  "training loss is at least this share of H(y); below it, a falling loss is "
                                  "memorisation, not under-training")
BARELY_FELL = Threshold("loss_fall_ratio", 0.9, "final training loss above this share of the initial loss: the "
                                                "loss barely fell")
NOISE_AUM_SCALE = Threshold("dynamics_aum_scale", 0.5, "flag training examples whose area under the margin is "
                            "below -dynamics_aum_scale x the median AUM of the examples with a positive one: a "
                            "mislabelled example mirrors a correctly labelled one, while merely hard examples sit "
                            "near 0", minimum=0.0)
NOISE_SHARE = Threshold("label_noise_share", 0.15, "share of training examples with area under the margin below -k x "
                                                   "typical above which label noise is suspected")
NOISE_MIN_SKILL = Threshold("label_noise_min_skill", 0.10, "label noise is judged only when test accuracy removes at "
                                                           "least this share of the majority baseline's error, "
                                                           "(accuracy - baseline) / (1 - baseline): the margins of a "
                                                           "model that learned nothing say nothing about its labels",
                             minimum=0.0)
COLLAPSE_LIFT = Threshold("collapse_max_lift", 0.01, "a run whose accuracy is at most this above the majority "
                                                    "baseline scores no better than it (one of the signs of collapse)")
SEED_STD = Threshold("seed_max_std", 0.02, "standard deviation of accuracy across seeds above this is unstable")
SEED_FAILED = Threshold("seed_max_failed_share", 0.0, "share of seeds that collapsed or diverged above this is "
                                                      "unstable")


def learned_something(accuracy: float | None, baseline: float | None, threshold: T) -> bool:
    """Test accuracy removed at least collapse_max_skill of the majority baseline's error (False when unknown)."""
    removed = skill(accuracy, baseline)
    return removed is not None and removed >= threshold(COLLAPSE_SKILL.name)


def loss_at_chance(r: DynamicsResult, threshold: T) -> bool:
    """The final training loss at or above collapse_loss_ratio x H(y): training never left chance level."""
    return r.final_loss is not None and r.label_entropy is not None and \
        r.final_loss >= threshold(COLLAPSE_LOSS.name) * r.label_entropy


def collapse_evidence(r: DynamicsResult, threshold: T) -> tuple[bool, dict[str, float | int | str | None], str]:
    """(collapsed?, numbers, text) from the loss level, the prediction share and accuracy vs the majority baseline."""
    where = "test" if r.test_accuracy is not None else "the last training epoch"
    acc = r.test_accuracy if r.test_accuracy is not None else r.train_accuracy
    share = r.test_majority_share if r.test_majority_share is not None else r.train_majority_share
    numbers: dict[str, float | int | str | None] = {
        "final_loss": r.final_loss, "label_entropy": r.label_entropy, "accuracy": acc, "majority_share": share,
        "majority_baseline": r.majority_baseline, "collapse_loss_ratio": threshold(COLLAPSE_LOSS.name),
        # the loss at chance level tells a collapse of training itself from a fit that does not transfer
        "loss_ratio": r.final_loss / r.label_entropy if r.final_loss is not None and r.label_entropy else None}
    if r.final_loss is None or r.label_entropy is None or acc is None or share is None:
        return False, numbers, ""
    near_chance = loss_at_chance(r, threshold)
    one_class = share >= threshold(COLLAPSE_SHARE.name)
    no_better = r.majority_baseline is not None and acc <= r.majority_baseline + threshold(COLLAPSE_LIFT.name)
    text = (f"final training loss {r.final_loss:.3f} vs label entropy H(y) = {r.label_entropy:.3f}; "
            f"{pct(share)} of {where} predictions are one class; accuracy {pct(acc)}"
            + (f" vs majority baseline {pct(r.majority_baseline)}" if r.majority_baseline is not None else ""))
    # Removing a share of the baseline's error counts only above the fixed lift: at a 95% baseline, 10% of its
    # error is half a point, three rows of 600.
    learned = not no_better and learned_something(r.test_accuracy, r.majority_baseline, threshold)
    numbers["skill"] = skill(r.test_accuracy, r.majority_baseline)
    if learned and near_chance and one_class:
        text += (f"; but it removed {pct(numbers['skill'])} of the baseline's error, at least "
                 f"{pct(threshold(COLLAPSE_SKILL.name))}: it learned something")
    collapsed = (near_chance and (one_class or no_better)) or (one_class and no_better)
    return collapsed and not learned, numbers, text


def _failed(r: DynamicsResult, threshold: T) -> bool:
    return r.run.nonfinite_step is not None or collapse_evidence(r, threshold)[0]


def _collapsed(r: DynamicsResult, threshold: T) -> Judgement | None:
    if r.run.nonfinite_step is not None:
        return None  # training-diverged says it
    collapsed, numbers, text = collapse_evidence(r, threshold)
    if not text:
        return None
    if collapsed:
        return Judgement(Severity.FAIL, f"training collapsed: {text}", numbers,
                         COLLAPSE_LOSS.name if loss_at_chance(r, threshold) else COLLAPSE_SHARE.name)
    return Judgement(Severity.PASS, f"training left chance level: {text}", numbers, COLLAPSE_LOSS.name)


def _diverged(r: DynamicsResult, threshold: T) -> Judgement | None:
    if r.run.nonfinite_step is not None:
        run = r.run
        return Judgement(Severity.FAIL, f"training diverged: the loss became NaN/inf at step {run.nonfinite_step} of "
                                        f"{run.steps} (lr {run.lr:g})", {"nonfinite_step": run.nonfinite_step,
                                                                         "lr": run.lr})
    if r.initial_loss is None or r.final_loss is None or not r.initial_loss:
        return None
    final_ratio = r.final_loss / r.initial_loss
    spike = r.max_loss_ratio or 0.0
    numbers = {"initial_loss": r.initial_loss, "final_loss": r.final_loss, "final_ratio": final_ratio,
               "max_loss_ratio": spike, "lr": r.run.lr}
    if final_ratio >= threshold(DIVERGE_FINAL.name):
        return Judgement(Severity.FAIL, f"training diverged: the loss ended at {r.final_loss:.3f}, "
                                        f"{final_ratio:.1f}x its initial {r.initial_loss:.3f} (lr {r.run.lr:g})",
                         numbers, DIVERGE_FINAL.name)
    if spike >= threshold(DIVERGE_SPIKE.name):
        return Judgement(Severity.FAIL, f"the training loss exploded to {spike:.1f}x its initial "
                                        f"{r.initial_loss:.3f} (lr {r.run.lr:g})", numbers, DIVERGE_SPIKE.name)
    return Judgement(Severity.PASS, f"the loss stayed finite and ended at {final_ratio:.2f}x its initial value "
                                    f"(largest window {spike:.2f}x)", numbers, DIVERGE_FINAL.name)


def _vanishing(r: DynamicsResult, threshold: T) -> Judgement | None:
    if r.lower_to_top_ratio is None or r.run.frozen_encoder:
        return None
    enc = [g for g in r.layers if g.layer.startswith("layer ")]
    low, top = enc[0], enc[-1]
    limit = threshold(VANISHING.name)
    numbers = {"lower_to_top_ratio": r.lower_to_top_ratio, "lowest_layer_norm": low.median,
               "top_layer_norm": top.median}
    text = (f"median gradient norm of {low.layer} is {low.median:.2e}, {r.lower_to_top_ratio:.2e}x that of "
            f"{top.layer} ({top.median:.2e})")
    if r.lower_to_top_ratio < limit:
        return Judgement(Severity.WARN, f"gradients vanish in the lower layers: {text}, below {limit:g}",
                         numbers, VANISHING.name)
    return Judgement(Severity.PASS, text, numbers, VANISHING.name)


def late_test_gain(r: DynamicsResult) -> tuple[dict[str, float | int | None], str]:
    """(numbers, text) of what the last third of training bought on test: the undertrained cause's impact."""
    ci = r.late_gain_ci
    numbers: dict[str, float | int | None] = {
        "late_gain": r.late_gain, "late_gain_ci_low": ci[0] if ci else None, "late_gain_ci_high": ci[1] if ci else None,
        "checkpoint_step": r.checkpoint_step, "checkpoint_rows": r.checkpoint_rows,
        "checkpoint_accuracy": r.checkpoint_accuracy, "end_accuracy": r.end_accuracy}
    if r.late_gain is None or ci is None:
        return numbers, "no test checkpoint was recorded part-way (only ftaudit's own fine-tune records one)"
    return numbers, (f"on {r.checkpoint_rows} test rows, accuracy went from {pct(r.checkpoint_accuracy)} after step "
                     f"{r.checkpoint_step} to {pct(r.end_accuracy)} at the end of the {r.run.steps} steps: "
                     f"{r.late_gain * 100:+.1f} points (90% CI {ci[0] * 100:+.1f} to {ci[1] * 100:+.1f})")


def _still_improving(r: DynamicsResult, threshold: T) -> Judgement | None:
    if r.late_drop is None or _failed(r, threshold):
        return None
    limit = threshold(STILL_IMPROVING.name)
    gain, gain_text = late_test_gain(r)
    numbers = {"late_drop": r.late_drop, "final_loss": r.final_loss, "epochs": r.run.epochs,
               "label_entropy": r.label_entropy, **gain}
    floor = threshold(STILL_IMPROVING_FLOOR.name)
    if r.final_loss is not None and r.label_entropy and r.final_loss < floor * r.label_entropy:
        return Judgement(Severity.PASS, f"the training loss ended at {r.final_loss:.3f}, "
                                        f"{r.final_loss / r.label_entropy:.2f}x H(y): the task is fitted (a further "
                                        f"fall of {pct(r.late_drop)} over the last 20% of steps is memorisation)",
                         numbers, STILL_IMPROVING_FLOOR.name)
    if r.late_drop >= limit:
        return Judgement(Severity.WARN, f"the training loss was still falling at the end: down {pct(r.late_drop)} "
                                        f"from the 60-80% to the 80-100% window of the {r.run.steps} steps "
                                        f"({r.run.epochs} epochs): train longer; {gain_text}", numbers,
                         STILL_IMPROVING.name)
    return Judgement(Severity.PASS, f"the training loss levelled off: {pct(r.late_drop)} change over the last "
                                    f"20% of steps; {gain_text}", numbers, STILL_IMPROVING.name)


def _barely_fell(r: DynamicsResult, threshold: T) -> Judgement | None:
    if r.initial_loss is None or r.final_loss is None or not r.initial_loss or _failed(r, threshold):
        return None  # a collapsed or diverged run is judged by its own rule
    ratio = r.final_loss / r.initial_loss
    limit = threshold(BARELY_FELL.name)
    numbers = {"initial_loss": r.initial_loss, "final_loss": r.final_loss, "ratio": ratio, "lr": r.run.lr}
    text = f"the training loss went from {r.initial_loss:.3f} to {r.final_loss:.3f} ({ratio:.2f}x) at lr {r.run.lr:g}"
    if ratio > limit:
        return Judgement(Severity.WARN, f"{text}: it barely fell (above {limit:.2f}x)", numbers, BARELY_FELL.name)
    return Judgement(Severity.PASS, text, numbers, BARELY_FELL.name)


def flagged_aum(r: DynamicsResult, threshold: T) -> tuple[float, int]:
    """(AUM threshold, number of tracked examples below it): -dynamics_aum_scale x the median positive AUM."""
    typical = r.positive_aum_median
    limit = -threshold(NOISE_AUM_SCALE.name) * typical if typical is not None else 0.0
    return limit, sum(a < limit for a in r.negative_aum)


def _label_noise(r: DynamicsResult, threshold: T) -> Judgement | None:
    if not r.n_tracked or _failed(r, threshold):
        return None
    # Wrong labels hold the training loss up (30% flipped binary labels: H(0.3) = 0.88 H(y)), so a high loss alone
    # does not mean the model learned nothing; a model that cannot beat the majority class on test has not.
    # Learned something = removed a share of the majority baseline's error, not beaten it by fixed points: at a 50%
    # baseline 10% of its error is 5 points, at an 87% one (spam) 1.3 points, at 23% (nine classes) 7.7 points.
    least = threshold(NOISE_MIN_SKILL.name)
    removed = skill(r.test_accuracy, r.majority_baseline)
    if removed is not None:
        if removed < least:
            return Judgement(Severity.SKIP, f"not judged: test accuracy {pct(r.test_accuracy)} removes "
                                            f"{pct(max(removed, 0.0))} of the majority baseline's error "
                                            f"({pct(r.majority_baseline)} accuracy), less than {pct(least)}; the "
                                            "margins of a model that learned nothing say nothing about its labels",
                             {"test_accuracy": r.test_accuracy, "majority_baseline": r.majority_baseline,
                              "skill": removed})
    elif r.final_loss is not None and r.label_entropy and \
            r.final_loss >= threshold(COLLAPSE_LOSS.name) * r.label_entropy:
        return Judgement(Severity.SKIP, f"not judged: the training loss stayed at {r.final_loss:.3f}, near H(y) = "
                                        f"{r.label_entropy:.3f}, and there is no test accuracy to show the model "
                                        "learned anything", {"final_loss": r.final_loss})
    limit = threshold(NOISE_SHARE.name)
    aum_threshold, flagged = flagged_aum(r, threshold)
    rate = flagged / r.n_tracked
    numbers = {"flagged": flagged, "tracked": r.n_tracked, "noise_rate": rate, "aum_threshold": aum_threshold}
    text = (f"{flagged} of {r.n_tracked} training examples ({pct(rate)}) have area under the margin "
            f"below {aum_threshold:g}")
    if rate >= limit:
        return Judgement(Severity.WARN, f"label noise suspected: {text}; about {pct(rate)} of the training "
                                        "labels may be wrong (the report lists them)", numbers, NOISE_SHARE.name)
    return Judgement(Severity.PASS, text, numbers, NOISE_SHARE.name)


def _seeds(r: DynamicsResult, threshold: T) -> Judgement | None:
    if len(r.seeds) < 2:
        return None
    share_limit = threshold(COLLAPSE_SHARE.name)
    failed = [s for s in r.seeds if s.diverged or s.accuracy is None
              or (s.majority_share is not None and s.majority_share >= share_limit
                  and not learned_something(s.accuracy, r.majority_baseline, threshold))]
    accs = [s.accuracy for s in r.seeds if s.accuracy is not None]
    std = statistics.pstdev(accs) if len(accs) >= 2 else 0.0
    mean = statistics.fmean(accs) if accs else None
    failed_share = len(failed) / len(r.seeds)
    numbers = {"seeds": len(r.seeds), "mean_accuracy": mean, "std_accuracy": std, "failed": len(failed),
               "failed_share": failed_share, "min_accuracy": min(accs) if accs else None,
               "max_accuracy": max(accs) if accs else None}
    text = (f"{len(r.seeds)} seeds: {r.seed_metric or 'accuracy'} mean {pct(mean)}, std {pct(std)}, range "
            f"{pct(min(accs) if accs else None)}-{pct(max(accs) if accs else None)}; {len(failed)} failed "
            f"(collapsed or diverged)")
    if failed_share > threshold(SEED_FAILED.name):
        return Judgement(Severity.WARN, f"seed-unstable: {text}", numbers, SEED_FAILED.name)
    if std > threshold(SEED_STD.name):
        return Judgement(Severity.WARN, f"seed-unstable: {text}; std above {pct(threshold(SEED_STD.name))}",
                         numbers, SEED_STD.name)
    return Judgement(Severity.PASS, text, numbers, SEED_STD.name)


RULES = (
    Rule("training-collapsed", "training left chance level (not stuck at the label entropy on one class)",
         "dynamics", _collapsed, (COLLAPSE_LOSS, COLLAPSE_SHARE, COLLAPSE_LIFT, COLLAPSE_SKILL),
         emits=("final_loss", "label_entropy", "accuracy", "majority_share", "majority_baseline", "loss_ratio",
                "collapse_loss_ratio", "skill")),
    Rule("training-diverged", "the training loss stayed finite and did not blow up", "dynamics", _diverged,
         (DIVERGE_FINAL, DIVERGE_SPIKE),
         emits=("initial_loss", "final_loss", "final_ratio", "max_loss_ratio", "lr", "nonfinite_step")),
    Rule("vanishing-gradients", "lower encoder layers receive gradients of the same order as the top", "dynamics",
         _vanishing, (VANISHING,),
         emits=("lower_to_top_ratio", "lowest_layer_norm", "top_layer_norm")),
    Rule("still-improving", "the training loss levelled off by the end (not under-trained)", "dynamics",
         _still_improving, (STILL_IMPROVING, STILL_IMPROVING_FLOOR),
         emits=("late_drop", "final_loss", "epochs", "label_entropy", "late_gain", "late_gain_ci_low",
                "late_gain_ci_high", "checkpoint_step", "checkpoint_rows", "checkpoint_accuracy", "end_accuracy")),
    Rule("loss-barely-fell", "the training loss fell well below its initial value", "dynamics", _barely_fell,
         (BARELY_FELL,),
         emits=("initial_loss", "final_loss", "ratio", "lr")),
    Rule("label-noise-suspected", "few training examples have a negative area under the margin", "dynamics",
         _label_noise, (NOISE_SHARE, NOISE_MIN_SKILL, NOISE_AUM_SCALE),
         emits=("flagged", "tracked", "noise_rate", "aum_threshold", "test_accuracy", "majority_baseline",
                "skill", "final_loss")),
    Rule("seed-instability", "fine-tunes differing only in seed agree", "dynamics", _seeds,
         (SEED_STD, SEED_FAILED, COLLAPSE_SKILL),
         emits=("seeds", "mean_accuracy", "std_accuracy", "failed", "failed_share", "min_accuracy", "max_accuracy")),
)
