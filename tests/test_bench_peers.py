"""bench/peers.py without the peers: their verdicts mapped to causes, ftaudit's causes, the comparison and its table."""

from __future__ import annotations

import json

from bench import peers

FINDINGS = peers.finding_causes([
    {"cause": "label-noise", "finding": "label-noise-suspected", "fail": 2.2, "warn": 1.8, "pass": -0.5},
    {"cause": "overfitting", "finding": "data-saturated", "warn": -1.0},  # argues against: no cause
    {"cause": "leakage", "finding": "train-test-leakage", "fail": 2.5, "warn": 1.0},
    {"cause": "overfitting", "finding": None, "weight": 0.3},  # a conjunction row: not a finding's cause
])


def result(causes: list[str], findings: dict[str, str], noticed: tuple[str, ...] = ()) -> dict:
    return {"diagnosis": {"root_causes": [{"code": c} for c in causes], "also_noticed": [{"code": c} for c in noticed]},
            "findings": [{"code": k, "severity": v} for k, v in findings.items()]}


def test_finding_causes_keep_only_rows_that_argue_for_a_cause():
    assert FINDINGS == {"label-noise-suspected": {"label-noise"}, "train-test-leakage": {"leakage"},
                        "duplicates-within-split": {"duplicates"}}


def test_finding_causes_of_the_shipped_table():
    from ftaudit.diagnosis import load_table

    table = peers.finding_causes([{"cause": e.cause, "finding": e.finding, **e.weights} for e in load_table().evidence])
    assert "leakage" in table["train-test-leakage"] and "label-noise" in table["label-noise-suspected"]
    assert "class-imbalance" in table["class-imbalance"] and "truncation" in table["truncation-heavy"]
    assert "insufficient-data" not in table.get("data-saturated", set())  # its warn weight is negative


def test_ftaudit_names_top3_and_separates_what_only_its_findings_say():
    r = result(["overfitting", "label-noise", "undertrained", "truncation"],
               {"train-test-leakage": "warn", "label-noise-suspected": "fail", "duplicates-within-split": "pass"},
               noticed=("class-imbalance",))
    v = peers.ftaudit_verdict(r, FINDINGS)
    assert v["causes"] == ["overfitting", "label-noise", "undertrained"]
    assert v["finding_only"] == ["class-imbalance", "leakage"]  # label-noise is in the top 3; a pass never counts
    assert peers.ftaudit_verdict(result(["healthy"], {}), FINDINGS)["causes"] == []


def test_deepchecks_failed_or_warned_conditions_map_to_causes():
    v = peers.deepchecks_verdict({"TrainTestSamplesMix": {"category": "FAIL"}, "LabelDrift": {"category": "PASS"},
                                  "TextEmbeddingsDrift": {"category": "WARN"},
                                  "TextPropertyOutliers": {"category": "FAIL"},
                                  "ConflictingLabels": {"category": "ERROR"}})
    assert v == {"causes": ["distribution-shift", "leakage"], "errors": ["ConflictingLabels"],
                 "notes": ["TrainTestSamplesMix -> leakage", "TextEmbeddingsDrift -> distribution-shift",
                           "TextPropertyOutliers"]}


def test_datalab_shares_against_the_stated_thresholds():
    base = {"label_share": 0.05, "leaked_share": 0.0, "train_near_share": 0.0, "class_imbalance": False,
            "non_iid_p": 0.6, "outlier_share": 0.0}
    assert peers.datalab_verdict(base)["causes"] == []
    v = peers.datalab_verdict({**base, "label_share": peers.DATALAB_LABEL_SHARE, "leaked_share": 0.3,
                               "class_imbalance": True, "non_iid_p": 0.01, "outlier_share": 0.02})
    assert v["causes"] == ["class-imbalance", "distribution-shift", "label-noise", "leakage"]
    assert v["notes"] == ["outliers 2.0%"]
    assert peers.datalab_verdict({**base, "leaked_share": 0.05, "non_iid_p": None})["causes"] == []  # at the limit


def test_weightwatcher_mean_alpha_outside_2_to_6():
    layers = {"n_layers": 10, "under": 0, "over": 0}
    assert peers.weightwatcher_verdict({"mean_alpha": 3.9, **layers})["causes"] == []
    assert peers.weightwatcher_verdict({"mean_alpha": 6.5, **layers})["causes"] == ["undertrained"]
    assert peers.weightwatcher_verdict({"mean_alpha": 1.5, **layers})["causes"] == ["lr-too-high", "overfitting"]


def row(run_id: str, ftaudit: dict, measured: dict) -> dict:
    r = {"id": run_id, "scenario": run_id.split("/")[-1], "result": ftaudit, "peers": measured,
         "seconds": {"shared": 20.0, "deepchecks": 6.0, "datalab": 0.5, "weightwatcher": 2.0}}
    r["verdicts"] = peers.judge(r, FINDINGS)
    return r


CLEAN = {"label_share": 0.01, "leaked_share": 0.0, "train_near_share": 0.0, "class_imbalance": False,
         "non_iid_p": 0.5, "outlier_share": 0.0}
WW = {"mean_alpha": 3.9, "n_layers": 39, "under": 3, "over": 1}


def rows() -> list[dict]:
    return [
        row("toy/A/healthy", result(["healthy"], {}),
            {"deepchecks": {"TextDuplicates": {"category": "FAIL"}}, "datalab": CLEAN, "weightwatcher": WW}),
        row("toy/A/leakage", result(["leakage"], {"train-test-leakage": "fail"}),
            {"deepchecks": {"TrainTestSamplesMix": {"category": "FAIL"}}, "datalab": {**CLEAN, "leaked_share": 0.3},
             "weightwatcher": {"error": "RuntimeError: no layers"}}),
        row("toy/A/label-noise", result(["overfitting"], {"label-noise-suspected": "warn"}),
            {"deepchecks": {}, "datalab": {**CLEAN, "label_share": 0.3, "truth": {
                "flipped": 30, "flagged": 40, "precision": 0.5, "recall": 0.667}}, "weightwatcher": WW}),
    ]


def test_compare_counts_detections_peer_only_runs_and_false_alarms():
    s = peers.compare(rows())
    assert s["by_cause"]["leakage"] == {"runs": 1, "ftaudit": 1, "deepchecks": 1, "datalab": 1, "weightwatcher": 0,
                                        "ftaudit_finding_only": 0}
    assert s["by_cause"]["label-noise"]["datalab"] == 1 and s["by_cause"]["label-noise"]["ftaudit_finding_only"] == 1
    assert s["peer_only"] == [{"id": "toy/A/label-noise", "cause": "label-noise", "peers": ["datalab"],
                               "ftaudit_finding_only": True}]
    assert s["healthy_runs"] == 1
    assert s["false_alarms"] == {"ftaudit": [], "deepchecks": ["toy/A/healthy"], "datalab": [], "weightwatcher": []}
    json.dumps(s)  # peers.json holds it


def test_markdown_marks_planted_causes_finding_only_and_errors():
    meta = {"date": "2026-12-02", "machine": "x86_64, 2 CPU cores", "versions": {"cleanlab": "2.9.0"}}
    md = peers.markdown(rows(), meta)
    lines = md.splitlines()
    leak = next(x for x in lines if x.startswith("| toy/A/leakage |"))
    assert "| **leakage** | **leakage** | **leakage** | error: RuntimeError: no layers | 6 / 0 / 2 + 20 |" in leak
    noise = next(x for x in lines if x.startswith("| toy/A/label-noise |"))
    assert "| label-noise (finding only), overfitting | - | **label-noise** |" in noise  # planted first
    assert "| healthy | - | duplicates | - | - |" in next(x for x in lines if x.startswith("| toy/A/healthy |"))
    assert "- toy/A/label-noise: label-noise (by datalab); ftaudit's findings point at it" in lines
    assert "deepchecks 1 (toy/A/healthy)" in md
    assert "30 flipped rows: 40 flagged, precision 0.50, recall 0.67" in md


def test_finished_runs_are_those_with_a_result(tmp_path):
    for run_id, done in (("toy/A/healthy", True), ("toy/A/leakage", False), ("toy/B/healthy", True)):
        (tmp_path / run_id / "report").mkdir(parents=True)
        if done:
            (tmp_path / run_id / "report" / "result.json").write_text("{}")
    assert [p.relative_to(tmp_path).as_posix() for p in peers.finished_runs(tmp_path, [])] == [
        "toy/A/healthy", "toy/B/healthy"]
    assert peers.finished_runs(tmp_path, ["toy/A/leakage", "toy/B/healthy"]) == [tmp_path / "toy/B/healthy"]


def test_planted_causes_of_a_scenario():
    assert peers.planted("healthy-seed1") == ()
    assert peers.planted("lr-too-low") == ("lr-too-low", "undertrained")
