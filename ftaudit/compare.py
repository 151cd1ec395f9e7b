"""Compare two audits (a baseline and a candidate): metric changes with intervals, finding and cause changes, a gate.

Paired when both gap probes scored the same test rows (equal content digests): the change in accuracy, macro-F1
and per-class recall gets a paired bootstrap interval over the shared rows, and accuracy an exact McNemar test.
Otherwise each change is unpaired: its interval is the normal approximation from each run's own uncertainty.
Plain data in, frozen dataclasses out; no rendering, no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ftaudit.results import AuditResult, Finding, Severity

N_BOOTSTRAP = 2000
Z95 = 1.959963984540054
DEFAULT_GATE = ("accuracy", "macro_f1", "gap")  # of config.GATE_METRICS
DEFAULT_TOLERANCE = 0.01


@dataclass(frozen=True)
class RunRef:
    """Which audit a side of the comparison is."""

    path: str
    model: str
    started: str
    test: str
    n_test: int | None


@dataclass(frozen=True)
class MetricChange:
    """One metric in both runs; `delta` = new - base, `ci` its 95% interval."""

    metric: str  # gate name: accuracy | macro_f1 | gap | ece | recall
    name: str  # what the reader sees: "test accuracy", "recall of 'negative'"
    base: float | None
    new: float | None
    delta: float | None
    ci: tuple[float, float] | None
    p_value: float | None  # McNemar's exact test (accuracy, paired) else None
    method: str  # how the interval (or noise floor) was found
    outside_noise: bool  # the interval excludes 0 (or |delta| exceeds the noise floor)
    higher_is_better: bool
    gated: bool
    regressed: bool  # gated, worse by more than the tolerance, and outside noise


@dataclass(frozen=True)
class FindingChange:
    probe: str
    code: str
    change: str  # appeared | disappeared | severity
    base: str | None  # severity in the baseline (None: absent)
    new: str | None
    message: str  # the newer message (the baseline's when it disappeared)
    reached_fail_on: bool  # at or above --fail-on now, and was not before


@dataclass(frozen=True)
class CauseChange:
    code: str
    title: str
    change: str  # appeared | disappeared | confidence
    base: float | None  # confidence (None: absent)
    new: float | None


@dataclass(frozen=True)
class Comparison:
    base: RunRef
    new: RunRef
    paired: bool
    pairing: str  # one sentence: why the test sets were (or were not) paired
    tolerance: float
    fail_on: str
    gate: tuple[str, ...]
    metrics: tuple[MetricChange, ...]
    findings: tuple[FindingChange, ...]
    causes: tuple[CauseChange, ...]
    regressions: tuple[str, ...]  # one sentence per reason the gate failed
    passed: bool
    n_bootstrap: int = N_BOOTSTRAP


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class _Rows:
    gold: np.ndarray
    base: np.ndarray
    new: np.ndarray


def _rows(base: AuditResult, new: AuditResult) -> tuple[_Rows | None, str]:
    gb, gn = base.probe("gap"), new.probe("gap")
    if gb is None or gn is None:
        return None, "unpaired: a gap probe result is missing from one run"
    if tuple(gb.labels) != tuple(gn.labels):
        return None, "unpaired: the runs have different label sets"
    if not (gb.test_rows and gn.test_rows and gb.test_predictions and gn.test_predictions):
        return None, "unpaired: a result.json records no per-row test predictions (written by an older ftaudit)"
    if gb.test_rows != gn.test_rows:
        return None, "unpaired: the test sets differ (their content digests do not match)"
    from ftaudit.probes.gap import unpack_ids

    c = len(gb.labels)
    gold = unpack_ids(gb.test_labels, c)
    rows = _Rows(gold=gold, base=unpack_ids(gb.test_predictions, c), new=unpack_ids(gn.test_predictions, c))
    if not (len(gold) == len(rows.base) == len(rows.new) == gb.test.n == gn.test.n):
        return None, "unpaired: the recorded test predictions do not match the test size"
    return rows, f"paired: both runs scored the same {len(gold)} test rows (equal content digests)"


def _confusions(gold: np.ndarray, pred: np.ndarray, idx: np.ndarray, c: int) -> np.ndarray:
    """Confusion matrices [B, C, C] of the resamples idx [B, n]."""
    b = idx.shape[0]
    codes = (gold * c + pred)[idx] + (np.arange(b) * c * c)[:, None]
    return np.bincount(codes.ravel(), minlength=b * c * c).reshape(b, c, c)


def _stats(cm: np.ndarray) -> np.ndarray:
    """[..., 2 + C]: accuracy, macro-F1, recall of each class, from confusion matrices [..., C, C]."""
    from ftaudit.probes.gap import macro_f1

    n = cm.sum(axis=(-2, -1))
    acc = np.trace(cm, axis1=-2, axis2=-1) / n
    gold = cm.sum(axis=-1)
    recall = np.diagonal(cm, axis1=-2, axis2=-1) / np.maximum(gold, 1)
    return np.concatenate([acc[..., None], macro_f1(cm)[..., None], recall], axis=-1)


def _paired(rows: _Rows, c: int, seed: int) -> tuple[np.ndarray, float]:
    """95% paired-bootstrap intervals [2, 2 + C] of the changes in `_stats`, and McNemar's exact p for accuracy.

    Each resample draws n row indices with replacement and scores both runs on the same rows.
    """
    from scipy.stats import binomtest

    n = len(rows.gold)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(N_BOOTSTRAP, 4_000_000 // max(n, 1)))
    deltas = []
    for start in range(0, N_BOOTSTRAP, chunk):
        idx = rng.integers(0, n, size=(min(chunk, N_BOOTSTRAP - start), n))
        deltas.append(_stats(_confusions(rows.gold, rows.new, idx, c)) - _stats(_confusions(rows.gold, rows.base,
                                                                                            idx, c)))
    ci = np.quantile(np.concatenate(deltas), [0.025, 0.975], axis=0)
    right_base, right_new = rows.base == rows.gold, rows.new == rows.gold
    only_base, only_new = int(np.sum(right_base & ~right_new)), int(np.sum(right_new & ~right_base))
    p = binomtest(only_new, only_base + only_new, 0.5).pvalue if only_base + only_new else 1.0
    return ci, float(p)


def _se(ci: Sequence[float]) -> float:
    return (ci[1] - ci[0]) / (2 * Z95)


def _unpaired(delta: float, se_base: float, se_new: float) -> tuple[float, float]:
    half = Z95 * math.hypot(se_base, se_new)
    return delta - half, delta + half


def _change(metric: str, name: str, base: float | None, new: float | None, ci: tuple[float, float] | None,
            method: str, *, higher_is_better: bool, gate: Sequence[str], tolerance: float,
            p_value: float | None = None, noise: float | None = None) -> MetricChange:
    delta = None if base is None or new is None else new - base
    if delta is None:
        outside = False
    elif ci is not None:
        outside = ci[0] > 0 or ci[1] < 0
    else:
        outside = noise is not None and abs(delta) > noise
    worse = delta is not None and (-delta if higher_is_better else delta) > tolerance
    gated = metric in gate
    return MetricChange(metric=metric, name=name, base=base, new=new, delta=delta,
                        ci=None if ci is None else (float(ci[0]), float(ci[1])), p_value=p_value, method=method,
                        outside_noise=bool(outside), higher_is_better=higher_is_better, gated=gated,
                        regressed=bool(gated and worse and outside))


def _metrics(base: AuditResult, new: AuditResult, rows: _Rows | None, *, gate: Sequence[str], tolerance: float,
             seed: int) -> tuple[MetricChange, ...]:
    gb, gn = base.probe("gap"), new.probe("gap")
    if gb is None or gn is None:
        return ()
    kw = {"gate": gate, "tolerance": tolerance}
    tb, tn = gb.test, gn.test
    labels = tuple(gb.labels) if tuple(gb.labels) == tuple(gn.labels) else ()
    unpaired = "unpaired: normal approximation from each run's bootstrap interval"
    out: list[MetricChange] = []
    if rows is not None:
        ci, p = _paired(rows, len(labels), seed)
        how = f"paired bootstrap over the shared test rows ({N_BOOTSTRAP} resamples)"
        out.append(_change("accuracy", "test accuracy", tb.accuracy, tn.accuracy, tuple(ci[:, 0]),
                           how + "; McNemar's exact test", higher_is_better=True, p_value=p, **kw))
        out.append(_change("macro_f1", "test macro-F1", tb.macro_f1, tn.macro_f1, tuple(ci[:, 1]), how,
                           higher_is_better=True, **kw))
        recall_ci = [tuple(ci[:, 2 + k]) for k in range(len(labels))]
        recall_how = how
    else:
        for metric, name in (("accuracy", "test accuracy"), ("macro_f1", "test macro-F1")):
            b, n = getattr(tb, metric), getattr(tn, metric)
            ci_m = _unpaired(n - b, _se(getattr(tb, metric + "_ci")), _se(getattr(tn, metric + "_ci")))
            out.append(_change(metric, name, b, n, ci_m, unpaired, higher_is_better=True, **kw))
        recall_ci = []
        for k in range(len(labels)):
            pair = (tb.per_class[k], tn.per_class[k])
            se = [math.sqrt(r.recall * (1 - r.recall) / r.support) if r.support else math.inf for r in pair]
            recall_ci.append(_unpaired(pair[1].recall - pair[0].recall, *se) if all(map(math.isfinite, se))
                             else None)
        recall_how = "unpaired: normal approximation (binomial, each run)"
    gap_ci = _unpaired(gn.accuracy_gap - gb.accuracy_gap, _se(gb.accuracy_gap_ci), _se(gn.accuracy_gap_ci))
    out.append(_change("gap", "train − test accuracy gap", gb.accuracy_gap, gn.accuracy_gap, gap_ci,
                       unpaired + " (the two train sets need not match)", higher_is_better=False, **kw))
    out.append(_ece(base, new, tb.ece, tn.ece, **kw))
    for k, label in enumerate(labels):
        out.append(_change("recall", f"recall of {label!r}", tb.per_class[k].recall, tn.per_class[k].recall,
                           recall_ci[k], recall_how, higher_is_better=True, **kw))
    return tuple(out)


def _ece(base: AuditResult, new: AuditResult, ece_base: float, ece_new: float, *, gate: Sequence[str],
         tolerance: float) -> MetricChange:
    """ECE has no interval; its change is outside noise past the larger noise floor of the calibration probes."""
    cb, cn = base.probe("calibration"), new.probe("calibration")
    if cb is not None and cn is not None:
        noise = max(cb.ece_noise, cn.ece_noise)
        how = (f"noise floor: the larger of the two runs' calibrated-model 95th percentiles ({100 * noise:.1f}%); "
               "no per-row confidences are recorded, so not paired")
    else:
        noise, how = None, "no noise floor: the calibration probe did not run in both audits"
    return _change("ece", "test ECE (calibration error)", ece_base, ece_new, None, how, higher_is_better=False,
                   gate=gate, tolerance=tolerance, noise=noise)


# --------------------------------------------------------------------------- findings and causes


def _keyed(findings: Sequence[Finding]) -> dict[tuple[str, str, int], Finding]:
    """Findings by (probe, code, n-th occurrence): a rule may report more than once."""
    seen: dict[tuple[str, str], int] = {}
    out = {}
    for f in findings:
        n = seen.get((f.probe, f.code), 0)
        seen[(f.probe, f.code)] = n + 1
        out[(f.probe, f.code, n)] = f
    return out


def _finding_changes(base: AuditResult, new: AuditResult, fail_on: Severity) -> tuple[FindingChange, ...]:
    """A finding is a problem (warn, fail, error) in one run or both; passes and skips are not news."""
    problem = (Severity.WARN, Severity.FAIL, Severity.ERROR)
    kb = {k: f for k, f in _keyed(base.findings).items() if f.severity in problem}
    kn = {k: f for k, f in _keyed(new.findings).items() if f.severity in problem}
    out = []
    for key in [*kn, *(k for k in kb if k not in kn)]:
        fb, fn = kb.get(key), kn.get(key)
        if fb is not None and fn is not None and fb.severity is fn.severity:
            continue
        change = "appeared" if fb is None else "disappeared" if fn is None else "severity"
        reached = fn is not None and fn.severity.rank >= fail_on.rank and (fb is None or fb.severity.rank <
                                                                              fail_on.rank)
        out.append(FindingChange(probe=key[0], code=key[1], change=change,
                                 base=None if fb is None else fb.severity.value,
                                 new=None if fn is None else fn.severity.value,
                                 message=(fn or fb).message, reached_fail_on=reached))
    return tuple(out)


def _cause_changes(base: AuditResult, new: AuditResult) -> tuple[CauseChange, ...]:
    cb = {c.code: c for c in base.diagnosis.root_causes}
    cn = {c.code: c for c in new.diagnosis.root_causes}
    out = []
    for code in [*cn, *(c for c in cb if c not in cn)]:
        b, n = cb.get(code), cn.get(code)
        if b is not None and n is not None and abs(b.confidence - n.confidence) < 0.05:
            continue
        change = "appeared" if b is None else "disappeared" if n is None else "confidence"
        out.append(CauseChange(code=code, title=(n or b).title or code, change=change,
                               base=None if b is None else b.confidence, new=None if n is None else n.confidence))
    return tuple(out)


# --------------------------------------------------------------------------- the comparison


def _ref(result: AuditResult, path: str) -> RunRef:
    gap = result.probe("gap")
    return RunRef(path=path, model=result.run.model, started=result.run.started, test=result.run.test,
                  n_test=None if gap is None else gap.test.n)


def _pct(x: float) -> str:
    return f"{100 * x:+.1f} points"


def compare(base: AuditResult, new: AuditResult, *, base_path: str = "", new_path: str = "",
            tolerance: float = DEFAULT_TOLERANCE, fail_on: str = "fail", gate: Sequence[str] = DEFAULT_GATE,
            seed: int = 0) -> Comparison:
    """The comparison of `new` against `base`; it fails when a gated metric regressed or a finding reached fail_on.

    A metric regressed when it got worse by more than `tolerance` (absolute, e.g. 0.01 = 1 point) and the change
    is outside noise (its 95% interval excludes 0).
    """
    rows, pairing = _rows(base, new)
    metrics = _metrics(base, new, rows, gate=tuple(gate), tolerance=tolerance, seed=seed)
    findings = _finding_changes(base, new, Severity(fail_on))
    reasons = [f"{m.name} went from {100 * m.base:.1f}% to {100 * m.new:.1f}% ({_pct(m.delta)}, "
               f"95% CI {_pct(m.ci[0]) if m.ci else 'n/a'} to {_pct(m.ci[1]) if m.ci else 'n/a'}), worse than the "
               f"{100 * tolerance:.1f}-point tolerance and outside noise"
               for m in metrics if m.regressed]
    reasons += [f"{f.code} ({f.probe}) is {f.new} now (was {f.base or 'absent'}), at or above --fail-on {fail_on}"
                for f in findings if f.reached_fail_on]
    return Comparison(base=_ref(base, base_path), new=_ref(new, new_path), paired=rows is not None, pairing=pairing,
                      tolerance=tolerance, fail_on=fail_on, gate=tuple(gate), metrics=metrics, findings=findings,
                      causes=_cause_changes(base, new), regressions=tuple(reasons), passed=not reasons)
