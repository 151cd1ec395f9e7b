"""Rules over the truncation probe: how much of each split --max-length cuts.

It also emits what the defect measurably cost (`impact`, `impact_ci_low`, `impact_ci_high`: the accuracy
difference that supports the cause, positive when it does), and what the cut removes from the data whatever the model
did (`information_loss`: a bag-of-words classifier's test accuracy from the cut texts to the whole ones, with its
interval), for the diagnosis to require one of them.
"""

from __future__ import annotations

from ftaudit.probes.truncation import TruncationResult
from ftaudit.stats import PairedGain
from ftaudit.results import Severity
from ftaudit.rules.base import IMPACT_KEYS, Judgement, Limit, Rule, Threshold, impact_numbers, impact_text, pct

MAX_TRUNCATED = Threshold("max_truncated_share", 0.05, "largest share of examples in a split longer than "
                                                       "--max-length before warning")
MAX_TOKENS_CUT = Threshold("max_truncated_tokens_share", 0.2, "largest share of a split's tokens cut by "
                                                              "--max-length before failing")


INFORMATION_KEYS = ("information_loss", "information_loss_ci_low", "information_loss_ci_high",
                    "information_cut_accuracy", "information_whole_accuracy")


def information_numbers(g: PairedGain | None) -> dict[str, float | None]:
    if g is None:
        return dict.fromkeys(INFORMATION_KEYS)
    return dict(zip(INFORMATION_KEYS, (g.gain, *g.gain_ci, g.before, g.after)))


def information_text(g: PairedGain | None) -> str:
    if g is None:
        return ""
    lo, hi = g.gain_ci
    return (f"; a bag-of-words classifier scores {pct(g.after)} on the whole test texts vs {pct(g.before)} on the cut "
            f"ones: {g.gain * 100:+.1f} points (90% CI {lo * 100:+.1f} to {hi * 100:+.1f})")


def _truncation(r: TruncationResult, threshold: Limit) -> Judgement | None:
    if not r.splits:
        return None
    warn, fail = threshold(MAX_TRUNCATED.name), threshold(MAX_TOKENS_CUT.name)
    worst = max(r.splits, key=lambda s: (s.tokens_cut_share, s.truncated_share, s.split))
    numbers = {"split": worst.split, "max_length": r.max_length, "truncated": worst.truncated, "n": worst.n,
               "truncated_share": worst.truncated_share, "tokens_cut_share": worst.tokens_cut_share,
               "max_truncated_share": warn, "max_truncated_tokens_share": fail,
               "impact_basis": r.impact_basis or None, **impact_numbers(r.impact),
               **information_numbers(r.information)}
    text = (f"--max-length {r.max_length} cuts {worst.truncated} of {worst.n} {worst.split} examples "
            f"({pct(worst.truncated_share)}) and {pct(worst.tokens_cut_share)} of their tokens")
    cost = ""
    if r.impact is not None:
        names = {"cut-vs-uncut": ("cut test examples", "uncut ones"),
                 "more-vs-less-cut": ("the more-cut half of test", "the less-cut half")}[r.impact_basis]
        cost = "; " + impact_text(r.impact, *names)
    cost += information_text(r.information)
    if worst.tokens_cut_share > fail:
        return Judgement(Severity.FAIL, f"{text}: over {pct(fail)} of the text never reaches the model{cost}",
                         numbers, MAX_TOKENS_CUT.name)
    if max(s.truncated_share for s in r.splits) > warn:
        worst = max(r.splits, key=lambda s: (s.truncated_share, s.split))
        return Judgement(Severity.WARN, f"--max-length {r.max_length} cuts {pct(worst.truncated_share)} of "
                                        f"{worst.split} examples, above {pct(warn)}{cost}", numbers,
                         MAX_TRUNCATED.name)
    return Judgement(Severity.PASS, f"{text}; within {pct(warn)} of examples{cost}", numbers, MAX_TRUNCATED.name)


RULES = (
    Rule("truncation-heavy", "--max-length keeps most of every split's text", "truncation", _truncation,
         (MAX_TRUNCATED, MAX_TOKENS_CUT),
         emits=("split", "max_length", "truncated", "n", "truncated_share", "tokens_cut_share", "max_truncated_share",
                "max_truncated_tokens_share", "impact_basis", *IMPACT_KEYS, *INFORMATION_KEYS)),
)
