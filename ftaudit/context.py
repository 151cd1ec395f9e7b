"""AuditContext: what probes share — the model, the splits, the device, and typed caches so work is done once."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

from ftaudit.config import AuditConfig
from ftaudit.data import LabelSpace, TextSplit
from ftaudit.inference import Encodings, Predictions, encode, pad_id_of, predict_logits

T = TypeVar("T")


class Need(enum.Enum):
    """What a probe needs from the context before it can run."""

    MODEL = "a model"
    TRAIN = "a train split"
    TEST = "a test split"
    BASE_WEIGHTS = "the pre-trained base weights"
    TRAINING_RUN = "a recorded training run (fine-tune mode, or a checkpoint with ftaudit's callback)"
    FINE_TUNE = "fine-tune mode (--fine-tune)"
    ADAPTER = "a LoRA adapter (an adapter folder as --model, or --fine-tune --lora R)"


@dataclass(frozen=True)
class StashKey(Generic[T]):
    """A typed key into the context's stash (after pytest's StashKey): `ctx.stash[key]` is a T."""

    name: str


class Stash:
    def __init__(self) -> None:
        self._data: dict[StashKey[Any], Any] = {}

    def __getitem__(self, key: StashKey[T]) -> T:
        return self._data[key]

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        self._data[key] = value

    def __contains__(self, key: StashKey[Any]) -> bool:
        return key in self._data

    def get_or_compute(self, key: StashKey[T], compute: Callable[[], T]) -> T:
        if key not in self._data:
            self._data[key] = compute()
        return self._data[key]


@dataclass
class AuditContext:
    """Everything a probe may read. Built once per audit by `ftaudit.pipeline`; probes never mutate it."""

    config: AuditConfig
    splits: dict[str, TextSplit]
    labels: LabelSpace
    mode: str  # "existing-model" | "fine-tune"
    device: Any = None  # torch.device, or None when no model is loaded
    model: Any = None
    tokenizer: Any = None
    model_ref: str = ""
    base: Any = None  # modeling.BaseWeights
    base_reason: str = ""  # why there are no base weights
    training: Any = None  # training_run.TrainingRecord from fine-tune mode or the Trainer callback
    adapter: Any = None  # adapters.AdapterWeights when the model is a LoRA adapter merged into its base
    training_reason: str = "no training run was recorded"
    notes: list[str] = field(default_factory=list)
    progress: Any = None  # report.console.Progress, or None for silence
    stash: Stash = field(default_factory=Stash)

    def lacks(self, need: Need) -> str | None:
        """Why `need` is not met, or None."""
        if need is Need.MODEL and self.model is None:
            return "no model was loaded"
        if need is Need.TRAIN and "train" not in self.splits:
            return "no train split was given (--train)"
        if need is Need.TEST and "test" not in self.splits:
            return "no test split was given (--test)"
        if need is Need.BASE_WEIGHTS and self.base is None:
            return self.base_reason or "no base weights"
        if need is Need.TRAINING_RUN and self.training is None:
            return self.training_reason
        if need is Need.FINE_TUNE and self.mode != "fine-tune":
            return "it needs fine-tune mode (--fine-tune)"
        if need is Need.ADAPTER and self.adapter is None:
            return "the model is not a LoRA adapter"
        return None

    @property
    def seed(self) -> int:
        return self.config.run.seed

    @property
    def pad_id(self) -> int:
        return pad_id_of(self.tokenizer)

    def encodings(self, split: str) -> Encodings:
        """The split tokenized by the model's tokenizer with --max-length; computed once."""
        key: StashKey[Encodings] = StashKey(f"encodings:{split}")

        def compute() -> Encodings:
            s = self.splits[split]
            return encode(self.tokenizer, s.texts, s.pairs, self.config.data.max_length)

        return self.stash.get_or_compute(key, compute)

    def predictions(self, split: str) -> Predictions:
        """Logits of the audited model on `split`; one pass per split, shared by every probe."""
        key: StashKey[Predictions] = StashKey(f"predictions:{split}")

        def compute() -> Predictions:
            enc = self.encodings(split)
            task = self.progress.task(f"predict {split}", total=len(enc)) if self.progress else None
            logits = predict_logits(self.model, enc, device=self.device, batch_size=self.config.run.eval_batch_size,
                                    pad_id=self.pad_id, progress=task.advance if task else None)
            if task:
                task.done()
            return Predictions(logits=logits, labels=self.splits[split].labels)

        return self.stash.get_or_compute(key, compute)

