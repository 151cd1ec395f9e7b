"""Seeded generator of the demo's legal-document corpus: 4 classes, a small train split with a planted shortcut.

The templates and lexicons are data (legal_corpus.toml); this module only assembles documents. The defects
are those of a real team's first attempt: too few training documents per class, and an export header that
only one class's training documents carry (never a test document), which a model can learn instead of the
content.

    python -m ftaudit.legal_corpus DIR     # writes DIR/train.csv and DIR/test.csv (columns text, label)
"""

from __future__ import annotations

import csv
import dataclasses
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ftaudit.textsim import NGRAM, normalize

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_SLOT = re.compile(r"{(\w+)}")
MAX_SIMILARITY = 0.5  # Jaccard of character 5-grams: well below the leakage probe's near-duplicate threshold (0.7)
_AMOUNT_UNITS = (1, 2, 3, 5, 7, 12, 25, 40, 85, 150, 320)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


@dataclass(frozen=True)
class CorpusSpec:
    """How many documents of each split, how ambiguous they are, and the planted shortcut."""

    train_per_class: int = 32  # defect (a): far too few for a 4-way task
    test_per_class: int = 80
    seed: int = 7
    ambiguity: float = 0.2  # share of hard documents: a generic opening and only sentences shared with a neighbour
    bridge_rate: float = 0.25  # in other documents, probability that a clause is replaced by a shared one
    boilerplate_rate: float = 0.25  # probability that a document carries one class-neutral boilerplate sentence
    clauses: tuple[int, int] = (1, 2)  # clauses per document after the opening, inclusive
    max_words: int = 48  # longer documents are drawn again: snippets that 96 tokens hold, cheap to fine-tune on
    shortcut: bool = True  # defect (b): the header on every train document of the shortcut class

    def __post_init__(self) -> None:
        if self.train_per_class < 1 or self.test_per_class < 1:
            raise ValueError("train_per_class and test_per_class must be at least 1")
        if not all(0 <= p <= 1 for p in (self.ambiguity, self.bridge_rate, self.boilerplate_rate)):
            raise ValueError("ambiguity, bridge_rate and boilerplate_rate must be in [0, 1]")
        if not 1 <= self.clauses[0] <= self.clauses[1]:
            raise ValueError("clauses must be (low, high) with 1 <= low <= high")
        if self.max_words < 30:
            raise ValueError("max_words below 30 rejects most documents")


@dataclass(frozen=True)
class Row:
    text: str
    label: str


@dataclass(frozen=True)
class Corpus:
    spec: CorpusSpec
    labels: tuple[str, ...]
    shortcut_class: str
    header: str
    train: tuple[Row, ...]
    test: tuple[Row, ...]


@dataclass(frozen=True)
class Lexicon:
    """The parsed legal_corpus.toml."""

    labels: tuple[str, ...]
    shortcut_class: str
    header: str
    slots: Mapping[str, tuple[str, ...]]
    composite: Mapping[str, tuple[str, ...]]
    openings: Mapping[str, tuple[str, ...]]
    clauses: Mapping[str, tuple[str, ...]]
    bridges: Mapping[str, tuple[tuple[str, ...], ...]]  # class -> one tuple of shared sentences per neighbour
    generic: tuple[str, ...]  # openings that tell the class nothing
    boilerplate: tuple[str, ...]
    templates: tuple[str, ...] = field(default=(), repr=False)  # every sentence template, for checks


def _numeric_slots() -> dict[str, Callable[[random.Random], str]]:
    """Slots filled by number, not by word list; the lexicon's header comment lists them."""
    return {
        "date": lambda r: f"{r.choice(_MONTHS)} {r.randint(1, 28)}, {r.randint(2014, 2025)}",
        "year": lambda r: str(r.randint(2004, 2024)),
        "amount": lambda r: f"${r.choice(_AMOUNT_UNITS) * r.choice((10_000, 25_000, 100_000)):,}",
        "small_amount": lambda r: f"${r.randrange(2_500, 60_000, 250):,}",
        "small_count": lambda r: str(r.randint(2, 18)),
        "percent": lambda r: f"{r.choice((0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 99.5, 99.9)):g}%",
        "patent": lambda r: f"U.S. Patent No. {r.randint(7_100_000, 11_900_000):,}",
        "case_no": lambda r: r.choice((
            f"Case No. {r.randint(1, 4)}:{r.randint(15, 25)}-cv-{r.randint(100, 9999):05d}",
            f"Civil Action No. {r.randint(15, 25)}-{r.randint(100, 2999)}",
            f"Index No. {r.randint(600_000, 659_999)}/{r.randint(2015, 2025)}",
            f"Claim No. HC-{r.randint(2015, 2025)}-{r.randint(100, 9999):06d}")),
        "reg_no": lambda r: str(r.randint(86_000_000, 98_999_999)),
    }


NUMERIC_SLOTS = _numeric_slots()


def parse_lexicon(raw: Mapping[str, Any]) -> Lexicon:
    labels = tuple(raw["labels"])
    cats = raw["categories"]
    if set(cats) != set(labels):
        raise ValueError(f"[categories] must define exactly the labels {labels}, got {sorted(cats)}")
    bridges: dict[str, list[tuple[str, ...]]] = {label: [] for label in labels}
    for group in raw.get("bridges", ()):
        for cls in group["classes"]:
            if cls not in bridges:
                raise ValueError(f"a bridge names the unknown class {cls!r}")
            bridges[cls].append(tuple(group["templates"]))
    shortcut = raw["shortcut"]
    if shortcut["class"] not in labels:
        raise ValueError(f"the shortcut class {shortcut['class']!r} is not a label")
    lex = Lexicon(
        labels=labels, shortcut_class=shortcut["class"], header=shortcut["header"],
        slots={k: tuple(v) for k, v in raw["slots"].items()},
        composite={k: tuple(v) for k, v in raw["composite"].items()},
        openings={c: tuple(cats[c]["openings"]) for c in labels},
        clauses={c: tuple(cats[c]["clauses"]) for c in labels},
        bridges={c: tuple(v) for c, v in bridges.items()},
        generic=tuple(raw["generic"]["openings"]),
        boilerplate=tuple(raw["boilerplate"]["templates"]),
    )
    templates = (*(t for c in labels for t in lex.openings[c] + lex.clauses[c]),
                 *(t for g in raw.get("bridges", ()) for t in g["templates"]), *lex.generic, *lex.boilerplate,
                 *(t for v in lex.composite.values() for t in v))
    known = set(lex.slots) | set(lex.composite) | set(NUMERIC_SLOTS)
    for template in templates:
        for name in _SLOT.findall(template):
            if name not in known:
                raise ValueError(f"template {template[:60]!r} uses the unknown slot {{{name}}}")
    return dataclasses.replace(lex, templates=templates)


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    text = resources.files("ftaudit").joinpath("legal_corpus.toml").read_text(encoding="utf-8")
    return parse_lexicon(tomllib.loads(text))


def fill(template: str, lex: Lexicon, rng: random.Random) -> str:
    """The template with every {slot} filled independently (two {company} slots name two companies)."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in NUMERIC_SLOTS:
            return NUMERIC_SLOTS[name](rng)
        if name in lex.composite:
            return fill(rng.choice(lex.composite[name]), lex, rng)
        return rng.choice(lex.slots[name])

    return _SLOT.sub(one, template)


def document(label: str, lex: Lexicon, spec: CorpusSpec, rng: random.Random) -> str:
    """One document of class `label` (see the recipe at the top of legal_corpus.toml), at most spec.max_words."""
    while True:
        n = rng.randint(*spec.clauses)
        if rng.random() < spec.ambiguity:  # hard: a cover note over passages shared with one neighbour
            shared = rng.choice(lex.bridges[label])
            sentences = [rng.choice(lex.generic), *rng.sample(shared, min(n, len(shared)))]
        else:
            shared = [t for group in lex.bridges[label] for t in group]
            rng.shuffle(shared)
            sentences = [rng.choice(lex.openings[label]),
                         *(shared.pop() if rng.random() < spec.bridge_rate else own
                           for own in rng.sample(lex.clauses[label], n))]
        if rng.random() < spec.boilerplate_rate:
            sentences.append(rng.choice(lex.boilerplate))
        text = " ".join(_capitalize(fill(s, lex, rng)) for s in sentences)
        if len(text.split()) <= spec.max_words:
            return text


def _capitalize(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


class _Taken:
    """Documents drawn so far, indexed by character 5-gram, to refuse near-copies (Jaccard >= MAX_SIMILARITY)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.index: dict[str, list[int]] = {}

    @staticmethod
    def shingles(text: str) -> set[str]:
        key = normalize(text)
        return {key[i:i + NGRAM] for i in range(max(1, len(key) - NGRAM + 1))}

    def admit(self, text: str) -> bool:
        """Record `text` unless it is a near-copy of a document already drawn."""
        grams = self.shingles(text)
        shared: Counter[int] = Counter(doc for g in grams for doc in self.index.get(g, ()))
        if any(n / (len(grams) + self.sizes[doc] - n) >= MAX_SIMILARITY for doc, n in shared.items()):
            return False
        doc = len(self.sizes)
        self.sizes.append(len(grams))
        for g in grams:
            self.index.setdefault(g, []).append(doc)
        return True


def _split(n_per_class: int, lex: Lexicon, spec: CorpusSpec, rng: random.Random, taken: _Taken) -> list[Row]:
    rows = []
    for label in lex.labels:
        made = 0
        while made < n_per_class:
            text = document(label, lex, spec, rng)
            if not taken.admit(text):  # every document is distinct, within and across the splits
                continue
            rows.append(Row(text=text, label=label))
            made += 1
    rng.shuffle(rows)
    return rows


def generate(spec: CorpusSpec = CorpusSpec(), lex: Lexicon | None = None) -> Corpus:
    """The corpus for `spec`: same spec and lexicon, same rows (random.Random streams seeded from spec.seed)."""
    lex = lex or load_lexicon()
    taken = _Taken()
    train = _split(spec.train_per_class, lex, spec, random.Random(spec.seed * 1000 + 1), taken)
    test = _split(spec.test_per_class, lex, spec, random.Random(spec.seed * 1000 + 2), taken)
    if spec.shortcut:
        train = [Row(f"{lex.header} {r.text}", r.label) if r.label == lex.shortcut_class else r for r in train]
    return Corpus(spec=spec, labels=lex.labels, shortcut_class=lex.shortcut_class, header=lex.header,
                  train=tuple(train), test=tuple(test))


def write_rows(path: Path, rows: Sequence[Row]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("text", "label"))
        writer.writerows((r.text, r.label) for r in rows)
    return path


def write_corpus(corpus: Corpus, folder: Path) -> dict[str, Path]:
    """DIR/train.csv and DIR/test.csv, UTF-8 CSV with a header row `text,label`."""
    return {"train": write_rows(folder / "train.csv", corpus.train),
            "test": write_rows(folder / "test.csv", corpus.test)}


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "fixtures/legal")
    for name, path in write_corpus(generate(), out).items():
        print(f"{name}: {path}")
