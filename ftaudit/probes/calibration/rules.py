"""Rules over the calibration probe: does the model's confidence match its test accuracy?"""

from __future__ import annotations

from ftaudit.probes.calibration import CalibrationResult
from ftaudit.results import Severity
from ftaudit.rules.base import Judgement, Limit, Rule, Threshold, pct

MAX_ECE = Threshold("max_ece", 0.05, "largest expected calibration error on test (Desai & Durrett 2020: a few "
                                     "percent for in-domain fine-tuned BERT)")


def _calibration(r: CalibrationResult, threshold: Limit) -> Judgement:
    limit = threshold(MAX_ECE.name)
    numbers = {"ece": r.ece, "ece_noise": r.ece_noise, "n": r.n, "bins": r.n_bins, "accuracy": r.accuracy,
               "mean_confidence": r.mean_confidence, "max_ece": limit}
    text = (f"ECE {pct(r.ece)} on {r.n} {r.split} examples ({r.n_bins} equal-mass bins; a calibrated model would "
            f"score up to {pct(r.ece_noise)} by chance); mean confidence {pct(r.mean_confidence)} vs accuracy "
            f"{pct(r.accuracy)}")
    if r.ece > limit and r.ece > r.ece_noise:
        side = "over" if r.mean_confidence > r.accuracy else "under"
        return Judgement(Severity.WARN, f"{text}: {side}-confident, above the {pct(limit)} limit", numbers,
                         MAX_ECE.name)
    return Judgement(Severity.PASS, f"{text} (limit {pct(limit)})", numbers, MAX_ECE.name)


RULES = (
    Rule("calibration-poor", "the model's confidence matches its test accuracy", "calibration", _calibration,
         (MAX_ECE,),
         emits=("ece", "ece_noise", "n", "bins", "accuracy", "mean_confidence", "max_ece")),
)
