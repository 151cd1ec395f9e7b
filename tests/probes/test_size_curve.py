"""SizeCurveProbe on the tiny fine-tune: a 1-layer model made from the 2-layer base, compared paired."""

from __future__ import annotations

import json

import pytest

from fixtures import curves
from ftaudit.errors import UsageError
from ftaudit.probes.size_curve import Options, SizeCurveProbe, SizeCurveResult, default_depths
from ftaudit.results import ProbeOutcome, Severity, _decode_dataclass, _encode
from ftaudit.probes.size_curve.rules import RULES


def test_default_depths_are_a_quarter_and_a_half():
    assert default_depths(12) == [3, 6]
    assert default_depths(6) == [1, 3]
    assert default_depths(2) == [1]
    assert default_depths(1) == []


def test_size_curve_on_the_tiny_model(tiny, tmp_path_factory):
    ctx = curves.fine_tune_context(tiny, tmp_path_factory.mktemp("ft"))
    r = SizeCurveProbe(Options()).run(ctx)
    assert [m.name for m in r.models] == ["1 layer", "2 layers"] and r.reference == "2 layers"
    small, full = r.models
    assert small.parameters < full.parameters and small.layers == 1
    assert full.diff == 0.0 and full.test_accuracy == pytest.approx(float(ctx.predictions("test").correct.mean()))
    assert small.diff == pytest.approx(small.test_accuracy - full.test_accuracy)
    assert small.diff_ci[0] <= small.diff <= small.diff_ci[1]
    assert [p.source for p in r.points][-1] == "main fine-tune"
    assert r.points[0].schedule == r.points[1].schedule  # the same fine-tune, only the depth differs
    data = json.loads(json.dumps(_encode(r), allow_nan=False))
    assert _decode_dataclass(SizeCurveResult, data) == r
    rule = next(x for x in RULES if x.code == "model-too-large")
    finding = rule.evaluate(ProbeOutcome(name="size-curve", status="ok", result=r), {"model_size_tolerance": 0.01}
                            .__getitem__)
    assert finding.severity in (Severity.PASS, Severity.WARN) and "1 layer " in finding.message


def test_depths_must_be_below_the_base(tiny, tmp_path_factory):
    ctx = curves.fine_tune_context(tiny, tmp_path_factory.mktemp("ft"))
    with pytest.raises(UsageError, match="not below"):
        SizeCurveProbe(Options(layers=(2,))).run(ctx)
    with pytest.raises(UsageError):
        Options(layers=(2,), compare_models=("x",)).validate()
