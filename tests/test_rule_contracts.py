"""Contracts between the rules and the diagnosis table: the numbers a rule emits are declared, and every condition
in causes.toml compares numbers that its rule emits (a renamed key would otherwise switch its row off silently)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fixtures import curves
from ftaudit.diagnosis import Table, diagnose, load_table, parse_table
from ftaudit.results import Finding, ProbeOutcome, Severity
from ftaudit.probes.registry import all_rules, threshold_defaults
from tests import golden

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RULES = {r.code: r for r in all_rules()}


def undeclared_numbers(table: Table) -> list[str]:
    """Every number condition whose left side (or a non-literal right side) is not a number its rule emits."""
    problems = []
    for ev in table.evidence:
        for c in ev.when:
            if not c.left:
                continue
            emits = RULES[c.finding].emits if c.finding in RULES else ()
            if c.left not in emits:
                problems.append(f"{c.text!r}: {c.finding} does not emit {c.left!r}")
            if c.right not in emits and c.constant is None:
                try:
                    float(c.right)
                except ValueError:
                    problems.append(f"{c.text!r}: {c.right!r} is neither emitted, a [constants] name nor a number")
    return problems


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_rule_declares_the_numbers_it_emits(code):
    emits = RULES[code].emits
    assert emits and len(set(emits)) == len(emits)


def test_every_condition_in_causes_toml_names_an_emitted_number():
    assert undeclared_numbers(load_table()) == []


def test_a_condition_on_a_number_no_rule_emits_is_caught():
    raw = tomllib.loads((Path(__file__).parents[1] / "ftaudit" / "causes.toml").read_text(encoding="utf-8"))
    raw["evidence"].append({"cause": "overfitting", "when": ["gap-too-large: gap_estimate > max_gap"], "weight": 1.0,
                            "why": "a key the gap rule does not emit"})
    raw["evidence"].append({"cause": "overfitting", "when": ["gap-too-large: gap > big_gap"], "weight": 1.0,
                            "why": "an undefined constant"})
    problems = undeclared_numbers(parse_table(raw))
    assert len(problems) == 2 and "gap_estimate" in problems[0] and "big_gap" in problems[1]


def _golden_findings() -> list[dict]:
    return [f for path in golden.whole_results() for f in json.loads(path.read_text(encoding="utf-8"))["findings"]]


def test_golden_findings_carry_only_declared_numbers():
    findings = _golden_findings()
    assert len({f["code"] for f in findings}) >= 20  # the goldens exercise most rules
    for f in findings:
        extra = set(f["numbers"]) - set(RULES[f["code"]].emits)
        assert not extra, f"{f['code']} emits undeclared numbers {sorted(extra)}"


@pytest.mark.parametrize("result", [curves.learning_curve(0.9, 2.0, 0.5), curves.learning_curve(0.8, 0.0, 0.5),
                                    curves.size_curve([0.80, 0.85, 0.86]), curves.lr_range(1e-3),
                                    curves.lr_range(3e-5, run_steps=90.0)], ids=lambda r: type(r).kind)
def test_curve_findings_carry_only_declared_numbers(result):
    defaults = {name: t.default for name, t in threshold_defaults().items()}
    probe = {"learning_curve": "learning-curve", "size_curve": "size-curve", "lr_range": "lr-range"}[result.kind]
    for rule in (r for r in all_rules() if r.probe == probe):
        f = rule.evaluate(ProbeOutcome(name=probe, status="ok", result=result), defaults.__getitem__)
        assert set(f.numbers) <= set(rule.emits), (rule.code, sorted(set(f.numbers) - set(rule.emits)))


def _finding(code: str, severity: Severity, **numbers: float) -> Finding:
    return Finding(code=code, severity=severity, message=code, probe=RULES[code].probe, numbers=numbers)


def test_a_named_constant_moves_every_row_that_names_it():
    raw = tomllib.loads((Path(__file__).parents[1] / "ftaudit" / "causes.toml").read_text(encoding="utf-8"))
    findings = [_finding("training-collapsed", Severity.FAIL), _finding("drift-too-large", Severity.PASS,
                                                                       relative_drift=5e-4)]

    def score(moved: float) -> float:
        table = parse_table({**raw, "constants": {**raw["constants"], "encoder_moved_drift": moved}})
        return sum(ev.weight or 0.0 for ev in table.evidence if ev.finding is None and
                   any(c.right == "encoder_moved_drift" for c in ev.when) and
                   ev.contribution({f.code: f for f in findings}) is not None)

    assert score(1e-3) != 0.0  # 5e-4 < 0.001: the encoder did not clearly move
    assert score(1e-4) == 0.0  # 5e-4 >= 1e-4: it did
    assert diagnose(findings).root_causes  # the table still diagnoses with its own constant
