"""Text normalisation, exact-duplicate keys and MinHash/LSH near-duplicate search (numpy only, never quadratic).

Near-duplicates are pairs whose character n-gram sets have Jaccard similarity J >= a threshold. Each text gets a
MinHash signature of `perms` values (P[sig_a[k] == sig_b[k]] = J); LSH splits it into `bands` bands of
`perms // bands` rows, and only texts that agree on a whole band become candidates, which are then verified by
their signature agreement (an unbiased estimate of J, std sqrt(J(1-J)/perms)). Given the texts, a candidate whose
estimate comes within VERIFY_SLACK of the threshold is then confirmed with the exact Jaccard similarity of the two
n-gram sets, and only confirmed pairs count: the work stays linear (only candidates are compared).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

import numpy as np

NGRAM = 5  # characters per shingle
PERMS = 64  # MinHash values per text
BANDS = 16  # LSH bands (4 rows each): P[candidate] = 1 - (1 - J^4)^16, 0.99 at J = 0.7, 0.03 at J = 0.2
MAX_CANDIDATES = 4  # per query and band: bounds the work when many texts share a bucket
VERIFY_SLACK = 0.15  # candidates estimated at >= threshold - this are verified exactly (2.6 std at J = 0.7)
_PUNCT = re.compile(r"[^\w\s]|_")
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, case-folded, punctuation removed, whitespace collapsed: 'A  Dark, DULL film!' -> 'a dark dull film'."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub("", text)).strip()


def split_keys(texts: Sequence[str], pairs: Sequence[str] | None) -> tuple[str, ...]:
    """Normalised text of each row; a pair's two sides are joined with ' | ' so (a, b) and (b, a) differ."""
    if pairs is None:
        return tuple(normalize(t) for t in texts)
    return tuple(f"{normalize(a)} | {normalize(b)}" for a, b in zip(texts, pairs))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads every input bit over the 64-bit output (wrapping uint64 arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _pad(key: str, n: int) -> str:
    return key if len(key) >= n else key + "\x01" * (n - len(key))


def ngram_set(key: str, n: int = NGRAM) -> frozenset[str]:
    """The character n-grams of a normalised key (padded like the MinHash shingles)."""
    key = _pad(key, n)
    return frozenset(key[i:i + n] for i in range(len(key) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b|; 1 for two empty sets."""
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def _shingle_hashes(keys: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every character n-gram of every key, and each key's first shingle's offset.

    Keys shorter than n are padded with U+0001 so every key has at least one shingle.
    """
    padded = [_pad(k, n) for k in keys]
    lengths = np.fromiter((len(k) for k in padded), dtype=np.int64, count=len(padded))
    codes = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    counts = lengths - n + 1
    h = np.zeros(len(codes) - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * np.uint64(1_000_003) + codes[j:len(codes) - n + 1 + j]
        h = _mix(h)
    # keep only shingles that lie inside one key: positions start .. start + count - 1 of each key
    valid = np.repeat(starts, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return h[valid], offsets


def minhash(keys: Sequence[str], *, perms: int = PERMS, ngram: int = NGRAM, seed: int = 0,
            chunk: int = 2_000_000) -> np.ndarray:
    """MinHash signatures uint32 [n, perms] over character n-grams.

    h_k(x) = (a_k x + b_k) mod 2^64 with a_k odd; the signature keeps the high 32 bits of each minimum.
    """
    if len(keys) == 0:
        return np.zeros((0, perms), dtype=np.uint32)
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2 ** 63, size=perms, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2 ** 63, size=perms, dtype=np.uint64)
    hashes, offsets = _shingle_hashes(keys, ngram)
    out = np.empty((perms, len(keys)), dtype=np.uint64)
    bounds = np.append(offsets, len(hashes))
    row = 0
    while row < len(keys):  # rows in chunks of about `chunk` shingles (16 MB per temporary at the default)
        end = int(np.searchsorted(bounds, bounds[row] + chunk, side="right")) - 1
        end = min(max(end, row + 1), len(keys))
        lo, hi = bounds[row], bounds[end]
        part, starts = hashes[lo:hi], offsets[row:end] - lo
        with np.errstate(over="ignore"):
            for k in range(perms):  # one permutation at a time over a contiguous array: cache-friendly
                values = part * a[k]
                values += b[k]
                out[k, row:end] = np.minimum.reduceat(values, starts)
        row = end
    return np.ascontiguousarray((out >> np.uint64(32)).astype(np.uint32).T)


def _band_keys(sig: np.ndarray, band: int, bands: int) -> np.ndarray:
    width = sig.shape[1] // bands
    part = sig[:, band * width:(band + 1) * width].astype(np.uint64)
    key = np.zeros(len(sig), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(width):
            key = _mix(key * np.uint64(0x100000001B3) + part[:, j])
    return key


@dataclass(frozen=True)
class Matches:
    """For each query row: the index of its most similar reference row found (-1: none) and its similarity
    (exact Jaccard when verified, else the MinHash estimate; 0 where index == -1)."""

    index: np.ndarray  # int64 [n_query]
    similarity: np.ndarray  # float64 [n_query]
    checked: np.ndarray | None = None  # bool [n_query]: had a candidate whose exact similarity was computed


class _Verifier:
    """Exact Jaccard of (query, reference) pairs of keys, each n-gram set and each pair computed once."""

    def __init__(self, query_keys: Sequence[str], reference_keys: Sequence[str]) -> None:
        self.query_keys, self.reference_keys = query_keys, reference_keys
        self._q: dict[int, frozenset[str]] = {}
        self._r: dict[int, frozenset[str]] = {}
        self._pairs: dict[tuple[int, int], float] = {}

    def __call__(self, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        out = np.empty(len(q), dtype=np.float64)
        for j, (a, b) in enumerate(zip(q.tolist(), r.tolist())):
            if (a, b) not in self._pairs:
                sa = self._q.get(a) or self._q.setdefault(a, ngram_set(self.query_keys[a]))
                sb = self._r.get(b) or self._r.setdefault(b, ngram_set(self.reference_keys[b]))
                self._pairs[a, b] = jaccard(sa, sb)
            out[j] = self._pairs[a, b]
        return out


def near_duplicates(query: np.ndarray, reference: np.ndarray, threshold: float, *, bands: int = BANDS,
                    max_candidates: int = MAX_CANDIDATES, skip: np.ndarray | None = None,
                    query_keys: Sequence[str] | None = None,
                    reference_keys: Sequence[str] | None = None) -> Matches:
    """Each query signature's best reference twin with Jaccard >= threshold, via LSH banding.

    Without keys the similarity is the signatures' agreement; with `query_keys` and `reference_keys` (the texts
    the signatures were made from) a candidate is counted only when the exact Jaccard of its n-gram sets reaches
    the threshold. Work is O((n_query + n_ref) log n_ref * bands * max_candidates): each band's bucket is probed
    for at most `max_candidates` reference rows, so crowded buckets cannot make it quadratic. `skip` marks queries
    to leave out.
    """
    nq = len(query)
    best = np.full(nq, -1, dtype=np.int64)
    best_sim = np.zeros(nq, dtype=np.float64)
    verify = _Verifier(query_keys, reference_keys) if query_keys is not None and reference_keys is not None else None
    checked = np.zeros(nq, dtype=bool) if verify else None
    if nq == 0 or len(reference) == 0:
        return Matches(best, best_sim, checked)
    active = np.ones(nq, dtype=bool) if skip is None else ~skip
    floor = threshold - VERIFY_SLACK if verify else threshold
    for band in range(bands):
        todo = np.flatnonzero(active & (best < 0))
        if len(todo) == 0:
            break
        ref_keys = _band_keys(reference, band, bands)
        order = np.argsort(ref_keys, kind="stable")
        sorted_keys = ref_keys[order]
        q_keys = _band_keys(query[todo], band, bands)
        lo = np.searchsorted(sorted_keys, q_keys, side="left")
        hi = np.searchsorted(sorted_keys, q_keys, side="right")
        for j in range(max_candidates):
            hit = lo + j < hi
            if not hit.any():
                break
            q = todo[hit]
            r = order[lo[hit] + j]
            sim = (query[q] == reference[r]).mean(axis=1)
            if verify:
                near = sim >= floor
                q, r = q[near], r[near]
                checked[q] = True
                sim = verify(q, r)
            better = (sim >= threshold) & (sim > best_sim[q])
            best[q[better]] = r[better]
            best_sim[q[better]] = sim[better]
    return Matches(best, best_sim, checked)


def exact_groups(keys: Sequence[str]) -> dict[str, list[int]]:
    """Row indices of every non-empty normalised text that occurs more than once."""
    seen: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        if k:
            seen.setdefault(k, []).append(i)
    return {k: v for k, v in seen.items() if len(v) > 1}
