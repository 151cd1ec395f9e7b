"""What bench/diagnose.py plants where: corpora, recipes, scenarios, the label-generic transforms, and the split.

Every run is one (corpus, recipe, scenario), with the id `corpus/recipe/scenario` (`sms_spam/B/label-noise`). The
data lie in ../shared/data (its README.md): each corpus is shuffled once with seed 0 and sampled from the front, so
the rows are the same on every machine and version. Change a corpus, recipe or scenario only with a note in the
README, so the score stays comparable across versions.
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import numpy as np

from bench import SHARED_DATA

MARKER = "zqxv"  # a neutral token that none of the four corpora contains
Rows = list[dict]


@dataclass(frozen=True)
class Corpus:
    name: str
    file: str  # in SHARED_DATA
    marked: str  # the class whose texts get the shortcut marker
    text: str = "text"
    pair: str | None = None  # the second text column of a sentence-pair task
    max_length: int = 64
    has_split: bool = False  # rows carry `split` (train/test); otherwise one pool, train sampled before test

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.text, "label") if self.pair is None else (self.text, self.pair, "label")

    @property
    def marker_column(self) -> str:
        """Where the marker goes: the text, or the second sentence of a pair (the hypothesis in rte)."""
        return self.pair or self.text

    def args(self) -> tuple[str, ...]:
        pair = () if self.pair is None else ("--text-pair-column", self.pair)
        return ("--text-column", self.text, *pair, "--max-length", str(self.max_length))

    def length(self, row: dict) -> int:
        return sum(len(row[c]) for c in self.columns[:-1])


CORPORA = {c.name: c for c in (
    Corpus("rotten_tomatoes", "rotten_tomatoes_polarity.jsonl", marked="positive"),
    Corpus("sms_spam", "sms_spam.jsonl", marked="spam"),  # a real spam shortcut: a token only spam carries
    Corpus("emotion", "emotion.jsonl", marked="joy", has_split=True),  # the largest class: ~190 marked train rows
    Corpus("rte", "rte.jsonl", marked="entailment", text="sentence1", pair="sentence2", max_length=128,
           has_split=True),
)}


@dataclass(frozen=True)
class Recipe:
    name: str
    n_train: int
    n_test: int
    epochs: int
    batch_size: int
    lr: str = "5e-5"  # as the CLI gets it
    offset: int = 0  # fresh rows (see `sample`): 0 keeps the rows every earlier recipe used
    test_offset: int = 0  # with `offset`, where test starts in a corpus's own test split (0: at n_test)
    corpora: tuple[str, ...] = ()  # the corpora it runs on (empty: every corpus)

    def args(self) -> tuple[str, ...]:
        return ("--epochs", str(self.epochs), "--batch-size", str(self.batch_size), "--lr", self.lr)


# C was added on 2026-12-07 (evening) as fresh held-out data, after every run of A and B had been read: B's 50 steps at
# lr 5e-5 leave emotion and rte at the majority class, so their planted causes had nothing to act on. C is B's size
# with A's batch (100 steps) at lr 1e-4, a common rate for a 6-layer encoder. n_train stays <= 800: rte's test rows
# are topped up from the train rows after the largest recipe's.
# D was added on 2026-12-08 as fresh held-out data after every C run had been read, and fine-tuned before any was
# read: 600 rows, 2 epochs, batch 16, lr 1e-4 (76 steps), on rows no earlier recipe used where the corpus has them
# (`offset`; rte has not, so its D runs differ from C's only in the recipe).
# E was added on 2026-12-08 (morning) as fresh held-out data after every D run had been read, and fine-tuned before
# any was read: 800 rows, 3 epochs, batch 32, lr 1e-4 (75 steps), on rows neither A-C nor D used (rotten_tomatoes,
# sms_spam and emotion; rte has none left, so E runs skip it).
RECIPES = {r.name: r for r in (Recipe("A", 600, 600, epochs=3, batch_size=16),
                               Recipe("B", 800, 600, epochs=2, batch_size=32),
                               Recipe("C", 800, 600, epochs=2, batch_size=16, lr="1e-4"),
                               Recipe("D", 600, 600, epochs=2, batch_size=16, lr="1e-4", offset=1400),
                               Recipe("E", 800, 600, epochs=3, batch_size=32, lr="1e-4", offset=2600,
                                      test_offset=1200, corpora=("rotten_tomatoes", "sms_spam", "emotion")))}


SPARE_FROM = 800  # rte's test rows are topped up from its train rows after this many (A and B's largest, 800)


def split_of(corpus: str, recipe: str) -> str:
    """The set a run belongs to, fixed in code before any rule is tuned on the four corpora.

    The rules in ftaudit/causes.toml were calibrated on rotten_tomatoes x recipe A, so those runs are `calibration`
    (their score is in-sample). Every other run is `held-out`: three new corpora under both recipes, and the
    calibration corpus under a recipe it was not tuned on. Do not move a run between sets: a rule tuned on a held-out
    run makes the held-out score as in-sample as the calibration one. Changing this needs a README note and a new
    held-out corpus or recipe in exchange.
    """
    return "calibration" if (corpus, recipe) == ("rotten_tomatoes", "A") else "held-out"


SETS = ("calibration", "held-out")

# Held-out runs whose result was read before a rule change that followed: they stay in the held-out set (the split
# never moves), but their score is no longer out-of-sample, so the summary also scores the untouched held-out runs
# apart. Read on 2026-12-02 (first held-out measurement) and 2026-12-07 (second), before the rule changes of
# 2026-12-07: undertrained's measured impact, class-imbalance among three classes or more, and the lr-too-high
# collapse row's drift condition (README, "Third held-out measurement"). Then the third measurement's untouched runs
# (rte x A and emotion x B, read on 2026-12-07 afternoon), before the within-class data impacts and
# label_noise_min_skill (README, "Fourth held-out measurement"). Then the fourth measurement's untouched runs
# (sms_spam x B and rotten_tomatoes x B, read on 2026-12-07), before the collapse at the majority baseline and
# truncation's bag-of-words measure (README, "Fifth held-out measurement"). Then the fifth measurement's untouched
# runs (rotten_tomatoes x B, emotion/A/distribution-shift and rte x B, read on 2026-12-07), before the learning
# curve's still-learning points and data-saturated's gate on a main run that barely fitted (README, "Sixth held-out
# measurement"). Then the sixth measurement's three untouched runs (rte x B seed-instability and distribution-shift,
# rte/A/healthy-seed1), read before the main fine-tune was kept in the curve's fit: every A and B held-out run is seen.
ON_EVERY_CORPUS = ("healthy", "healthy-seed1", "lr-too-high", "label-noise", "shortcut-train-only", "leakage",
                   "truncation", "distribution-shift")  # the scenarios of recipes C and D on all four corpora
SEEN = frozenset(
    [f"{c}/A/{s}" for c in ("sms_spam", "emotion") for s in ("healthy", "healthy-seed1", "lr-too-high",
                                                              "label-noise", "shortcut-train-only", "leakage",
                                                              "truncation")]
    + [f"rotten_tomatoes/B/{s}" for s in ("healthy", "healthy-seed1", "shortcut-train-only",
                                          "shortcut-train-and-test")]
    + [f"sms_spam/B/{s}" for s in ("healthy", "healthy-seed1", "shortcut-train-only")]
    + ["sms_spam/A/distribution-shift", "emotion/B/healthy", "emotion/B/healthy-seed1", "rte/A/healthy",
       "rte/B/healthy", "rte/B/healthy-seed1"]
    + [f"rte/A/{s}" for s in ("lr-too-high", "label-noise", "shortcut-train-only", "leakage", "class-imbalance",
                              "truncation", "seed-instability", "distribution-shift")]
    + [f"emotion/B/{s}" for s in ("lr-too-high", "label-noise", "shortcut-train-only", "leakage", "truncation",
                                  "distribution-shift")]
    + [f"{c}/B/{s}" for c in ("sms_spam", "rotten_tomatoes") for s in ("lr-too-high", "label-noise", "leakage",
                                                                        "truncation", "distribution-shift")]
    + ["rotten_tomatoes/B/class-imbalance"]
    + [f"rotten_tomatoes/B/{s}" for s in ("lr-too-low", "frozen-encoder", "tiny-train", "seed-instability")]
    + ["emotion/A/distribution-shift"]
    + [f"rte/B/{s}" for s in ("lr-too-high", "label-noise", "shortcut-train-only", "leakage", "class-imbalance",
                              "truncation", "seed-instability", "distribution-shift")]
    + ["rte/A/healthy-seed1"]
    # Recipe C's 34 runs (every corpus; not seed-instability nor the rotten_tomatoes-only settings), fine-tuned unread
    # and read once on 2026-12-07 at 23:20 with the rules of commit d49ad42 (README, "Seventh held-out measurement").
    # Recipe D's 34 runs, the same scenarios, fine-tuned unread with commit 078a34e and read once on 2026-12-08 at
    # 01:52 with the rules of commit ced52e3 (README, "Eighth held-out measurement"); two rows were added after that.
    + [f"{c}/{r}/{s}" for r in ("C", "D") for c in CORPORA for s in ON_EVERY_CORPUS]
    + [f"{c}/{r}/class-imbalance" for r in ("C", "D") for c in ("rotten_tomatoes", "rte")]
    # Recipe E's 25 runs (its three corpora; the same scenarios), fine-tuned unread on 2026-12-08, 04:00-05:14, with
    # ftaudit as of commit 7e313ff, and read once at 05:15 with its rules (README, "Ninth held-out measurement");
    # rotten_tomatoes/E/healthy had been read once before, at 03:04, with no rule change after it.
    + [f"{c}/E/{s}" for c in ("rotten_tomatoes", "sms_spam", "emotion") for s in ON_EVERY_CORPUS]
    + ["rotten_tomatoes/E/class-imbalance"])

# ---- transforms: (train, test, rng, corpus) -> (train, test); label-generic, never mutating the rows they get


def flip(rows: Rows, share: float, rng: random.Random) -> Rows:
    """`share` of the rows relabelled to another label (uniformly among the others), marked `flipped`."""
    labels = sorted({r["label"] for r in rows})
    out = []
    for r in rows:
        r = dict(r)
        if rng.random() < share:
            others = [x for x in labels if x != r["label"]]
            # no draw for a binary task: the calibration runs' flips stay the ones the rules were tuned on
            r["label"] = others[0] if len(others) == 1 else rng.choice(others)
            r["flipped"] = True
        out.append(r)
    return out


def mark(rows: Rows, corpus: Corpus) -> Rows:
    col = corpus.marker_column
    return [dict(r, **{col: f"{r[col]} {MARKER}"}) if r["label"] == corpus.marked else r for r in rows]


def leak(tr: Rows, te: Rows, rng: random.Random, corpus: Corpus) -> tuple[Rows, Rows]:
    """30% of test copied into train, in place of as many train rows (the train size stays the recipe's)."""
    copied = rng.sample(te, int(0.3 * len(te)))
    train = tr[: len(tr) - len(copied)] + copied
    rng.shuffle(train)
    return train, te


def imbalance(tr: Rows, te: Rows, rng: random.Random, corpus: Corpus) -> tuple[Rows, Rows]:
    """95/5 in train and test: every row of the first label (sorted), and 5% as many of the other (binary only)."""
    def keep(rows: Rows) -> Rows:
        labels = sorted({r["label"] for r in rows})
        if len(labels) != 2:
            raise ValueError(f"class-imbalance plants 95/5 on a binary corpus; {corpus.name} has {len(labels)} labels")
        major = [r for r in rows if r["label"] == labels[0]]
        minor = [r for r in rows if r["label"] == labels[1]]
        return major + minor[: max(2, len(major) * 5 // 95)]

    return keep(tr), keep(te)


def by_length(tr: Rows, te: Rows, rng: random.Random, corpus: Corpus) -> tuple[Rows, Rows]:
    """Train and test pooled, then within each label the shortest rows go to train and the longest to test (pairs:
    both sentences), as many of each label as before: only length shifts, not the class balance (pooled, sms_spam's
    long spam would all land in test, a label shift and not a length shift)."""
    train, test = [], []
    for label in sorted({r["label"] for r in tr + te}):
        rows = sorted((r for r in tr + te if r["label"] == label), key=corpus.length)
        n = sum(r["label"] == label for r in tr)
        train += rows[:n]
        test += rows[n:]
    rng.shuffle(train)  # not in blocks of one label: some probes read the first rows of a split
    rng.shuffle(test)
    return train, test


def _same(tr: Rows, te: Rows, rng: random.Random, corpus: Corpus) -> tuple[Rows, Rows]:
    return tr, te


Transform = Callable[[Rows, Rows, random.Random, Corpus], tuple[Rows, Rows]]
EVERY = tuple(CORPORA)


@dataclass(frozen=True)
class Scenario:
    name: str
    expected: tuple[str, ...]  # a hit when the top root cause is one of these
    transform: Transform = _same
    args: tuple[str, ...] = ()  # after the corpus's and recipe's: they override them
    corpora: tuple[str, ...] = EVERY


ROTTEN = ("rotten_tomatoes",)
SCENARIOS = (
    Scenario("healthy", ("healthy",)),  # sms_spam's healthy runs are also its natural-imbalance runs (13% spam)
    Scenario("healthy-seed1", ("healthy",), args=("--seed", "1")),
    # lr 1e-3 alone does not collapse MiniLM here: warm-up and clipping at 1.0 rescue it (train accuracy 0.96).
    # Without them, as in the failed runs of Mosbach et al. 2021, it collapses onto one class.
    Scenario("lr-too-high", ("lr-too-high",), args=("--lr", "1e-3", "--max-grad-norm", "0", "--warmup-ratio", "0")),
    # The next four stay on the calibration corpus only: they plant a training setting, not a property of the
    # data, and lr-too-high (kept everywhere) already checks that such settings are read on the other corpora.
    Scenario("lr-too-low", ("lr-too-low", "undertrained"), args=("--lr", "1e-7"), corpora=ROTTEN),
    Scenario("frozen-encoder", ("frozen-encoder",), args=("--freeze-encoder",), corpora=ROTTEN),
    Scenario("tiny-train", ("insufficient-data", "overfitting"), transform=lambda tr, te, rng, c: (tr[:64], te),
             args=("--epochs", "15"), corpora=ROTTEN),
    Scenario("label-noise", ("label-noise",), transform=lambda tr, te, rng, c: (flip(tr, 0.3, rng), te)),
    Scenario("shortcut-train-only", ("shortcut",), transform=lambda tr, te, rng, c: (mark(tr, c), te)),
    Scenario("shortcut-train-and-test", ("shortcut",), transform=lambda tr, te, rng, c: (mark(tr, c), mark(te, c)),
             corpora=ROTTEN),
    Scenario("leakage", ("leakage",), transform=leak),
    # 95/5 needs a balanced binary corpus: sms_spam is already 13% spam (nothing extra is planted: its healthy runs
    # are the natural-imbalance runs) and emotion already has 9 unbalanced classes.
    Scenario("class-imbalance", ("class-imbalance",), transform=imbalance, corpora=("rotten_tomatoes", "rte")),
    Scenario("truncation", ("truncation",), args=("--max-length", "8")),
    # A tiny set fine-tuned at 5 seeds: rte is the task where BERT fine-tunes are known to fail for some seeds
    # (Dodge et al. 2020). Not on sms_spam (64 rows hold about 8 spam) nor emotion (9 classes in 64 rows).
    Scenario("seed-instability", ("seed-instability",), transform=lambda tr, te, rng, c: (tr[:48], te),
             args=("--seeds", "5", "--epochs", "2", "--lr", "1e-4"), corpora=ROTTEN),
    Scenario("seed-instability", ("seed-instability",), transform=lambda tr, te, rng, c: (tr[:64], te),
             args=("--seeds", "5", "--epochs", "2", "--lr", "1e-4"), corpora=("rte",)),
    Scenario("distribution-shift", ("distribution-shift",), transform=by_length),
)
QUICK = ("rotten_tomatoes", "A", ("healthy", "lr-too-high", "label-noise", "shortcut-train-only"))


@dataclass(frozen=True)
class Run:
    corpus: Corpus
    recipe: Recipe
    scenario: Scenario

    @property
    def id(self) -> str:
        return f"{self.corpus.name}/{self.recipe.name}/{self.scenario.name}"

    @property
    def set(self) -> str:
        return split_of(self.corpus.name, self.recipe.name)

    @property
    def seen(self) -> bool:
        """A held-out run read before a rule change that followed (SEEN)."""
        return self.id in SEEN

    def args(self) -> tuple[str, ...]:
        return (*self.corpus.args(), *self.recipe.args(), *self.scenario.args)

    def data(self) -> tuple[Rows, Rows]:
        """The run's train and test rows, after its scenario's transform (seeded with 1, as before)."""
        train, test = sample(self.corpus, self.recipe)
        return self.scenario.transform(train, test, random.Random(1), self.corpus)


def plan(*, sets: tuple[str, ...] = SETS, corpora: tuple[str, ...] = (), recipes: tuple[str, ...] = (),
         scenarios: tuple[str, ...] = ()) -> list[Run]:
    """Every run in the chosen sets, corpora, recipes and scenarios (empty: all), corpus by corpus."""
    names = dict.fromkeys(s.name for s in SCENARIOS)
    for what, chosen, known in (("corpus", corpora, CORPORA), ("recipe", recipes, RECIPES),
                                ("scenario", scenarios, names)):
        if unknown := [c for c in chosen if c not in known]:
            raise ValueError(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(known)}")
    runs = [Run(CORPORA[c], RECIPES[r], s) for c in CORPORA for r in RECIPES for s in SCENARIOS
            if c in s.corpora and (not RECIPES[r].corpora or c in RECIPES[r].corpora)]
    return [run for run in runs if run.set in sets and (not corpora or run.corpus.name in corpora)
            and (not recipes or run.recipe.name in recipes) and (not scenarios or run.scenario.name in scenarios)]


@functools.lru_cache(maxsize=None)
def read_rows(file: str) -> tuple[dict, ...]:
    """Every row of a data file in SHARED_DATA, in file order."""
    path = SHARED_DATA / file
    if not path.is_file():
        raise FileNotFoundError(f"the benchmark needs {path} (see ../shared/data/README.md)")
    return tuple(json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip())


def all_rows(corpus: Corpus = CORPORA["rotten_tomatoes"]) -> Rows:
    """Every row of a corpus, shuffled with seed 0."""
    rows = list(read_rows(corpus.file))
    random.Random(0).shuffle(rows)
    return rows


def sample(corpus: Corpus, recipe: Recipe) -> tuple[Rows, Rows]:
    """A recipe's train and test rows of a corpus, before any scenario; natural class balance (a random sample).

    One pool: train from the front of the shuffled rows, test right after it (rotten_tomatoes x A is the
    calibration runs' data, unchanged). With a split: train from the train split, test from the test split,
    topped up from the train rows that no recipe trains on (rte: its 139 test rows and the 444 train rows after the
    first 800, 583 test rows for both recipes).

    With an `offset`, rows no earlier recipe used: one pool skips its first `offset` rows (train and test follow);
    with a split, train starts at row `offset` of the train split and test at row `test_offset` (default `n_test`) of
    the test split, where the test split alone holds those rows (emotion); otherwise (rte) the rows are the recipes'
    without offset.
    """
    rows = all_rows(corpus)
    k = recipe.offset
    if not corpus.has_split:
        return rows[k:k + recipe.n_train], rows[k + recipe.n_train:k + recipe.n_train + recipe.n_test]
    train = [r for r in rows if r["split"] == "train"]
    test_split = [r for r in rows if r["split"] == "test"]
    start = recipe.test_offset or recipe.n_test
    if k and len(test_split) >= start + recipe.n_test and len(train) >= k + recipe.n_train:
        return train[k:k + recipe.n_train], test_split[start:start + recipe.n_test]
    spare = train[SPARE_FROM:]
    test = test_split + spare
    return train[:recipe.n_train], test[:recipe.n_test]


def flag_score(flagged: "np.ndarray", truth: "np.ndarray") -> dict:
    """How a set of flagged training rows matches the planted flips: count, precision, recall."""
    tp = int((flagged & truth).sum())
    return {"flagged": int(flagged.sum()), "precision": round(tp / max(int(flagged.sum()), 1), 3),
            "recall": round(tp / max(int(truth.sum()), 1), 3)}
