"""JUnit XML: one testcase per rule, so CI systems show each gate by name."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from ftaudit.results import AuditResult, Severity


def render_junit(result: AuditResult) -> str:
    """A <testsuite> named ftaudit; fail and error findings fail at any --fail-on, warn fails only with warn."""
    level = Severity(result.gate.fail_on)
    suite = ET.Element("testsuite", name="ftaudit", timestamp=result.run.started,
                       time=f"{result.run.seconds:.3f}")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for f in result.findings:
        counts["tests"] += 1
        case = ET.SubElement(suite, "testcase", classname=f"ftaudit.{f.probe}", name=f.code)
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
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
