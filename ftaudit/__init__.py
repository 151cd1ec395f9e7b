"""ftaudit: tells you why a fine-tune of a BERT-style text classifier failed, and fails CI when it generalizes badly.

`ftaudit.audit(...)` is the Python API (see `ftaudit.api`); it and `AuditResult` load on first use, so that
`import ftaudit` stays cheap and torch-free.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["AuditResult", "audit", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "audit":
        from ftaudit.api import audit

        return audit
    if name == "AuditResult":
        from ftaudit.results import AuditResult

        return AuditResult
    raise AttributeError(f"module 'ftaudit' has no attribute {name!r}")
