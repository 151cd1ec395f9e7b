"""Rules over attributions: a shortcut token confirmed by deletion; attributions that miss completeness."""

from __future__ import annotations

from typing import Callable

from ftaudit.probes.attribution import AttributionResult, DeletionTest, ShortcutCandidate
from ftaudit.results import Severity
from ftaudit.rules.base import Judgement, Rule, Threshold, pct

MIN_RATIO = Threshold("min_shortcut_association_ratio", 4.0,
                      "a shortcut's mutual information with the label, over the 10th-largest of any word, is at "
                      "least this (its label association is far above the rest)")
MIN_SHARE = Threshold("min_shortcut_attribution_share", 0.05,
                      "a shortcut takes at least this mean share of the attribution mass where it occurs")
MIN_DROP = Threshold("min_shortcut_deletion_drop", 0.10,
                     "deleting a shortcut lowers the predicted class's probability by at least this much more than "
                     "deleting a random other word (mean over the inputs that contain it)")
MIN_DELETION = Threshold("min_shortcut_deletion_n", 5, "a deletion test needs at least this many inputs that "
                         "contain the word: with fewer it cannot confirm a shortcut")
MAX_INCOMPLETE = Threshold("max_attribution_incomplete_share", 0.05,
                           "largest share of attributed examples whose integrated gradients still miss the "
                           "completeness tolerance after the steps were raised")


def evidence(c: ShortcutCandidate, min_n: float = MIN_DELETION.default) -> DeletionTest | None:
    """The deletion test that decides: on test when at least `min_n` test inputs contain the word, else on train."""
    usable = [d for d in c.deletions if d.n >= min_n]
    return usable[0] if usable else None


def _shortcut(r: AttributionResult, threshold: Callable[[str], float]) -> Judgement | None:
    if not r.candidates:
        return None
    ratio, share, drop = threshold(MIN_RATIO.name), threshold(MIN_SHARE.name), threshold(MIN_DROP.name)
    min_n = threshold(MIN_DELETION.name)
    confirmed = []
    for c in r.candidates:
        d = evidence(c, min_n)
        if (c.stat.association_ratio >= ratio and c.stat.attribution_share >= share and d is not None
                and d.confidence_drop - d.control_confidence_drop >= drop):
            confirmed.append((c, d))
    if confirmed:
        c, d = confirmed[0]
        s = c.stat
        numbers = {"token": s.word, "label": s.label, "train_df": s.train_df, "p_label": s.p_label, "pmi": s.pmi,
                   "mutual_information": s.mutual_information, "association_ratio": s.association_ratio,
                   "attribution_share": s.attribution_share, "deletion_split": d.split, "deletion_n": d.n,
                   # 0 when too few test inputs hold the token, so deletion was tested on train: test lacks it
                   "in_test": 1 if d.split == "test" else 0, "flip_rate": d.flip_rate, "confidence_drop": d.confidence_drop,
                   "control_confidence_drop": d.control_confidence_drop, "confirmed": len(confirmed),
                   "min_shortcut_deletion_drop": drop}
        others = "" if len(confirmed) == 1 else \
            f"; also {', '.join(repr(x.stat.word) for x, _ in confirmed[1:])}"
        return Judgement(Severity.FAIL,
                         f"the model reads {s.word!r} as a shortcut for {s.label!r}: it occurs in {s.train_df} "
                         f"training examples, {pct(s.p_label)} of them {s.label!r} (mutual information "
                         f"{s.association_ratio:.1f}x the 10th-strongest word's), takes {pct(s.attribution_share)} "
                         f"of the attribution where it occurs, and deleting it from {d.n} {d.split} inputs flips "
                         f"{pct(d.flip_rate)} of the predictions and lowers their confidence by "
                         f"{pct(d.confidence_drop)} (a random word: {pct(d.control_confidence_drop)}){others}",
                         numbers, MIN_DROP.name)
    c = r.candidates[0]
    s, d = c.stat, evidence(c, min_n)
    numbers = {"token": s.word, "label": s.label, "association_ratio": s.association_ratio,
               "attribution_share": s.attribution_share, "min_shortcut_association_ratio": ratio,
               "min_shortcut_attribution_share": share, "min_shortcut_deletion_drop": drop}
    why = []
    if s.association_ratio < ratio:
        why.append(f"its label association is {s.association_ratio:.1f}x the 10th-strongest word's (a shortcut "
                   f"needs {ratio:g}x)")
    if s.attribution_share < share:
        why.append(f"it takes {pct(s.attribution_share)} of the attribution (a shortcut needs {pct(share)})")
    if d is None:
        why.append(f"fewer than {min_n:g} inputs contain it, too few to test by deletion")
    else:
        numbers.update({"deletion_split": d.split, "deletion_n": d.n, "confidence_drop": d.confidence_drop,
                        "control_confidence_drop": d.control_confidence_drop, "flip_rate": d.flip_rate})
        if d.confidence_drop - d.control_confidence_drop < drop:
            why.append(f"deleting it from {d.n} {d.split} inputs lowers the confidence by "
                       f"{pct(d.confidence_drop)} vs {pct(d.control_confidence_drop)} for a random word")
    return Judgement(Severity.PASS, f"no shortcut token: the top candidate {s.word!r} ({s.label!r}, "
                                    f"p={s.p_label:.2f} in {s.train_df} training examples) is not one: "
                                    + "; ".join(why), numbers, MIN_DROP.name)


def _incomplete(r: AttributionResult, threshold: Callable[[str], float]) -> Judgement | None:
    if r.items == 0:
        return None
    limit = threshold(MAX_INCOMPLETE.name)
    missing = 1 - r.within_tolerance
    numbers = {"items": r.items, "share_missing": missing, "share_missing_initial": 1 - r.within_tolerance_initial,
               "tolerance": r.tolerance, "initial_steps": r.initial_steps, "max_steps": r.max_steps,
               "mean_steps": r.mean_steps, "max_attribution_incomplete_share": limit}
    text = (f"{pct(missing)} of {r.items} attributions miss completeness by more than {pct(r.tolerance)} after "
            f"raising the steps from {r.initial_steps} to at most {r.max_steps} ({pct(1 - r.within_tolerance_initial)} "
            f"missed at {r.initial_steps} steps)")
    if missing > limit:
        return Judgement(Severity.WARN, f"{text}: above the {pct(limit)} limit, so token attributions are "
                                        "approximate (raise --attribution-max-steps)", numbers, MAX_INCOMPLETE.name)
    return Judgement(Severity.PASS, f"{text}: within the {pct(limit)} limit", numbers, MAX_INCOMPLETE.name)


RULES = (
    Rule("shortcut-token", "no token acts as a label shortcut (confirmed by deletion)", "attribution", _shortcut,
         (MIN_RATIO, MIN_SHARE, MIN_DROP, MIN_DELETION),
         emits=("token", "label", "association_ratio", "attribution_share", "min_shortcut_association_ratio",
                "min_shortcut_attribution_share", "min_shortcut_deletion_drop", "train_df", "p_label", "pmi",
                "mutual_information", "deletion_split", "deletion_n", "in_test", "flip_rate", "confidence_drop",
                "control_confidence_drop", "confirmed")),
    Rule("attribution-incomplete", "integrated gradients meet the completeness check", "attribution", _incomplete,
         (MAX_INCOMPLETE,),
         emits=("items", "share_missing", "share_missing_initial", "tolerance", "initial_steps", "max_steps",
                "mean_steps", "max_attribution_incomplete_share")),
)
