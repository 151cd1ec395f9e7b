"""The training core: one loop whose learning rate, batches, length and stop are the caller's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fixtures.tiny import make_rows
from ftaudit.training import random_batches


def test_random_batches_draw_each_row_once_per_pass():
    batches = random_batches(10, 4, 5, seed=0)
    assert [len(b) for b in batches] == [4] * 5
    first_pass = [i for b in batches[:2] for i in b] + batches[2][:2]
    assert sorted(first_pass) == list(range(10))  # 10 rows: two batches and half of the third
    assert random_batches(10, 4, 5, seed=0) == batches != random_batches(10, 4, 5, seed=1)


@pytest.fixture(scope="module")
def core(tiny):
    from ftaudit import modeling
    from ftaudit.config import TrainConfig
    from ftaudit.data import RawSplit, encode_labels, resolve_labels
    from ftaudit.training import new_classifier

    modeling.quiet_transformers()
    rows = make_rows(64, seed=3)
    raw = RawSplit(name="train", path="mem", texts=tuple(r["text"] for r in rows), pairs=None,
                   labels=tuple(r["label"] for r in rows))
    labels = resolve_labels(raw, [], None)
    files = modeling.locate(str(tiny["base"]), "base", allow_pickle=False)
    tokenizer, _ = modeling.load_tokenizer(files.folder, trust_remote_code=False)

    def new_model(freeze: bool = False):
        return new_classifier(files, labels, trust_remote_code=False, allow_pickle=False, freeze_encoder=freeze)

    return new_model, tokenizer, encode_labels(raw, labels), labels, TrainConfig(fine_tune=True, epochs=2,
                                                                                batch_size=16, lr=1e-3)


def train(core, **options):
    import torch

    from ftaudit.training import train_classifier

    new_model, tokenizer, split, labels, cfg = core
    return train_classifier(options.pop("new_model", new_model), tokenizer, split, labels,
                            train_cfg=options.pop("cfg", cfg), max_length=32, device=torch.device("cpu"), seed=0,
                            **options)[1]


def test_the_default_schedule_warms_up_and_decays_over_the_epochs(core):
    rec = train(core)
    assert rec.run.steps == 2 * 4 == len(rec.step_loss) and rec.run.source == "fine-tune"
    peak = int(np.argmax(rec.step_lr))
    assert rec.step_lr[peak] == pytest.approx(1e-3) and rec.step_lr[-1] < rec.step_lr[peak]


def test_the_caller_sets_the_rate_the_batches_the_length_and_the_stop(core):
    losses: list[float] = []

    def stop(loss: float) -> bool:
        losses.append(loss)
        return len(losses) == 3

    rec = train(core, record=False, lr_at=lambda step: 1e-4 * (step + 1), batches=random_batches(64, 16, 10, 0),
                max_steps=6, stop=stop)
    assert rec.run.steps == 3 and losses == list(rec.step_loss)  # stopped by `stop`, before max_steps
    assert list(rec.step_lr) == pytest.approx([1e-4, 2e-4, 3e-4])
    assert rec.gold_prob is None and rec.grad_norms.size == 0  # record=False: loss and lr only
    assert train(core, record=False, batches=random_batches(64, 16, 10, 0), max_steps=4).run.steps == 4


def test_a_frozen_encoder_trains_only_the_head(core):
    new_model, *_rest, cfg = core
    rec = train(core, new_model=lambda: new_model(freeze=True), cfg=dataclasses.replace(cfg, freeze_encoder=True))
    assert rec.grad_layers == ("head",) and rec.run.frozen_encoder


def test_a_checkpoint_evaluates_part_way_without_changing_the_training(core):
    import torch

    from ftaudit.training import Checkpoint

    seen: list[tuple[bool, int]] = []

    def evaluate(model):
        seen.append((model.training, sum(1 for _ in model.parameters())))
        return np.array([1, 0, 1])

    plain = train(core)
    checked = train(core, checkpoint=Checkpoint(2 / 3, evaluate))
    assert checked.checkpoint_step == 5 and list(checked.checkpoint_pred) == [1, 0, 1]  # round(2/3 x 8) = 5
    assert len(seen) == 1 and seen[0][0] is False  # evaluated once, in eval mode
    assert plain.checkpoint_step is None and plain.checkpoint_pred is None
    np.testing.assert_array_equal(plain.step_loss, checked.step_loss)  # training after it is unchanged
    np.testing.assert_array_equal(plain.margin, checked.margin)
    assert Checkpoint(2 / 3, evaluate).step_of(1) is None  # a one-step run has no part-way point
    assert torch.is_grad_enabled()
