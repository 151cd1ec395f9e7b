"""Rules over the model-size curve: does a smaller model generalize as well as the full one?"""

from __future__ import annotations

from typing import Callable

from ftaudit.probes.size_curve import SizeCurveResult
from ftaudit.results import Severity
from ftaudit.rules.base import Judgement, Rule, Threshold, pct
from ftaudit.rules.shared import ci_points, signed_points

SIZE_TOLERANCE = Threshold("model_size_tolerance", 0.01, "a smaller model whose test accuracy is within this of "
                                                         "the full model's generalizes as well")


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
                                        f"{ref.name} ({ref.parameters / 1e6:.1f}M): {signed_points(m.diff)} "
                                        f"({ci_points(*m.diff_ci)}); the smaller model generalizes as well, so "
                                        "the full model is larger than this data needs", numbers,
                         SIZE_TOLERANCE.name)
    parts = ", ".join(f"{m.name} {signed_points(m.diff)}" for m in smaller)
    return Judgement(Severity.PASS, f"every smaller model generalizes worse than {ref.name} "
                                    f"({pct(ref.test_accuracy)}) by more than {100 * tol:.1f} points ({parts}): "
                                    "capacity helps here", numbers, SIZE_TOLERANCE.name)


RULES = (
    Rule("model-too-large", "no smaller model generalizes as well as the full one", "size-curve", _model_too_large,
         (SIZE_TOLERANCE,),
         emits=("reference", "reference_test_accuracy", "model_size_tolerance", "model", "test_accuracy", "difference",
                "difference_ci_low", "difference_ci_high", "parameters", "reference_parameters")),
)
