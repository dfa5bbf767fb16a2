"""The hand-labelled evaluation set and its scorer (the figures themselves are printed by scripts/eval_extract.py)."""

from __future__ import annotations

from pathlib import Path

from tiktrend.extract.evaluation import predicted_keys, read_eval_set, score

EVAL_SET = Path(__file__).parent / "data" / "extract_eval.jsonl"
HOLDOUT_SET = Path(__file__).parent / "data" / "extract_holdout.jsonl"


def test_eval_set_has_200_labelled_rows_from_both_samples() -> None:
    rows = read_eval_set(EVAL_SET)
    assert len(rows) == 200
    assert {row["source"] for row in rows} == {"seed", "vn"}
    assert all(isinstance(row["expected"], list) and row["scope"] in ("all", "hashtags") for row in rows)


def test_the_held_out_set_has_100_other_labelled_rows() -> None:
    rows = read_eval_set(HOLDOUT_SET)
    assert len(rows) == 100 and len({row["id"] for row in rows}) == 100
    assert sum(row["source"] == "seed" for row in rows) == sum(row["source"] == "vn" for row in rows) == 50
    assert all(isinstance(row["expected"], list) and row["scope"] in ("all", "hashtags") for row in rows)
    assert not {row["id"] for row in rows} & {row["id"] for row in read_eval_set(EVAL_SET)}


def test_scorer_counts_micro_averaged_hits() -> None:
    caption = "we made ice cream with my friends in Paris #dessert #fyp"
    row = {"id": "1", "caption": caption, "hashtags": [], "expected": ["icecream", "x"]}
    assert predicted_keys(row) == {"icecream", "paris", "dessert"}  # "made" and "friends" are frequent words
    result = score([row])
    assert (result.true_positives, result.false_positives, result.false_negatives) == (1, 2, 1)
    assert result.precision == 1 / 3
    assert result.recall == 1 / 2


def test_quality_does_not_fall_below_its_recorded_floor() -> None:
    # A regression guard well under the measured figures (docs/extraction.md), not the target itself.
    for path in (EVAL_SET, HOLDOUT_SET):
        result = score(read_eval_set(path))
        assert result.recall >= 0.75
        assert result.precision >= 0.75
