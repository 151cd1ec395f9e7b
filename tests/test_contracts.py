"""Contract tests, parametrised over every registered probe and rule (after scikit-learn's parametrize_with_checks)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ftaudit.probes.base import Need, Probe
from ftaudit.probes.registry import all_probes, all_rules, all_specs, threshold_defaults
from ftaudit.results import ProbeOutcome, ProbeResult, Severity
from tests import golden

SPECS = all_specs()
PROBES = all_probes()
RULES = all_rules()
KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_probe_declares_itself(probe: type[Probe]):
    assert KEBAB.match(probe.name), probe.name
    assert probe.summary and "\n" not in probe.summary
    assert isinstance(probe.needs, frozenset) and all(isinstance(n, Need) for n in probe.needs)
    assert issubclass(probe.result_type, ProbeResult)
    assert dataclasses.is_dataclass(probe.result_type)
    assert probe.result_type.__dataclass_params__.frozen
    assert probe.result_type.kind != "probe"
    assert probe.__doc__, "one summary line"


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_probe_takes_no_kwargs_and_options_are_declared(probe: type[Probe]):
    for fn in (probe.__init__, probe.run):
        assert not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values())
    if probe.Options is not None:
        assert probe.Options.__dataclass_params__.frozen
        for f in dataclasses.fields(probe.Options):
            assert f.metadata.get("help"), f"{probe.name}.{f.name} has no help text"
        probe(probe.Options())  # defaults are valid
        with pytest.raises(TypeError):
            probe(object())


def test_result_kinds_and_probe_names_are_unique():
    names = [p.name for p in PROBES]
    kinds = [p.result_type.kind for p in PROBES]
    assert len(set(names)) == len(names) and len(set(kinds)) == len(kinds)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_declares_itself(rule):
    assert KEBAB.match(rule.code)
    assert rule.summary and "\n" not in rule.summary
    assert rule.probe in {p.name for p in PROBES}
    for t in rule.thresholds:
        assert re.match(r"^[a-z][a-z0-9_]*$", t.name) and t.help and math.isfinite(t.default)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_reports_skipped_and_crashed_probes(rule):
    threshold = lambda name: threshold_defaults()[name].default  # noqa: E731
    assert rule.evaluate(None, threshold).severity is Severity.SKIP
    skipped = ProbeOutcome(name=rule.probe, status="skipped", reason="no base")
    assert rule.evaluate(skipped, threshold).severity is Severity.SKIP
    crashed = ProbeOutcome(name=rule.probe, status="error", reason="ValueError: boom")
    finding = rule.evaluate(crashed, threshold)
    assert finding.severity is Severity.ERROR and "boom" in finding.message and finding.code == rule.code


def test_rule_codes_are_unique():
    codes = [r.code for r in RULES]
    assert len(set(codes)) == len(codes)


def test_probe_and_renderer_modules_import_without_torch():
    """`ftaudit report` must work on a machine without torch: no probe, rule or renderer imports it at the top."""
    modules = sorted({p.__module__ for p in PROBES} | {r.judge.__module__ for r in RULES}
                     | {s.charts.__module__ for s in SPECS if s.charts is not None}
                     | {"ftaudit.report.html", "ftaudit.report.junit", "ftaudit.report.console", "ftaudit.results",
                        "ftaudit.diagnosis", "ftaudit.cli", "ftaudit.training_run"})
    code = ("import sys\nfor m in ('torch', 'transformers', 'captum', 'safetensors', 'accelerate'):\n"
            "    sys.modules[m] = None\n" + "".join(f"import {m}\n" for m in modules))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_readme_rules_table_matches_the_registry():
    """Every rule is in README's table with its probe and every default threshold, and nothing else is."""
    import re
    from pathlib import Path

    from ftaudit.probes.registry import all_rules

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rows = {}
    for line in readme.splitlines():
        m = re.match(r"^\| `([a-z-]+)`(?: \(opt-in\))? \| `([a-z-]+)` \| [^|]+ \| ([^|]*) \|$", line)
        if m:
            rows[m[2]] = (m[1], dict(re.findall(r"`([a-z_]+)` = ([0-9.e+-]+)", m[3])))
    assert set(rows) == {r.code for r in all_rules()}
    for rule in all_rules():
        probe, thresholds = rows[rule.code]
        assert probe == rule.probe, rule.code
        assert {t.name: float(t.default) for t in rule.thresholds} == \
            {k: float(v) for k, v in thresholds.items()}, rule.code


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_probe_has_a_report_section(spec):
    """Each entry names a section in its folder, and the report's environment loads it by the result's kind."""
    import jinja2

    from ftaudit.report.html import environment, section_name

    assert spec.section is not None and spec.section_source()
    assert isinstance(environment().get_template(section_name(spec.kind)), jinja2.Template)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_an_entry_holds_its_probes_own_rules_and_chart(spec):
    """A folder's entry: the rules judge its probe only, and its chart and section come from its own folder."""
    folder = spec.probe.__module__
    assert all(r.probe == spec.name for r in spec.rules)
    assert {r.judge.__module__ for r in spec.rules} <= {f"{folder}.rules"}
    if spec.charts is not None:
        assert spec.charts.__module__ == f"{folder}.chart"


def test_every_rule_belongs_to_one_registry_entry():
    owners = {r.code: s.name for s in SPECS for r in s.rules}
    assert set(owners) == {r.code for r in RULES}


def test_an_entry_refuses_rules_of_another_probe():
    from ftaudit.probes.gap import GapProbe
    from ftaudit.probes.drift.rules import RULES as DRIFT_RULES
    from ftaudit.probes.spec import ProbeSpec

    with pytest.raises(ValueError, match="encoder-frozen.*another probe"):
        ProbeSpec(GapProbe, rules=DRIFT_RULES)
    with pytest.raises(TypeError):
        ProbeSpec(object)


GOLDEN = golden.whole_results()  # an outline golden holds no probe results
STAND_INS = {"started": "2026-01-01T00:00:00+00:00", "ftaudit_version": "0.0.0", "phases": {}}


def typed(value, key=""):
    """A golden result with its "<volatile>" placeholders replaced by values of the right type (seconds: 1.5)."""
    if value == "<volatile>":
        return STAND_INS.get(key, 1.5)
    if isinstance(value, dict):
        return {k: typed(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v, key) for v in value]
    return value


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_every_probe_result_round_trips_through_json(path):
    """Decoding a whole result.json and encoding it again gives the same JSON (every probe kind in it)."""
    from ftaudit.probes.registry import result_kinds
    from ftaudit.results import from_dict, to_dict

    data = typed(json.loads(path.read_text(encoding="utf-8")))
    kinds = {o["result"]["kind"] for o in data["probes"] if o.get("result")}
    assert kinds, "a golden audit with no probe result checks nothing"
    assert to_dict(from_dict(data, kinds=result_kinds())) == data


def test_a_rule_that_raises_becomes_an_error_finding_and_the_audit_goes_on():
    from ftaudit.config import AuditConfig
    from ftaudit.pipeline import judge, plan
    from ftaudit.results import ProbeOutcome, Severity
    from ftaudit.rules.base import Rule

    def broken(result, threshold):
        raise ZeroDivisionError("division by zero")

    rules = (Rule(code="broken-rule", summary="raises", probe="gap", judge=broken),
             Rule(code="fine-rule", summary="passes", probe="gap", judge=lambda r, t: None))
    the_plan = plan(AuditConfig(), rules=rules)
    findings = judge(the_plan, [ProbeOutcome(name="gap", status="ok", seconds=0.0, result=None)])
    assert [(f.code, f.severity) for f in findings] == [("broken-rule", Severity.ERROR), ("fine-rule", Severity.SKIP)]
    assert "ZeroDivisionError: division by zero" in findings[0].message
    with pytest.raises(ZeroDivisionError):
        judge(the_plan, [ProbeOutcome(name="gap", status="ok", seconds=0.0, result=None)], strict=True)
