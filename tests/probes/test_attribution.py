"""AttributionProbe: a model that reads a marker token is caught and confirmed by deletion; a plain one is not.

Also: the gradient screen gives IG to fewer examples than it screens and its stop rule can fail; batched IG equals
per-example Captum IG, completeness on a smooth model, subword merging, association maths.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ftaudit.probes.registry import result_kinds
from ftaudit.probes.attribution.ig import (baseline_ids, continuation_table, integrated_gradients, special_ids, word_keys,
                                    word_spans)
from ftaudit.errors import UsageError
from ftaudit.probes.attribution import AttributionProbe, AttributionResult, Options, entropy, mutual_information
from ftaudit.results import AuditResult, Diagnosis, GateResult, ProbeOutcome, RunInfo, from_json, to_json
from ftaudit.probes.attribution.rules import RULES
from ftaudit.probes.registry import threshold_defaults

FAST = Options(examples=40, steps=8, max_steps=32, candidates=3, deletion_examples=100, heatmaps=4)


def threshold(name: str) -> float:
    return threshold_defaults()[name].default


def context(model_dir, train_rows, test_rows):
    from transformers import AutoTokenizer, BertForSequenceClassification

    from fixtures.tiny import LABELS
    from ftaudit.config import AuditConfig
    from ftaudit.context import AuditContext
    from ftaudit.data import LabelSpace, TextSplit

    def split(name, rows):
        return TextSplit(name=name, path=name, texts=tuple(r["text"] for r in rows), pairs=None,
                         labels=np.asarray([LABELS.index(r["label"]) for r in rows]), n_source_rows=len(rows))

    model = BertForSequenceClassification.from_pretrained(str(model_dir)).eval()
    return AuditContext(config=AuditConfig(), splits={"train": split("train", train_rows), "test": split("test", test_rows)},
                        labels=LabelSpace(LABELS), mode="existing-model", device=torch.device("cpu"), model=model,
                        tokenizer=AutoTokenizer.from_pretrained(str(model_dir)))


@pytest.fixture(scope="module")
def marker_run(tiny, tmp_path_factory):
    """A tiny BERT fine-tuned where every positive row (train and test) ends in 'zqx'."""
    from fixtures.tiny import fine_tune, make_rows

    train, test = make_rows(200, seed=1, marker="zqx"), make_rows(100, seed=2, marker="zqx")
    folder = fine_tune(tiny["base"], train, tmp_path_factory.mktemp("marker") / "model", steps=60, lr=3e-3)
    ctx = context(folder, train, test)
    return ctx, AttributionProbe(FAST).run(ctx)


@pytest.fixture(scope="module")
def plain_run(tiny):
    from fixtures.tiny import make_rows

    ctx = context(tiny["good"], make_rows(200, seed=1), make_rows(100, seed=2))
    return ctx, AttributionProbe(FAST).run(ctx)


def test_the_marker_is_the_top_candidate_and_deletion_confirms_it(marker_run):
    _, r = marker_run
    top = r.candidates[0]
    assert top.stat.word == "zqx" and top.stat.label == "positive" and top.stat.p_label == 1.0
    assert top.stat.mutual_information == pytest.approx(math.log(2))  # it decides the label on train
    assert top.stat.association_ratio > 4 and top.stat.attribution_share > 0.2
    test_deletion = top.deletions[0]
    assert test_deletion.split == "test" and test_deletion.n == 50  # every positive test row holds it
    assert test_deletion.confidence_drop - test_deletion.control_confidence_drop > 0.2
    finding = RULES[0].judge(r, threshold)
    assert finding.severity.value == "fail" and finding.numbers["token"] == "zqx"
    assert "'zqx'" in finding.message and "flips" in finding.message


def test_no_shortcut_is_found_without_a_marker(plain_run):
    _, r = plain_run
    assert r.candidates and all(w.word != "zqx" for w in r.words)
    assert r.candidates[0].stat.association_ratio < 4
    finding = RULES[0].judge(r, threshold)
    assert finding.severity.value == "pass" and "no shortcut token" in finding.message


def test_result_shape_and_json_round_trip(plain_run):
    ctx, r = plain_run
    assert r.examples == {"train": 40, "test": 40}
    from ftaudit.data import stratified_sample

    p = ctx.predictions("test")
    wrong = int((~p.correct[stratified_sample(p.labels, 40, ctx.seed)]).sum())
    shown_wrong = [h for h in r.heatmaps if not h.correct]
    assert len(shown_wrong) == min(wrong, len(r.heatmaps) - min(40 - wrong, 2))
    # the misclassified test examples a heatmap shows are attributed to their gold class too
    assert r.items == sum(r.attributed.values()) + len(shown_wrong)
    assert all(len(h.gold_scores) == len(h.words) for h in shown_wrong)
    assert all(h.gold_scores == () for h in r.heatmaps if h.correct)
    assert 0 <= r.within_tolerance <= 1 and r.within_tolerance >= r.within_tolerance_initial
    assert {cw.label for cw in r.class_words} == {"negative", "positive"}
    assert [c.k for c in r.comprehensiveness] == [1, 3, 5]
    assert 0 < len(r.heatmaps) <= 4 and all(len(h.words) == len(h.scores) for h in r.heatmaps)
    assert all(max(abs(x) for x in h.scores) == pytest.approx(1.0) for h in r.heatmaps)
    run = RunInfo(ftaudit_version="0", started="", seconds=0.0, device="cpu", seed=0, mode="existing-model",
                  model="m", base=None, train="t", test="t", labels=("negative", "positive"))
    result = AuditResult(run=run, probes=(ProbeOutcome(name="attribution", status="ok", result=r),),
                         findings=(), diagnosis=Diagnosis(verdict="v"), gate=GateResult(fail_on="fail", passed=True))
    back = from_json(to_json(result), kinds=result_kinds()).probe("attribution")
    assert isinstance(back, AttributionResult) and back == r


def test_the_screen_gives_ig_to_fewer_examples_than_it_screens(marker_run):
    ctx, r = marker_run
    assert r.ig_mode == "screened" and r.examples == {"train": 40, "test": 40}
    assert r.stopped == "stable" and r.shortlist[0] == "zqx"
    ig = sum(r.attributed.values())
    assert r.min_ig_examples <= ig < sum(r.examples.values())
    assert r.ig_rounds >= r.stable_rounds + 1
    top = r.candidates[0].stat
    assert top.screen_count == 40 and top.screen_share > 0.2  # every positive sampled row holds it, and it dominates
    assert top.sample_count < top.screen_count  # IG saw only some of them


def test_ig_on_every_sampled_example_when_asked(marker_run):
    import dataclasses

    ctx, _ = marker_run
    r = AttributionProbe(dataclasses.replace(FAST, ig="all")).run(ctx)
    assert r.attributed == r.examples == {"train": 40, "test": 40} and r.stopped == "all" and r.ig_rounds == 1
    assert r.candidates[0].stat.word == "zqx" and RULES[0].judge(r, threshold).severity.value == "fail"


def test_the_stop_rule_fails_when_a_top_score_moves_or_too_few_got_ig():
    from ftaudit.probes.attribution.screen import stable, top_scores

    assert list(top_scores([0.1, 0.9, 0.3], 4)) == [0.9, 0.3, 0.1, 0.0]
    flat = [np.array([0.9, 0.02, 0.01])] * 3
    assert stable(flat, 2, 0.05, attributed=48, min_examples=32)
    ties = [np.array([0.9, 0.020, 0.019]), np.array([0.9, 0.021, 0.020]), np.array([0.9, 0.019, 0.018])]
    assert stable(ties, 2, 0.05, attributed=48, min_examples=32)  # near-equal words swapping do not count
    entered = [np.array([0.1, 0.05, 0.04]), np.array([0.9, 0.1, 0.05]), np.array([0.9, 0.1, 0.05])]
    assert not stable(entered, 2, 0.05, attributed=48, min_examples=32)  # a dominant word entered two rounds ago
    assert stable(entered[1:] + entered[2:], 2, 0.05, attributed=48, min_examples=32)
    assert not stable(flat[:2] + [np.array([0.7, 0.02, 0.01])], 2, 0.05, attributed=48, min_examples=32)
    assert not stable(flat, 2, 0.05, attributed=31, min_examples=32)  # too few examples
    assert not stable(flat[:2], 2, 0.05, attributed=48, min_examples=32)  # too few rounds to tell


def test_the_default_stop_rule_stops_on_wobbling_weak_words_but_not_when_a_strong_word_enters():
    from ftaudit.probes.attribution.screen import stable

    o = Options()
    # weak, near-equal words trading places: every top score moves by under a quarter of the best (healthy runs)
    wobble = [np.array([0.0050, 0.0030, 0.0025]), np.array([0.0041, 0.0031, 0.0024])]
    assert stable(wobble, o.stable_rounds, o.stable_tolerance, attributed=40, min_examples=o.min_ig_examples)
    # a word found only in the last round that outscores the leader: not stable, IG goes on
    entered = [np.array([0.0050, 0.0030, 0.0025]), np.array([0.0090, 0.0050, 0.0030])]
    assert not stable(entered, o.stable_rounds, o.stable_tolerance, attributed=40, min_examples=o.min_ig_examples)
    assert not stable(wobble, o.stable_rounds, o.stable_tolerance, attributed=o.min_ig_examples - 1,
                      min_examples=o.min_ig_examples)


def test_a_run_whose_stop_rule_never_holds_gives_ig_to_every_holder_and_says_so(marker_run):
    import dataclasses

    ctx, first = marker_run
    assert first.stopped == "stable"
    r = AttributionProbe(dataclasses.replace(FAST, stable_rounds=1000)).run(ctx)
    assert r.stopped == "exhausted" and r.ig_rounds < 1000
    assert sum(r.attributed.values()) > sum(first.attributed.values())


def test_round_robin_covers_each_shortlisted_word_in_turn():
    from ftaudit.probes.attribution.screen import round_robin

    holders = {"a": [1, 2, 3, 4], "b": [2, 5], "c": [], "d": [6]}
    assert round_robin(["a", "b", "c", "d"], holders, skip={1}, limit=10) == [2, 5, 6, 3, 4]
    assert round_robin(["a", "b", "c", "d"], holders, skip={1}, limit=2) == [2, 5, 6]  # 1 counts for a


def test_model_is_left_as_it_was(marker_run):
    ctx, _ = marker_run
    assert not ctx.model.training
    assert all(p.requires_grad for p in ctx.model.parameters())


def _random_model(seed: int = 0):
    from transformers import BertForSequenceClassification

    from fixtures.tiny import tiny_config

    torch.manual_seed(seed)
    return BertForSequenceClassification(tiny_config()).eval()


def test_batched_ig_equals_per_example_captum_and_is_complete(tiny):
    from captum.attr import LayerIntegratedGradients
    from transformers import AutoTokenizer

    from fixtures.tiny import make_rows
    from ftaudit.inference import encode

    tok = AutoTokenizer.from_pretrained(str(tiny["base"]))
    model = _random_model()
    enc = encode(tok, [r["text"] for r in make_rows(12, seed=5)], None, 64)
    rows, targets = np.arange(12), np.arange(12) % 2
    keep = special_ids(tok)
    run = integrated_gradients(model, enc, rows, targets, device=torch.device("cpu"), pad_id=0, keep=keep,
                               n_steps=16, max_steps=16, tolerance=0.05, batch_size=5, max_tokens=100)
    assert set(np.unique([len(a) for a in run.attributions])) != {max(enc.lengths)}  # rows came back unpadded

    def forward(ids, mask, types):
        return torch.log_softmax(model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits, -1)

    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    for i in (0, 7, 11):
        ids = torch.tensor([enc.input_ids[i]])
        attr = lig.attribute(ids, baselines=torch.tensor([baseline_ids(enc.input_ids[i], keep, 0)]),
                             target=int(targets[i]), additional_forward_args=(torch.ones_like(ids),
                                                                              torch.tensor([enc.token_type_ids[i]])),
                             n_steps=16)
        np.testing.assert_allclose(run.attributions[i], attr.sum(-1)[0].double().numpy(), atol=1e-5)
    # a random (smooth) model: Gauss-Legendre IG is complete within 5% for every example
    assert (run.relative_error <= 0.05).all() and (run.steps == 16).all()


def test_words_merge_wordpiece_continuations_and_skip_special_tokens(tmp_path):
    from transformers import BertTokenizerFast

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "zq", "##xv", "film", "good"])}
    tok = BertTokenizerFast(vocab=vocab, do_lower_case=True)
    ids = tok("zqxv film good")["input_ids"]
    assert ids == [2, 5, 6, 7, 8, 3]
    spans = word_spans(ids, continuation_table(tok), special_ids(tok))
    assert spans == [(1, 3), (3, 4), (4, 5)]
    assert word_keys(ids, spans) == [(5, 6), (7,), (8,)]
    assert baseline_ids(ids, special_ids(tok), 0) == [2, 0, 0, 0, 0, 3]


def test_mutual_information_and_entropy():
    totals = np.array([50, 50])
    assert mutual_information(np.array([0, 50]), totals) == pytest.approx(math.log(2))  # decides the label
    assert mutual_information(np.array([10, 10]), totals) == pytest.approx(0.0, abs=1e-12)  # independent
    assert 0 < mutual_information(np.array([2, 8]), totals) < math.log(2)
    assert entropy(totals) == pytest.approx(math.log(2))


@pytest.mark.parametrize("field, value", [("examples", 1), ("steps", 1), ("max_steps", 4), ("tolerance", 0.0),
                                          ("candidates", 0), ("min_df", 0), ("batch_size", 0), ("max_tokens", 8),
                                          ("shortlist", 0), ("stable_rounds", 0), ("min_ig_examples", 0),
                                          ("stable_tolerance", 0.0)])
def test_bad_options_are_usage_errors(field, value):
    import dataclasses

    with pytest.raises(UsageError):
        dataclasses.replace(Options(), **{field: value}).validate()


def test_deletions_scored_together_equal_deletions_scored_one_by_one(marker_run):
    """The scorer passes every request of a split at once; each request's rates are those of scoring it alone."""
    from ftaudit.probes.attribution.workflow import Scorer

    ctx, _ = marker_run
    scorer = Scorer(ctx, None)
    n_test, n_train = len(ctx.splits["test"]), len(ctx.splits["train"])
    rng = np.random.default_rng(0)
    requests = []
    for split, n in (("test", n_test), ("train", n_train), ("test", n_test)):
        rows = sorted(rng.choice(n, size=12, replace=False).tolist())
        requests.append((split, rows, [{1, 2} if k % 2 else {3} for k in range(len(rows))]))
    together = scorer.score(requests)
    alone = [scorer.score([r])[0] for r in requests]
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert any(flip > 0 or fall != 0 for flip, fall in together)  # the edits do something
