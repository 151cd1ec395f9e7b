"""JUnit XML: one testcase per rule, so CI systems show each gate by name.

Each testcase carries the finding's numbers as <properties> (as pytest's `record_property` writes them) and a
time: its probe's wall time shared among the probe's findings, so the testcase times add up to the probes' time
(the whole probe time is the property `ftaudit.probe_seconds`).
"""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

from ftaudit.results import AuditResult, Finding, Severity


def _value(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _properties(case: ET.Element, finding: Finding, probe_seconds: float) -> None:
    props = ET.SubElement(case, "properties")
    rows = [("ftaudit.severity", finding.severity.value), ("ftaudit.probe_seconds", f"{probe_seconds:.3f}")]
    if finding.threshold_name:
        rows.append((f"threshold.{finding.threshold_name}", _value(finding.threshold)))
    rows += [(str(k), _value(v)) for k, v in finding.numbers.items()]
    for name, value in rows:
        ET.SubElement(props, "property", name=name, value=value)


# What XML 1.0 allows (https://www.w3.org/TR/xml/#charsets); the rest is written as #xHH, as pytest's junitxml does.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str | None) -> str | None:
    """`text` with every character XML 1.0 forbids (control characters, lone surrogates, U+FFFE/U+FFFF) as #xHH."""
    if text is None:
        return None
    return _NOT_XML.sub(lambda m: f"#x{ord(m.group()):02X}", text)


def render_junit(result: AuditResult) -> str:
    """A <testsuite> named ftaudit; fail and error findings fail at any --fail-on, warn fails only with warn."""
    level = Severity(result.gate.fail_on)
    suite = ET.Element("testsuite", name="ftaudit", timestamp=result.run.started,
                       time=f"{result.run.seconds:.3f}")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    per_probe = {o.name: sum(f.probe == o.name for f in result.findings) for o in result.probes}
    for f in result.findings:
        counts["tests"] += 1
        outcome = result.outcome(f.probe)
        seconds = outcome.seconds if outcome is not None else 0.0
        case = ET.SubElement(suite, "testcase", classname=f"ftaudit.{f.probe}", name=f.code,
                             time=f"{seconds / max(per_probe.get(f.probe, 1), 1):.3f}")
        _properties(case, f, seconds)
        if f.severity is Severity.SKIP:
            ET.SubElement(case, "skipped", message=f.message)
            counts["skipped"] += 1
        elif f.severity is Severity.ERROR:
            ET.SubElement(case, "error", message=f.message, type="probe-error").text = f.message
            counts["errors"] += 1
        elif f.severity in (Severity.WARN, Severity.FAIL) and f.severity.rank >= level.rank:
            node = ET.SubElement(case, "failure", message=f.message, type=f.severity.value)
            node.text = "\n".join([f.message, *(f"{k} = {v}" for k, v in f.numbers.items())])
            counts["failures"] += 1
        else:
            ET.SubElement(case, "system-out").text = f"[{f.severity.value}] {f.message}"
    for key, value in counts.items():
        suite.set(key, str(value))
    props = ET.Element("properties")
    ET.SubElement(props, "property", name="verdict", value=result.diagnosis.verdict)
    suite.insert(0, props)
    for node in suite.iter():  # labels and exception texts may hold ANSI escapes or NUL: not XML 1.0
        node.text, node.tail = xml_safe(node.text), xml_safe(node.tail)
        for key, value in node.attrib.items():
            node.set(key, xml_safe(value))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
