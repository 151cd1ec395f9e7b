"""The attribution probe's measurement: sample, attribute, merge to words, aggregate, delete; returns the result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ftaudit.attribution_ig import (class_probs, continuation_table, delete_positions, integrated_gradients,
                                    render_word, special_ids, word_keys, word_spans)
from ftaudit.data import stratified_sample
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
    errors, errors_initial, steps, seconds = [], [], [], 0.0
    for split in ("train", "test"):
        enc, pred = ctx.encodings(split), ctx.predictions(split)
        sample = stratified_sample(pred.labels, o.examples, ctx.seed)
        examples[split] = len(sample)
        # Gold-class attributions are only shown, in the heatmaps of the most confidently wrong test examples:
        # computing them for every misclassified example cost a fifth of the probe for nothing.
        wrong = _shown_wrong(pred, sample, o.heatmaps) if split == "test" else sample[:0]
        rows = np.concatenate([sample, wrong])
        targets = np.concatenate([pred.pred[sample], pred.labels[wrong]]).astype(np.int64)
        first = _ig(ctx, enc, rows, targets, o, o.steps, o.steps)
        errors_initial.append(first.relative_error)
        ig = _ig(ctx, enc, rows, targets, o, o.steps, o.max_steps, first) if o.max_steps > o.steps else first
        errors.append(ig.relative_error)
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
    candidates = tuple(ShortcutCandidate(stats[key], _deletions(ctx, key, all_spans, o, rng))
                       for key in order[: o.candidates])
    ok = np.concatenate(errors) <= o.tolerance
    return AttributionResult(
        examples=examples, items=len(items), tolerance=o.tolerance, initial_steps=o.steps, max_steps=o.max_steps,
        within_tolerance_initial=float(np.mean(np.concatenate(errors_initial) <= o.tolerance)),
        within_tolerance=float(ok.mean()), mean_steps=float(np.concatenate(steps).mean()), ig_seconds=seconds,
        label_entropy=h_y, reference_mi=float(reference), candidates=candidates,
        words=tuple(stats[k] for k in order[:N_WORDS_REPORTED]), class_words=_class_words(ctx, items, names),
        comprehensiveness=_comprehensiveness(ctx, [it for it in items if it.split == "test" and it.is_prediction],
                                             rng),
        heatmaps=_heatmaps(ctx, items, o.heatmaps, rng),
    )


def _ig(ctx: "AuditContext", enc: Any, rows: np.ndarray, targets: np.ndarray, o: Options, steps: int,
        max_steps: int, first: Any = None) -> Any:
    """IG at `steps`; with `first` (its result at o.steps), only the items that missed are redone."""
    def run(r: np.ndarray, t: np.ndarray, n_steps: int) -> Any:
        return integrated_gradients(ctx.model, enc, r, t, device=ctx.device, pad_id=ctx.pad_id,
                                    keep=special_ids(ctx.tokenizer), n_steps=n_steps, max_steps=max_steps,
                                    tolerance=o.tolerance, batch_size=o.batch_size, max_tokens=o.max_tokens)

    if first is None:
        return run(rows, targets, steps)
    missed = np.flatnonzero(first.relative_error > o.tolerance)
    if len(missed) == 0:
        return first
    again = run(rows[missed], targets[missed], min(2 * steps, max_steps))
    attributions = list(first.attributions)
    error, used = first.relative_error.copy(), first.steps.copy()
    for k, item in enumerate(missed):
        attributions[item] = again.attributions[k]
        error[item], used[item] = again.relative_error[k], again.steps[k]
    return type(first)(tuple(attributions), error, used, first.output_change, first.seconds + again.seconds)


def _deletions(ctx: "AuditContext", key: Key, spans_of: dict[str, list[list[tuple[int, int]]]], o: Options,
               rng: np.random.Generator) -> tuple[DeletionTest, ...]:
    """Delete `key` from every input of each split that holds it; the control deletes as many random other words."""
    tests = []
    for split in ("test", "train"):
        enc, pred = ctx.encodings(split), ctx.predictions(split)
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
        flip, fall = _delete(ctx, enc, pred, rows, drop)
        c_flip, c_fall = _delete(ctx, enc, pred, rows, control)
        tests.append(DeletionTest(split=split, n=len(rows), flip_rate=flip, confidence_drop=fall,
                                  control_flip_rate=c_flip, control_confidence_drop=c_fall))
    return tuple(tests)


def _delete(ctx: "AuditContext", enc: Any, pred: Any, rows: list[int], drop: list[set[int]]) -> tuple[float, float]:
    """(flip rate, mean drop of the predicted class's probability) after deleting `drop[k]` from row k."""
    probs = class_probs(ctx.model, delete_positions(enc, rows, drop), device=ctx.device,
                        batch_size=ctx.config.run.eval_batch_size, pad_id=ctx.pad_id)
    idx = np.asarray(rows)
    before = pred.pred[idx]
    original = pred.probs[idx, before]
    after = probs[np.arange(len(rows)), before]
    return float(np.mean(probs.argmax(axis=1) != before)), float(np.mean(original - after))


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


def _comprehensiveness(ctx: "AuditContext", items: list[Item], rng: np.random.Generator) -> tuple[Comprehensiveness, ...]:
    enc, pred = ctx.encodings("test"), ctx.predictions("test")
    out = []
    for k in COMPREHENSIVENESS_K:
        chosen = [it for it in items if len(it.spans) > k]
        if not chosen:
            continue
        rows = [it.row for it in chosen]
        top = [_positions(it, np.argsort(-it.word_attr, kind="stable")[:k]) for it in chosen]
        rand = [_positions(it, rng.choice(len(it.spans), size=k, replace=False)) for it in chosen]
        flip, fall = _delete(ctx, enc, pred, rows, top)
        r_flip, r_fall = _delete(ctx, enc, pred, rows, rand)
        out.append(Comprehensiveness(k=k, n=len(chosen), confidence_drop=fall, flip_rate=flip,
                                     random_confidence_drop=r_fall, random_flip_rate=r_flip))
    return tuple(out)


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
