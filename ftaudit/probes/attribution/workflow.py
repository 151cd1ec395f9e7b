"""The attribution probe's measurement: sample, attribute, merge to words, aggregate, delete; returns the result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ftaudit.probes.attribution.ig import (bf16_copy, class_probs, continuation_table, delete_positions, integrated_gradients,
                                    render_word, special_ids, uses_bf16_copy, word_keys, word_spans)
from ftaudit.data import stratified_sample
from ftaudit.modeling import resolve_precision
from ftaudit.probes.attribution import (COMPREHENSIVENESS_K, REFERENCE_RANK, TOP_WORDS, AttributionResult,
                                        ClassWords, Comprehensiveness, DeletionTest, Heatmap, Options,
                                        ShortcutCandidate, WordStat, association, entropy, mutual_information)

if TYPE_CHECKING:
    from ftaudit.context import AuditContext

Key = tuple[int, ...]
N_WORDS_REPORTED = 30
MI_FLOOR = 1e-6  # nats


@dataclass
class Item:
    """One IG run: a row of a split and the class it is attributed to."""

    split: str
    row: int
    target: int
    is_prediction: bool
    keys: list[Key]
    spans: list[tuple[int, int]]
    word_attr: np.ndarray  # float64 [words]


def run_attribution(ctx: "AuditContext", o: Options) -> AttributionResult:
    rng = np.random.default_rng(ctx.seed)
    names = ctx.labels.names
    keep = special_ids(ctx.tokenizer)
    cont = continuation_table(ctx.tokenizer)
    items: list[Item] = []
    examples: dict[str, int] = {}
    errors, errors_initial, steps, redone, seconds = [], [], [], [], 0.0
    precision = resolve_precision(o.precision, ctx.device)
    half = bf16_copy(ctx.model) if uses_bf16_copy(precision, ctx.device) else None
    scorer = Scorer(ctx, half)
    for split in ("train", "test"):
        enc, pred = ctx.encodings(split), ctx.predictions(split)
        sample = stratified_sample(pred.labels, o.examples, ctx.seed)
        examples[split] = len(sample)
        # Gold-class attributions are only shown, in the heatmaps of the most confidently wrong test examples:
        # computing them for every misclassified example cost a fifth of the probe for nothing.
        wrong = _shown_wrong(pred, sample, o.heatmaps) if split == "test" else sample[:0]
        rows = np.concatenate([sample, wrong])
        targets = np.concatenate([pred.pred[sample], pred.labels[wrong]]).astype(np.int64)
        ig = integrated_gradients(ctx.model, enc, rows, targets, device=ctx.device, pad_id=ctx.pad_id, keep=keep,
                                  n_steps=o.steps, max_steps=o.max_steps, tolerance=o.tolerance,
                                  batch_size=o.batch_size, max_tokens=o.max_tokens, precision=precision,
                                  half=half)
        errors_initial.append(ig.initial_error)
        errors.append(ig.relative_error)
        redone.append(ig.fp32_redone)
        steps.append(ig.steps)
        seconds += ig.seconds
        for k, (row, target) in enumerate(zip(rows, targets)):
            ids = enc.input_ids[row]
            spans = word_spans(ids, cont, keep)
            a = ig.attributions[k]
            items.append(Item(split, int(row), int(target), k < len(sample), word_keys(ids, spans), spans,
                              np.asarray([a[s:e].sum() for s, e in spans], dtype=np.float64)))
    # ---- label association of every word on train
    train_enc = ctx.encodings("train")
    train_labels = ctx.splits["train"].labels
    all_spans = {split: [word_spans(ids, cont, keep) for ids in ctx.encodings(split).input_ids]
                 for split in ("train", "test")}
    doc_sets = [set(word_keys(ids, sp)) for ids, sp in zip(train_enc.input_ids, all_spans["train"])]
    per_class, totals = association(doc_sets, train_labels, len(names))
    h_y = entropy(totals)
    mi = {key: mutual_information(c, totals) for key, c in per_class.items() if c.sum() >= o.min_df}
    ranked_mi = sorted(mi.values(), reverse=True)
    # floored so that a word is "far above" a rest with no association at all, by a finite ratio
    reference = max(ranked_mi[min(REFERENCE_RANK, len(ranked_mi)) - 1] if ranked_mi else 0.0, MI_FLOOR)
    # ---- attribution share of each word where it occurs (prediction targets only)
    shares: dict[Key, list[float]] = {}
    for it in items:
        mass = np.abs(it.word_attr).sum()
        if not it.is_prediction or mass <= 0:
            continue
        per_word: dict[Key, float] = {}
        for key, a in zip(it.keys, it.word_attr):
            per_word[key] = per_word.get(key, 0.0) + abs(a) / mass
        for key, share in per_word.items():
            shares.setdefault(key, []).append(share)
    stats: dict[Key, WordStat] = {}
    for key, values in shares.items():
        if key not in mi:
            continue
        counts = per_class[key]
        top = int(counts.argmax())
        p = counts[top] / counts.sum()
        share = float(np.mean(values))
        stats[key] = WordStat(
            word=render_word(ctx.tokenizer, key), train_df=int(counts.sum()), label=names[top], p_label=float(p),
            pmi=float(np.log(p / (totals[top] / totals.sum()))), mutual_information=float(mi[key]),
            association_ratio=float(mi[key] / reference),
            sample_count=len(values), attribution_share=share,
            score=float(share * mi[key] / h_y) if h_y > 0 else 0.0)
    order = sorted(stats, key=lambda k: -stats[k].score)
    # Every deletion of every candidate, and the comprehensiveness deletions, are built first (in a fixed order of
    # random draws) and scored together: one length-sorted pass per split instead of small passes per request.
    per_candidate = [_deletion_requests(ctx, key, all_spans, o, rng) for key in order[: o.candidates]]
    test_items = [it for it in items if it.split == "test" and it.is_prediction]
    per_k = _comprehensiveness_requests(test_items, rng)
    flat = [r for reqs in per_candidate for r in reqs] + [r for _, r in per_k]
    scores = iter(scorer.score([(r.split, r.rows, drop) for r in flat for drop in (r.drop, r.control)]))
    candidates = tuple(
        ShortcutCandidate(stats[key], tuple(_deletion_test(r, next(scores), next(scores)) for r in reqs))
        for key, reqs in zip(order[: o.candidates], per_candidate))
    comprehensiveness = tuple(_comprehensiveness(k, r, next(scores), next(scores)) for k, r in per_k)
    ok = np.concatenate(errors) <= o.tolerance
    return AttributionResult(
        examples=examples, items=len(items), tolerance=o.tolerance, initial_steps=o.steps, max_steps=o.max_steps,
        within_tolerance_initial=float(np.mean(np.concatenate(errors_initial) <= o.tolerance)),
        within_tolerance=float(ok.mean()), mean_steps=float(np.concatenate(steps).mean()), ig_seconds=seconds,
        precision=precision, fp32_redone=int(np.concatenate(redone).sum()),
        label_entropy=h_y, reference_mi=float(reference), candidates=candidates,
        words=tuple(stats[k] for k in order[:N_WORDS_REPORTED]), class_words=_class_words(ctx, items, names),
        comprehensiveness=comprehensiveness,
        heatmaps=_heatmaps(ctx, items, o.heatmaps, rng),
    )


@dataclass(frozen=True)
class Deletions:
    """Inputs of one split to delete positions from: `drop[k]` from row `rows[k]`, and the control `control[k]`."""

    split: str
    rows: list[int]
    drop: list[set[int]]
    control: list[set[int]]


def _deletion_requests(ctx: "AuditContext", key: Key, spans_of: dict[str, list[list[tuple[int, int]]]], o: Options,
                       rng: np.random.Generator) -> list[Deletions]:
    """Delete `key` from every input of each split that holds it; the control deletes as many random other words."""
    out = []
    for split in ("test", "train"):
        enc = ctx.encodings(split)
        rows, drop, control = [], [], []
        for row, (ids, spans) in enumerate(zip(enc.input_ids, spans_of[split])):
            hits = [s for s in spans if tuple(ids[s[0]:s[1]]) == key]
            others = [s for s in spans if tuple(ids[s[0]:s[1]]) != key]
            if not hits or not others:
                continue
            rows.append(row)
            drop.append({p for s, e in hits for p in range(s, e)})
            picked = rng.choice(len(others), size=min(len(hits), len(others)), replace=False)
            control.append({p for i in picked for p in range(*others[i])})
        if not rows:
            continue
        if len(rows) > o.deletion_examples:
            keep_idx = np.sort(rng.choice(len(rows), size=o.deletion_examples, replace=False))
            rows, drop, control = ([x[i] for i in keep_idx] for x in (rows, drop, control))
        out.append(Deletions(split, rows, drop, control))
    return out


def _deletion_test(r: Deletions, deleted: tuple[float, float], control: tuple[float, float]) -> DeletionTest:
    return DeletionTest(split=r.split, n=len(r.rows), flip_rate=deleted[0], confidence_drop=deleted[1],
                        control_flip_rate=control[0], control_confidence_drop=control[1])


class Scorer:
    """Predictions before and after deleting words, both from one model: the bf16 copy where IG ran in it on a CPU.

    Deleting words is measured against the same model's predictions on the unedited input, so a deletion test
    never mixes precisions; with the fp32 model those are the shared prediction pass's.
    """

    def __init__(self, ctx: "AuditContext", half: Any) -> None:
        self.ctx, self.half = ctx, half

    def _probs(self, enc: Any) -> np.ndarray:
        ctx = self.ctx
        return class_probs(ctx.model if self.half is None else self.half, enc, device=ctx.device,
                           batch_size=ctx.config.run.eval_batch_size, pad_id=ctx.pad_id)

    def original(self, split: str, rows: list[int]) -> np.ndarray:
        """Probabilities [len(rows), C] on the unedited inputs; a row asked for several times is predicted once."""
        if self.half is None:
            return self.ctx.predictions(split).probs[np.asarray(rows)]
        unique, where = np.unique(np.asarray(rows, dtype=np.int64), return_inverse=True)
        return self._probs(self.ctx.encodings(split).subset(unique))[where]

    def score(self, requests: list[tuple[str, list[int], list[set[int]]]]) -> list[tuple[float, float]]:
        """Per request (split, rows, drop): (flip rate, mean drop of the predicted class's probability) after
        deleting `drop[k]` from row k. All edited inputs of a split go through one length-sorted pass."""
        out: list[tuple[float, float]] = [(0.0, 0.0)] * len(requests)
        for split in sorted({r[0] for r in requests}):
            mine = [i for i, r in enumerate(requests) if r[0] == split]
            rows = [row for i in mine for row in requests[i][1]]
            drops = [d for i in mine for d in requests[i][2]]
            before_probs = self.original(split, rows)
            before = before_probs.argmax(axis=1)
            after = self._probs(delete_positions(self.ctx.encodings(split), rows, drops))
            k = np.arange(len(rows))
            flips = after.argmax(axis=1) != before
            fall = before_probs[k, before] - after[k, before]
            start = 0
            for i in mine:
                stop = start + len(requests[i][1])
                out[i] = (float(np.mean(flips[start:stop])), float(np.mean(fall[start:stop])))
                start = stop
        return out


def _class_words(ctx: "AuditContext", items: list[Item], names: tuple[str, ...]) -> tuple[ClassWords, ...]:
    out = []
    for c, name in enumerate(names):
        total: dict[Key, float] = {}
        count: dict[Key, int] = {}
        chosen = [it for it in items if it.is_prediction and it.target == c]
        for it in chosen:
            mass = np.abs(it.word_attr).sum()
            if mass <= 0:
                continue
            for key, a in zip(it.keys, it.word_attr):
                total[key] = total.get(key, 0.0) + a / mass
                count[key] = count.get(key, 0) + 1
        top = sorted(total, key=lambda k: -total[k])[:TOP_WORDS]
        top = [k for k in top if total[k] > 0]
        out.append(ClassWords(label=name, n=len(chosen), words=tuple(render_word(ctx.tokenizer, k) for k in top),
                              total_share=tuple(float(total[k]) for k in top),
                              count=tuple(count[k] for k in top)))
    return tuple(out)


def _comprehensiveness_requests(items: list[Item], rng: np.random.Generator) -> list[tuple[int, Deletions]]:
    """Per k: delete each test item's k words with the largest attribution, against k random words."""
    out = []
    for k in COMPREHENSIVENESS_K:
        chosen = [it for it in items if len(it.spans) > k]
        if not chosen:
            continue
        top = [_positions(it, np.argsort(-it.word_attr, kind="stable")[:k]) for it in chosen]
        rand = [_positions(it, rng.choice(len(it.spans), size=k, replace=False)) for it in chosen]
        out.append((k, Deletions("test", [it.row for it in chosen], top, rand)))
    return out


def _comprehensiveness(k: int, r: Deletions, top: tuple[float, float], rand: tuple[float, float]
                       ) -> Comprehensiveness:
    return Comprehensiveness(k=k, n=len(r.rows), confidence_drop=top[1], flip_rate=top[0],
                             random_confidence_drop=rand[1], random_flip_rate=rand[0])


def _positions(it: Item, words: np.ndarray) -> set[int]:
    return {p for w in words for p in range(*it.spans[int(w)])}


def _shown_wrong(pred: Any, sample: np.ndarray, limit: int) -> np.ndarray:
    """The misclassified rows of `sample` that a heatmap can show: the `limit` most confident, most confident first."""
    wrong = sample[pred.pred[sample] != pred.labels[sample]]
    return wrong[np.argsort(-pred.probs[wrong].max(axis=1), kind="stable")][:max(limit, 0)]


def _heatmaps(ctx: "AuditContext", items: list[Item], limit: int, rng: np.random.Generator) -> tuple[Heatmap, ...]:
    if limit <= 0:
        return ()
    pred = ctx.predictions("test")
    probs = pred.probs
    names = ctx.labels.names
    test = [it for it in items if it.split == "test" and it.is_prediction and it.keys]
    gold_of = {it.row: it for it in items if it.split == "test" and not it.is_prediction}
    wrong = sorted((it for it in test if it.row in gold_of), key=lambda it: -probs[it.row].max())
    right = [it for it in test if pred.pred[it.row] == pred.labels[it.row]]
    n_wrong = min(len(wrong), limit - min(len(right), max(2, limit // 4)))
    n_right = min(len(right), limit - n_wrong)
    picked = wrong[:n_wrong] + [right[i] for i in sorted(rng.choice(len(right), size=n_right, replace=False))]
    out = []
    for it in picked:
        gold = gold_of.get(it.row)
        out.append(Heatmap(gold=names[int(pred.labels[it.row])], predicted=names[it.target],
                           confidence=float(probs[it.row].max()), correct=gold is None,
                           words=tuple(render_word(ctx.tokenizer, k) for k in it.keys), scores=_scaled(it.word_attr),
                           gold_scores=_scaled(gold.word_attr) if gold is not None else ()))
    return tuple(out)


def _scaled(a: np.ndarray) -> tuple[float, ...]:
    top = float(np.abs(a).max()) if len(a) else 0.0
    return tuple(float(x / top) if top > 0 else 0.0 for x in a)
