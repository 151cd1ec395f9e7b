"""Renderers: each takes an AuditResult (or its JSON) and nothing else; none imports torch."""
