"""What the cut removes from the data itself: a bag-of-words classifier on the texts as the model saw them vs whole.

The cut-vs-uncut contrast reads the fine-tuned model, and it says nothing when the model predicts one class
everywhere (every group scores its class share) or when one class is held only by cut examples. This measure does
not read the model: TF-IDF over the tokenizer's own token ids, one logistic regression fitted on the cut training
texts and one on the whole ones, scored on the same test examples (cut and whole). The paired gain from cut to whole
(stats.paired_gain) is the accuracy the words beyond --max-length carry for a linear model: positive beyond noise
means the cut removes evidence for the label, whatever the fine-tune did with the rest.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ftaudit.inference import Encodings
from ftaudit.stats import PairedGain, paired_gain


def whole_ids(tokenizer: Any, enc: Encodings, texts: Sequence[str], pairs: Sequence[str] | None
              ) -> list[tuple[int, ...]]:
    """Token ids without truncation: the cut rows tokenized again whole, the others as encoded."""
    ids = list(enc.input_ids)
    long_rows = [i for i, n in enumerate(enc.full_lengths) if n > enc.max_length]
    if long_rows:
        out = tokenizer([texts[i] for i in long_rows], None if pairs is None else [pairs[i] for i in long_rows],
                        truncation=False, padding=False, return_attention_mask=False, verbose=False)
        for k, i in enumerate(long_rows):
            ids[i] = tuple(out["input_ids"][k])
    return ids


def _counts(rows: Sequence[Sequence[int]], width: int):
    from scipy.sparse import csr_matrix

    indptr = np.cumsum([0] + [len(r) for r in rows])
    cols = np.fromiter((t for r in rows for t in r), dtype=np.int64, count=int(indptr[-1]))
    data = np.ones(len(cols), dtype=np.float64)
    m = csr_matrix((data, cols, indptr), shape=(len(rows), width))
    m.sum_duplicates()
    return m


def _correct(train_rows: Sequence[Sequence[int]], train_labels: np.ndarray, test_rows: Sequence[Sequence[int]],
             test_labels: np.ndarray, width: int) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    tfidf = TfidfTransformer(sublinear_tf=True)
    x_train = tfidf.fit_transform(_counts(train_rows, width))
    x_test = tfidf.transform(_counts(test_rows, width))
    # One BLAS thread: the fit is small, and on busy cores the threads' contention made it 3-7x slower (800 rows,
    # 9 classes: 3.1-6.8 s against 0.9-1.1 s on 2 shared cores).
    with threadpool_limits(1):
        model = LogisticRegression(max_iter=1000).fit(x_train, train_labels)
    return model.predict(x_test) == test_labels


def information_loss(train_cut: Sequence[Sequence[int]], train_whole: Sequence[Sequence[int]],
                     train_labels: np.ndarray, test_cut: Sequence[Sequence[int]],
                     test_whole: Sequence[Sequence[int]], test_labels: np.ndarray) -> PairedGain | None:
    """Test accuracy of a bag-of-words classifier from cut texts (before) to whole texts (after), paired; None when
    nothing is cut or train holds one class."""
    train_labels = np.asarray(train_labels)
    test_labels = np.asarray(test_labels)
    if len(np.unique(train_labels)) < 2 or not len(test_labels):
        return None
    if list(map(tuple, train_cut)) == list(map(tuple, train_whole)) and \
            list(map(tuple, test_cut)) == list(map(tuple, test_whole)):
        return None
    (train_cut, train_whole, test_cut, test_whole), width = compact(train_cut, train_whole, test_cut, test_whole)
    before = _correct(train_cut, train_labels, test_cut, test_labels, width)
    after = _correct(train_whole, train_labels, test_whole, test_labels, width)
    return paired_gain(before, after)


def compact(*row_sets: Sequence[Sequence[int]]) -> tuple[list[list[np.ndarray]], int]:
    """The token ids that occur in any of the row sets, renumbered 0..k-1, and k.

    The fit is the same as over the whole vocabulary: a column no row holds changes no row's TF-IDF norm, and one no
    train row holds keeps a zero weight under L2 (its gradient stays 0 from the zero start), so the predictions are
    unchanged while the fit's vectors shrink from the vocabulary (30,522 ids for BERT, times the classes) to the
    few thousand ids the texts use: 2.5-3.9 s to 0.45 s on 1,000 emotion rows against 1,000 (9 classes).
    """
    ids = [np.asarray(r, dtype=np.int64) for rows in row_sets for r in rows]
    used = np.unique(np.concatenate(ids)) if ids else np.zeros(0, dtype=np.int64)
    remap = np.full(int(used[-1]) + 1 if len(used) else 1, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    out, k = [], 0
    for rows in row_sets:
        out.append([remap[a] for a in ids[k:k + len(rows)]])
        k += len(rows)
    return out, max(len(used), 1)
