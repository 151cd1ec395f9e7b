"""Peer baseline: which planted causes deepchecks, cleanlab Datalab and WeightWatcher detect, next to ftaudit.

    python -m bench.peers                                  # every finished run in bench/out/runs
    python -m bench.peers --workdir DIR --run sms_spam/A/leakage --run emotion/A/healthy

Reads the runs bench/diagnose.py wrote (`<workdir>/<corpus>/<recipe>/<scenario>/`: train.jsonl, test.jsonl,
report/result.json, report/model/); a run is finished when its result.json exists. It never fine-tunes: the peers
see the planted data, one forward pass of the fine-tuned model over train + test, mean-pooled embeddings of the base
model, and the fine-tuned weights (bench/peer_runs.py runs them). Every verdict is the peer's own: a deepchecks check
fails its default condition (the one its default suite attaches), a Datalab issue share passes the threshold below,
WeightWatcher's mean layer alpha leaves its documented [2, 6] band. Writes bench/out/peers.{json,md}.
Needs the bench-peers extra: pip install -e '.[bench-peers,demo]'.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path

from bench.planted import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
TOOLS = ("ftaudit", "deepchecks", "datalab", "weightwatcher")

# deepchecks check -> the cause its failed default condition points at (the NLP default suites' conditions:
# data_integrity on train, train_test_validation and model_evaluation on train vs test). An empty tuple: shown as a
# note, not a cause (an outlier on a text property names no failure of a fine-tune).
DEEPCHECKS_CAUSES: dict[str, tuple[str, ...]] = {
    "TrainTestSamplesMix": ("leakage",),  # share of test texts also in train <= 5%
    "TextDuplicates": ("duplicates",),  # share of duplicated train texts <= 5%
    "ConflictingLabels": ("label-noise",),  # no train text with two labels (max_ratio 0)
    "LabelDrift": ("distribution-shift",),  # Cramer's V of the label distributions < 0.15
    "PropertyDrift": ("distribution-shift",),  # per-property drift score < 0.2 (KS for numeric properties)
    "TextEmbeddingsDrift": ("distribution-shift",),  # domain-classifier drift on the embeddings < 0.25
    "PredictionDrift": ("distribution-shift",),  # drift of the model's predicted classes < 0.15
    "TrainTestPerformance": ("overfitting",),  # test score at most 10% (relative) below train
    "PropertyLabelCorrelation": ("shortcut",),  # every property's predictive power score for the label < 0.3
    "TextPropertyOutliers": (),  # outliers on each property <= 5%: a note
}

# Datalab gives per-row issues; the share that makes a run's verdict is stated here. cleanlab documents no dataset
# level cut-off for label issues or near duplicates, so the shares are the ones ftaudit and deepchecks use for the
# same question: label issues on at least 15% of train rows (ftaudit's label_noise_share), near twins of train rows
# on more than 5% of test rows or of train rows (deepchecks' TrainTestSamplesMix and TextDuplicates, ftaudit's
# max_leaked_share). class_imbalance and non_iid keep cleanlab's own defaults (the rarest class below 0.1 / K of the
# rows; a permutation p-value below 0.05 on the rows in order train then test, i.e. a train/test shift).
DATALAB_LABEL_SHARE = 0.15
DATALAB_NEAR_SHARE = 0.05

# WeightWatcher's rule of thumb (weightwatcher.constants): a layer alpha above 6 is under-trained, below 2 over-trained;
# the run's verdict reads the mean alpha of the analysed layers.
WW_UNDER, WW_OVER = 6.0, 2.0
WW_OVER_CAUSES = ("overfitting", "lr-too-high")  # "over-trained": too many or too large steps


def planted(scenario: str) -> tuple[str, ...]:
    """The causes a scenario plants (empty for the healthy ones)."""
    expected = next(s.expected for s in SCENARIOS if s.name == scenario)
    return tuple(c for c in expected if c != "healthy")


def finding_causes(table_rows: list[dict]) -> dict[str, set[str]]:
    """Finding code -> the causes that a warn or fail of it argues for (a positive weight in causes.toml)."""
    out: dict[str, set[str]] = defaultdict(set)
    for row in table_rows:
        if row.get("finding") and max(row.get("warn", 0.0), row.get("fail", 0.0)) > 0:
            out[row["finding"]].add(row["cause"])
    out["duplicates-within-split"].add("duplicates")  # ftaudit has no `duplicates` cause; this is its check
    return dict(out)


def ftaudit_verdict(result: dict, by_finding: dict[str, set[str]]) -> dict:
    """The top-3 root causes, and the causes only its warn/fail findings (or "also noticed") point at."""
    top3 = [c["code"] for c in result["diagnosis"]["root_causes"] if c["code"] != "healthy"][:3]
    fired = [f["code"] for f in result["findings"] if f["severity"] in ("warn", "fail")]
    found = {c for code in fired for c in by_finding.get(code, ())}
    found |= {n["code"] for n in result["diagnosis"].get("also_noticed", [])}
    return {"causes": top3, "finding_only": sorted(found - set(top3)), "fired": fired}


def deepchecks_verdict(checks: dict[str, dict]) -> dict:
    """checks: name -> {"category": PASS/WARN/FAIL/ERROR, ...}. A WARN or FAIL of a mapped check flags its cause."""
    causes, notes, errors = set(), [], []
    for name, c in checks.items():
        if c["category"] == "ERROR":
            errors.append(name)
        elif c["category"] in ("WARN", "FAIL"):
            mapped = DEEPCHECKS_CAUSES.get(name, ())
            causes |= set(mapped)
            notes.append(f"{name} -> {', '.join(mapped)}" if mapped else name)  # which check said what
    return {"causes": sorted(causes), "notes": notes, "errors": errors}


def datalab_verdict(d: dict) -> dict:
    """d: the shares and flags bench/peer_runs.run_datalab measured."""
    causes, notes = set(), []
    if d["label_share"] >= DATALAB_LABEL_SHARE:
        causes.add("label-noise")
    if d["leaked_share"] > DATALAB_NEAR_SHARE:
        causes.add("leakage")
    if d["train_near_share"] > DATALAB_NEAR_SHARE:
        causes.add("duplicates")
    if d["class_imbalance"]:
        causes.add("class-imbalance")
    if d["non_iid_p"] is not None and d["non_iid_p"] < 0.05:
        causes.add("distribution-shift")
    if d["outlier_share"] > 0:
        notes.append(f"outliers {d['outlier_share']:.1%}")
    return {"causes": sorted(causes), "notes": notes, "errors": []}


def weightwatcher_verdict(w: dict) -> dict:
    """w: {"mean_alpha", "n_layers", "under", "over"} from bench/peer_runs.run_weightwatcher."""
    alpha = w["mean_alpha"]
    causes = ["undertrained"] if alpha > WW_UNDER else list(WW_OVER_CAUSES) if alpha < WW_OVER else []
    notes = [f"mean alpha {alpha:.2f}; {w['under']} of {w['n_layers']} layers > {WW_UNDER:g}, "
             f"{w['over']} < {WW_OVER:g}"]
    return {"causes": sorted(causes), "notes": notes, "errors": []}


VERDICTS = {"deepchecks": deepchecks_verdict, "datalab": datalab_verdict, "weightwatcher": weightwatcher_verdict}


def judge(row: dict, by_finding: dict[str, set[str]]) -> dict:
    """row: {"id", "scenario", "result", "peers": {tool: measured | {"error": str}}} -> verdicts per tool."""
    verdicts = {"ftaudit": ftaudit_verdict(row["result"], by_finding)}
    for tool, fn in VERDICTS.items():
        measured = row["peers"].get(tool)
        if measured is None or "error" in measured:
            verdicts[tool] = {"causes": [], "notes": [], "errors": [measured["error"] if measured else "not run"]}
        else:
            verdicts[tool] = fn(measured)
    return verdicts


def detects(verdict: dict, cause: str) -> bool:
    return cause in verdict["causes"]


def compare(rows: list[dict]) -> dict:
    """Per planted cause which tools detect it; the runs where a peer does and ftaudit's top 3 does not; false alarms
    (any cause flagged) on the healthy runs per tool."""
    by_cause: dict[str, dict] = {}
    gaps, alarms = [], {t: [] for t in TOOLS}
    for r in rows:
        plants = planted(r["scenario"])
        v = r["verdicts"]
        for tool in TOOLS:
            if not plants and v[tool]["causes"]:
                alarms[tool].append(r["id"])
        for cause in plants:
            entry = by_cause.setdefault(cause, {"runs": 0, **{t: 0 for t in TOOLS}, "ftaudit_finding_only": 0})
            entry["runs"] += 1
            for tool in TOOLS:
                entry[tool] += detects(v[tool], cause)
            entry["ftaudit_finding_only"] += cause in v["ftaudit"]["finding_only"]
            peers = [t for t in TOOLS[1:] if detects(v[t], cause)]
            if peers and not detects(v["ftaudit"], cause):
                gaps.append({"id": r["id"], "cause": cause, "peers": peers,
                             "ftaudit_finding_only": cause in v["ftaudit"]["finding_only"]})
    healthy = sum(not planted(r["scenario"]) for r in rows)
    return {"by_cause": by_cause, "peer_only": gaps, "healthy_runs": healthy, "false_alarms": alarms}


def _cell(verdict: dict, plants: tuple[str, ...], tool: str) -> str:
    hit = [c for c in plants if detects(verdict, c)]
    parts = [f"**{c}**" for c in hit]
    if tool == "ftaudit":
        parts += [f"{c} (finding only)" for c in plants if c in verdict["finding_only"]]
    others = [c for c in verdict["causes"] if c not in plants]
    parts += others
    if verdict.get("errors"):
        parts.append("error: " + "; ".join(e[:80] for e in verdict["errors"]))
    return ", ".join(parts) or "-"


def markdown(rows: list[dict], meta: dict) -> str:
    s = compare(rows)
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    lines = [f"Peer baseline, {meta['date']}, {meta['machine']} ({versions}). A cell lists the causes a tool "
             "flags, the planted one in bold; ftaudit's cell is its top-3 root causes, with \"(finding only)\" for a "
             "planted cause that only a warn/fail finding of it points at; \"-\": no cause flagged. Thresholds: "
             "bench/peers.py. Seconds: deepchecks / Datalab / WeightWatcher + the shared embedding and prediction "
             "passes.", "",
             "| run | planted cause | ftaudit | deepchecks | Datalab | WeightWatcher | peer seconds |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        plants = planted(r["scenario"])
        v, sec = r["verdicts"], r["seconds"]
        cells = " | ".join(_cell(v[t], plants, t) for t in TOOLS)
        secs = " / ".join(f"{sec.get(t, 0):.0f}" for t in TOOLS[1:]) + f" + {sec.get('shared', 0):.0f}"
        lines.append(f"| {r['id']} | {' / '.join(plants) or 'healthy'} | {cells} | {secs} |")
    lines += ["", "| planted cause | runs | ftaudit top-3 | ftaudit finding only | deepchecks | Datalab "
              "| WeightWatcher |",
              "|---|---|---|---|---|---|---|"]
    for cause, e in sorted(s["by_cause"].items()):
        lines.append(f"| {cause} | {e['runs']} | {e['ftaudit']} | {e['ftaudit_finding_only']} | {e['deepchecks']} | "
                     f"{e['datalab']} | {e['weightwatcher']} |")
    gaps = s["peer_only"]
    lines += ["", f"Runs where a peer detects the planted cause and ftaudit's top 3 does not: {len(gaps)}"
              + (":" if gaps else " (the target).")]
    lines += [f"- {g['id']}: {g['cause']} (by {', '.join(g['peers'])})"
              + ("; ftaudit's findings point at it" if g["ftaudit_finding_only"] else "") for g in gaps]
    lines += ["", f"False alarms on the {s['healthy_runs']} healthy runs (any cause flagged): " + "; ".join(
        f"{t} {len(ids)}" + (f" ({', '.join(ids)})" if ids else "") for t, ids in s["false_alarms"].items()) + "."]
    if "base_weightwatcher" in meta:
        w = meta["base_weightwatcher"]
        lines += ["", f"WeightWatcher on the pre-trained base (no fine-tune): mean alpha {w['mean_alpha']:.2f}; "
                      f"{w['under']} of {w['n_layers']} layers > {WW_UNDER:g}, {w['over']} < {WW_OVER:g}."]
    for r in rows:
        notes = "; ".join(f"{t}: {', '.join(r['verdicts'][t]['notes'])}" for t in TOOLS[1:]
                          if r["verdicts"][t]["notes"])
        noise = r["peers"].get("datalab", {}).get("truth")
        if noise:
            notes += (f"; Datalab label issues vs the {noise['flipped']} flipped rows: {noise['flagged']} flagged, "
                      f"precision {noise['precision']:.2f}, recall {noise['recall']:.2f}")
        if notes:
            lines += ["", f"{r['id']}: {notes}."]
    return "\n".join(lines) + "\n"


def finished_runs(workdir: Path, ids: list[str]) -> list[Path]:
    """The run folders (corpus/recipe/scenario) with a report/result.json, in the order asked or found."""
    if ids:
        return [workdir / i for i in ids if (workdir / i / "report" / "result.json").is_file()]
    return sorted(p.parents[1] for p in workdir.glob("*/*/*/report/result.json"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(OUT / "runs"), help="where bench/diagnose.py wrote the runs")
    parser.add_argument("--run", action="append", default=[], help="only this run id, corpus/recipe/scenario")
    parser.add_argument("--out", default=str(OUT), help="where peers.{json,md} go")
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # a light neighbour of whatever else this machine runs
    workdir = Path(args.workdir)
    folders = finished_runs(workdir, args.run)
    if not folders:
        parser.error(f"no finished run (report/result.json) under {workdir}")
    if missing := sorted(set(args.run) - {f.relative_to(workdir).as_posix() for f in folders}):
        print(f"not finished, left out: {', '.join(missing)}", flush=True)
    import platform

    from bench import peer_runs
    from ftaudit.diagnosis import load_table

    peer_runs.setup()
    by_finding = finding_causes([{"cause": e.cause, "finding": e.finding, **e.weights} for e in load_table().evidence])
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
            "versions": peer_runs.versions(), "workdir": str(workdir)}
    # what WeightWatcher sees before any fine-tune: the pre-trained encoder the runs start from
    base = peer_runs.run_weightwatcher(peer_runs.base_model(), head=False)
    meta["base_weightwatcher"] = {k: v for k, v in base.items() if k != "alphas"}
    rows = []
    for folder in folders:
        row = peer_runs.measure(folder, folder.relative_to(workdir).as_posix())
        row["verdicts"] = judge(row, by_finding)
        rows.append(row)
        v = row["verdicts"]
        print(f"{row['id']:<40} " + " | ".join(f"{t}: {', '.join(v[t]['causes']) or '-'}" for t in TOOLS), flush=True)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        slim = [{k: x for k, x in r.items() if k != "result"} for r in rows]
        (out / "peers.json").write_text(json.dumps({"meta": meta, "rows": slim, "summary": compare(rows)}, indent=2))
        (out / "peers.md").write_text(markdown(rows, meta))
    s = compare(rows)
    print(f"peer-only detections: {len(s['peer_only'])}; false alarms on {s['healthy_runs']} healthy runs: "
          + ", ".join(f"{t} {len(ids)}" for t, ids in s["false_alarms"].items()))


if __name__ == "__main__":
    main()
