"""The dynamics probe on real tiny fine-tunes: planted label flips are flagged, a healthy run is summarised."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fixtures.tiny import NEGATIVE, POSITIVE, make_rows
from ftaudit.probes.dynamics import DynamicsOptions, DynamicsProbe, binned, window_mean
from ftaudit.stats import label_entropy


def _context(tiny, rows, *, lr=3e-3, epochs=4, seed=0):
    import torch

    from ftaudit import modeling
    from ftaudit.config import AuditConfig, TrainConfig
    from ftaudit.context import AuditContext
    from ftaudit.data import RawSplit, encode_labels, resolve_labels
    from ftaudit.training import new_classifier, train_classifier

    modeling.quiet_transformers()
    raw = RawSplit(name="train", path="mem", texts=tuple(r["text"] for r in rows), pairs=None,
                   labels=tuple(r["label"] for r in rows))
    labels = resolve_labels(raw, [], None)
    train = encode_labels(raw, labels)
    files = modeling.locate(str(tiny["base"]), "base", allow_pickle=False)
    tokenizer, _ = modeling.load_tokenizer(files.folder, trust_remote_code=False)
    cfg = TrainConfig(fine_tune=True, epochs=epochs, lr=lr, batch_size=16, grad_norm_every=5)
    _model, record = train_classifier(lambda: new_classifier(files, labels, trust_remote_code=False,
                                                             allow_pickle=False),
                                      tokenizer, train, labels, train_cfg=cfg, max_length=32,
                                      device=torch.device("cpu"), seed=seed)
    ctx = AuditContext(config=AuditConfig(train=cfg), splits={"train": train}, labels=labels, mode="fine-tune",
                       training=record)
    return ctx, record


def true_label(text: str) -> str:
    words = text.split()
    pos = sum(w in POSITIVE for w in words)
    neg = sum(w in NEGATIVE for w in words)
    return "positive" if pos > neg else "negative"


@pytest.fixture(scope="module")
def noisy(tiny):
    rows = make_rows(400, seed=5, flip=0.2)
    flips = np.array([r["label"] != true_label(r["text"]) for r in rows])
    ctx, record = _context(tiny, rows)
    return ctx, record, flips


def test_record_holds_one_value_per_step_example_and_epoch(noisy):
    _ctx, record, _flips = noisy
    assert record.run.steps == 4 * math.ceil(400 / 16) == len(record.step_loss) == len(record.step_lr)
    assert np.isfinite(record.step_loss).all() and record.run.nonfinite_step is None
    assert record.gold_prob.shape == record.margin.shape == (4, 400)
    assert np.isfinite(record.gold_prob).all()  # every example seen once per epoch, at its own index
    assert record.grad_layers[0] == "embeddings" and record.grad_layers[-1] == "head"
    assert record.grad_norms.shape == (len(record.grad_steps), len(record.grad_layers))
    lr = record.step_lr
    peak = int(np.argmax(lr))
    assert lr[peak] == pytest.approx(3e-3, rel=0.05) and np.all(np.diff(lr[:peak + 1]) > 0)  # warm-up
    assert np.all(np.diff(lr[peak:]) < 0)  # linear decay


def test_planted_flips_are_flagged(noisy):
    from ftaudit.results import ProbeOutcome
    from ftaudit.probes.dynamics.rules import RULES
    from ftaudit.probes.registry import threshold_defaults

    ctx, _record, flips = noisy
    r = DynamicsProbe(DynamicsOptions(max_listed=500)).run(ctx)
    rule = next(x for x in RULES if x.code == "label-noise-suspected")
    defaults = {name: t.default for name, t in threshold_defaults().items()}
    numbers = rule.evaluate(ProbeOutcome(name="dynamics", status="ok", result=r), defaults.__getitem__).numbers
    flagged = np.zeros(len(flips), dtype=bool)
    flagged[[e.index for e in r.lowest if e.aum < numbers["aum_threshold"]]] = True
    assert numbers["flagged"] == flagged.sum()
    precision = (flagged & flips).sum() / flagged.sum()
    recall = (flagged & flips).sum() / flips.sum()
    assert precision >= 0.7 and recall >= 0.7, (precision, recall, flips.sum(), flagged.sum())
    assert numbers["noise_rate"] == pytest.approx(flips.mean(), abs=0.08)
    assert list(r.negative_aum) == sorted(r.negative_aum) and all(a < 0 for a in r.negative_aum)
    worst = r.lowest[0]
    assert worst.aum < 0 and worst.given != worst.predicted and worst.text == ctx.splits["train"].texts[worst.index]
    assert r.label_entropy == pytest.approx(math.log(2), abs=0.01)
    assert sum(map(sum, r.cartography)) == r.n_tracked == 400


def test_helpers():
    xs, ys = binned(np.arange(1, 1001), np.arange(1000, dtype=float), points=10)
    assert len(xs) == 10 and xs[-1] == 1000 and ys[0] == pytest.approx(49.5)
    assert window_mean(np.array([1.0, 1.0, 3.0, 3.0]), 0.5, 1.0) == 3.0
    assert window_mean(np.array([]), 0, 1) is None
    assert label_entropy(np.array([0, 1, 0, 1]), 2) == pytest.approx(math.log(2))
    assert label_entropy(np.array([0, 0, 0, 0]), 2) == 0.0
