"""Architecture matrix: every probe on a tiny random base of each architecture, fine-tuned and audited end to end.

    python bench/architectures.py [--only bert,roberta] [--keep DIR]

For each base of fixtures/architectures.py it runs `ftaudit run --fine-tune` in-process with every default and
opt-in probe on small budgets (`fixtures.architectures.AUDIT_ARGS`, the matrix test's) on small splits of the tiny
sentiment data (`write_data`),
and prints one row: the exit code and probe errors, the drift groups of the encoder, the share of attributions
within the completeness tolerance at the first step count and after raising the steps, the mean IG steps, what
the size curve did, and the wall time of the audit (fine-tune included).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def audit(base: Path, data: dict[str, Path], out: Path) -> tuple[int, float, dict]:
    from fixtures.architectures import AUDIT_ARGS
    from ftaudit.cli import main

    start = time.perf_counter()
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        code = main(["run", "--fine-tune", "--base", str(base), "--train", str(data["train"]), "--test",
                     str(data["test"]), *AUDIT_ARGS, "--out", str(out), "--quiet"])
    seconds = time.perf_counter() - start
    return int(code), seconds, json.loads((out / "result.json").read_text())


def row(name: str, kind: str, code: int, seconds: float, result: dict) -> dict:
    probes = {p["name"]: p for p in result["probes"]}
    errors = [n for n, p in probes.items() if p["status"] == "error"]
    drift = (probes["drift"].get("result") or {}).get("layers", [])
    encoder = [g["layer"] for g in drift if g["layer"].startswith("layer")]
    attr = probes["attribution"].get("result") or {}
    size = probes["size-curve"]
    if size["status"] == "ok":
        curve = ", ".join(f"{m['name']} {100 * m['test_accuracy']:.0f}%" for m in size["result"]["models"])
    else:
        curve = f"{size['status']}: {size.get('reason', '')}"
    gap = probes["gap"].get("result") or {}
    return {"architecture": name, "tokenizer": kind, "exit": code, "errors": errors,
            "test_accuracy": (gap.get("test") or {}).get("accuracy"), "encoder_groups": encoder,
            "other_groups": [g["layer"] for g in drift if not g["layer"].startswith("layer")],
            "complete_initial": attr.get("within_tolerance_initial"), "complete": attr.get("within_tolerance"),
            "mean_steps": attr.get("mean_steps"), "size_curve": curve, "seconds": seconds}


def markdown(rows: list[dict]) -> str:
    lines = ["| architecture | tokenizer | audit ok | test acc. | drift groups (encoder) | complete at 16 steps "
             "| complete | mean IG steps | size curve | s / audit |", "|---" * 10 + "|"]
    for r in rows:
        ok = "yes" if r["exit"] in (0, 1) and not r["errors"] else f"**no** (exit {r['exit']}, {r['errors']})"
        acc = "-" if r["test_accuracy"] is None else f"{100 * r['test_accuracy']:.0f}%"
        pct = [("-" if v is None else f"{100 * v:.0f}%") for v in (r["complete_initial"], r["complete"])]
        steps = "-" if r["mean_steps"] is None else f"{r['mean_steps']:.1f}"
        lines.append(f"| {r['architecture']} | {r['tokenizer']} | {ok} | {acc} | {', '.join(r['encoder_groups'])} "
                     f"| {pct[0]} | {pct[1]} | {steps} | {r['size_curve']} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated architectures (default: all)")
    parser.add_argument("--keep", type=Path, help="build and audit in this folder instead of a temporary one")
    args = parser.parse_args(argv)
    from fixtures import architectures as fa

    names = [n for n in args.only.split(",") if n] or list(fa.ARCHITECTURES)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        data = fa.write_data(root / "data")
        start = time.perf_counter()
        bases = fa.build_all(root / "bases", names)
        print(f"built {len(bases)} tiny bases in {time.perf_counter() - start:.1f} s", flush=True)
        rows = []
        for name, base in bases.items():
            code, seconds, result = audit(base, data, root / "audits" / name)
            rows.append(row(name, fa.ARCHITECTURES[name][2], code, seconds, result))
            print(json.dumps(rows[-1]), flush=True)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
