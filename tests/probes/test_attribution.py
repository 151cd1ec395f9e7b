"""AttributionProbe: a model that reads a marker token is caught and confirmed by deletion; a plain one is not.

Also: batched IG equals per-example Captum IG, completeness on a smooth model, subword merging, association maths.
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
    # the misclassified test examples a heatmap shows (at most 4) are attributed to their gold class too
    assert r.items == 80 + min(wrong, 4)
    shown_wrong = [h for h in r.heatmaps if not h.correct]
    assert len(shown_wrong) == min(wrong, len(r.heatmaps) - min(40 - wrong, 2))
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
                                          ("candidates", 0), ("min_df", 0), ("batch_size", 0), ("max_tokens", 8)])
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
