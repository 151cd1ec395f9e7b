"""The attribution probe's measurement: sample, screen, attribute in rounds, merge to words, delete; the result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ftaudit.probes.attribution.ig import (REDUCED_MIN_DELTA, bf16_copy, class_probs, continuation_table,
                                           delete_positions, render_word, special_ids, uses_bf16_copy, word_keys,
                                           word_spans)
from ftaudit.data import stratified_sample
from ftaudit.modeling import resolve_precision
from ftaudit.probes.attribution import (COMPREHENSIVENESS_K, TOP_WORDS, AttributionResult, ClassWords,
                                        Comprehensiveness, DeletionTest, Heatmap, Options, ShortcutCandidate)
from ftaudit.probes.attribution.screen import IGRounds, grad_saliency, round_robin, stable, top_scores
from ftaudit.probes.attribution.words import Association, Item, Key, word_stats

if TYPE_CHECKING:
    from ftaudit.context import AuditContext

N_WORDS_REPORTED = 30


def run_attribution(ctx: "AuditContext", o: Options) -> AttributionResult:
    rng = np.random.default_rng(ctx.seed)
    names = ctx.labels.names
    keep = special_ids(ctx.tokenizer)
    cont = continuation_table(ctx.tokenizer)
    precision = resolve_precision(o.precision, ctx.device)
    half = bf16_copy(ctx.model) if uses_bf16_copy(precision, ctx.device) else None
    scorer = Scorer(ctx, half)
    # ---- label association of every word on train
    all_spans = {split: [word_spans(ids, cont, keep) for ids in ctx.encodings(split).input_ids]
                 for split in ("train", "test")}
    keys_of = {split: [word_keys(ids, sp) for ids, sp in zip(ctx.encodings(split).input_ids, all_spans[split])]
               for split in ("train", "test")}
    assoc = Association.of([set(k) for k in keys_of["train"]], ctx.splits["train"].labels, len(names), o.min_df)
    # ---- screen: Grad-L2 saliency of the predicted class over the whole stratified sample
    samples = {split: stratified_sample(ctx.predictions(split).labels, o.examples, ctx.seed)
               for split in ("train", "test")}
    screened: list[Item] = []
    screen_seconds = 0.0
    for split, sample in samples.items():
        if o.ig == "all":
            break
        pred = ctx.predictions(split)
        sal, sec = grad_saliency(half if half is not None else ctx.model, ctx.encodings(split), sample,
                                 pred.pred[sample].astype(np.int64), device=ctx.device, pad_id=ctx.pad_id,
                                 keep=keep, batch_size=o.batch_size, max_tokens=o.max_tokens,
                                 math_attention=half is not None)
        screen_seconds += sec
        screened += [Item(split, int(row), int(pred.pred[row]), True, keys_of[split][row], all_spans[split][row],
                          np.asarray([s[a:b].sum() for a, b in all_spans[split][row]], dtype=np.float64))
                     for row, s in zip(sample, sal)]
    screen_stats = word_stats(ctx, screened, assoc)
    shortlist = sorted(screen_stats, key=lambda k: -screen_stats[k].score)[: o.shortlist]
    # ---- confirm: IG on the heatmap examples, then rounds of examples that hold shortlisted words
    pred_test = ctx.predictions("test")
    heat_right, heat_wrong = _heat_rows(pred_test, samples["test"], o.heatmaps, rng)
    first = [("test", int(r)) for r in np.concatenate([heat_wrong, heat_right])]
    if o.ig == "all":
        queue = [(split, int(r)) for split, sample in samples.items() for r in sample if (split, int(r)) not in first]
        rounds = [first + queue]
    else:
        pooled = [(split, int(r)) for split, sample in samples.items() for r in sample]
        holders: dict[Key, list[tuple[str, int]]] = {}
        for i in rng.permutation(len(pooled)):
            split, r = pooled[i]
            for key in set(keys_of[split][r]):
                holders.setdefault(key, []).append((split, r))
        queue = round_robin(shortlist, holders, set(first), o.ig_per_word)
        step = max(1, o.batch_size)
        rounds = [first] + [queue[i:i + step] for i in range(0, len(queue), step)]
    ig = IGRounds(ctx, o, keep, cont, precision, half)
    history: list[np.ndarray] = []
    stopped = "all" if o.ig == "all" else "exhausted"
    for k, todo in enumerate(rounds):
        gold = [("test", int(r)) for r in heat_wrong] if k == 0 else []
        ig.run(todo, gold)
        stats = word_stats(ctx, ig.items, assoc)
        history.append(top_scores([w.score for w in stats.values()], o.candidates))
        if o.ig != "all" and stable(history, o.stable_rounds, o.stable_tolerance, ig.attributed(), o.min_ig_examples):
            stopped = "stable"
            break
    items = ig.items
    stats = word_stats(ctx, items, assoc, screen_stats)
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
    ok = np.concatenate(ig.errors) <= o.tolerance
    ok_initial = np.concatenate(ig.errors_initial) <= o.tolerance
    steps = np.concatenate(ig.steps)
    return AttributionResult(
        examples={split: len(s) for split, s in samples.items()}, items=len(items), tolerance=o.tolerance,
        initial_steps=o.steps, max_steps=o.max_steps,
        # with no item (no word to confirm and no heatmap) nothing missed completeness
        within_tolerance_initial=float(ok_initial.mean()) if len(ok) else 1.0,
        within_tolerance=float(ok.mean()) if len(ok) else 1.0, mean_steps=float(steps.mean()) if len(ok) else 0.0,
        ig_seconds=ig.seconds,
        precision=precision, fp32_redone=int(np.concatenate(ig.redone).sum()),
        reduced_min_delta=REDUCED_MIN_DELTA if precision != "fp32" else 0.0,
        label_entropy=assoc.h_y, reference_mi=float(assoc.reference), candidates=candidates,
        words=tuple(stats[k] for k in order[:N_WORDS_REPORTED]), class_words=_class_words(ctx, items, names),
        comprehensiveness=comprehensiveness,
        heatmaps=_heatmaps(ctx, items, [int(r) for _, r in first]),
        attributed={split: sum(1 for it in items if it.split == split and it.is_prediction) for split in samples},
        ig_mode=o.ig, stopped=stopped, ig_rounds=len(history), stable_rounds=o.stable_rounds,
        stable_tolerance=o.stable_tolerance, ig_per_word=o.ig_per_word,
        round_size=max(1, o.batch_size),
        min_ig_examples=o.min_ig_examples, shortlist=tuple(render_word(ctx.tokenizer, k) for k in shortlist),
        screen_seconds=screen_seconds,
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


def _heat_rows(pred: Any, sample: np.ndarray, limit: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The test rows a heatmap shows: (a few correct ones drawn at random, the most confidently wrong first)."""
    if limit <= 0:
        return sample[:0], sample[:0]
    wrong = sample[pred.pred[sample] != pred.labels[sample]]
    wrong = wrong[np.argsort(-pred.probs[wrong].max(axis=1), kind="stable")]
    right = sample[pred.pred[sample] == pred.labels[sample]]
    n_wrong = min(len(wrong), limit - min(len(right), max(2, limit // 4)))
    n_right = min(len(right), limit - n_wrong)
    return right[np.sort(rng.choice(len(right), size=n_right, replace=False))], wrong[:n_wrong]


def _heatmaps(ctx: "AuditContext", items: list[Item], rows: list[int]) -> tuple[Heatmap, ...]:
    """Heatmaps of the test `rows`, in order (wrong ones first)."""
    pred = ctx.predictions("test")
    probs = pred.probs
    names = ctx.labels.names
    mine = {it.row: it for it in items if it.split == "test" and it.is_prediction and it.keys}
    gold_of = {it.row: it for it in items if it.split == "test" and not it.is_prediction}
    out = []
    for row in rows:
        it = mine.get(row)
        if it is None:
            continue
        gold = gold_of.get(row)
        out.append(Heatmap(gold=names[int(pred.labels[row])], predicted=names[it.target],
                           confidence=float(probs[row].max()), correct=gold is None,
                           words=tuple(render_word(ctx.tokenizer, k) for k in it.keys), scores=_scaled(it.word_attr),
                           gold_scores=_scaled(gold.word_attr) if gold is not None else ()))
    return tuple(out)


def _scaled(a: np.ndarray) -> tuple[float, ...]:
    top = float(np.abs(a).max()) if len(a) else 0.0
    return tuple(float(x / top) if top > 0 else 0.0 for x in a)
