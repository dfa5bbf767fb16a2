"""Precision and recall of the extractor against a hand-labelled evaluation set (``tests/data/extract_eval.jsonl``).

A row's predicted keywords are the non-generic keys of its ``hashtag`` and ``caption`` mentions; rows of scope
``hashtags`` compare hashtag keys only. Figures are micro-averaged: every expected or predicted keyword counts once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tiktrend.extract.keywords import video_mentions
from tiktrend.extract.text import canonical


@dataclass
class Score:
    """Counts of one evaluation, and the rows that missed or added keywords."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 1.0


def read_eval_set(path: Path) -> list[dict[str, Any]]:
    """The rows of an evaluation file (JSON lines after ``#`` comment lines)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip() and not line.startswith("#")]


def predicted_keys(row: dict[str, Any]) -> set[str]:
    """The non-generic hashtag and caption keys the extractor gives one evaluation row."""
    modalities = ("hashtag",) if row.get("scope") == "hashtags" else ("hashtag", "caption")
    mentions = video_mentions(row["caption"], row.get("hashtags", []), "", "", False)
    return {key for key, _, modality, generic, _ in mentions if modality in modalities and not generic}


def score(rows: Iterable[dict[str, Any]]) -> Score:
    """Micro-averaged precision and recall of the extractor over evaluation rows."""
    result = Score()
    for row in rows:
        expected = {canonical(key) for key in row["expected"]}
        found = predicted_keys(row)
        result.true_positives += len(expected & found)
        result.false_positives += len(found - expected)
        result.false_negatives += len(expected - found)
        if found != expected:
            result.misses.append(
                {"id": row["id"], "missing": sorted(expected - found), "extra": sorted(found - expected)}
            )
    return result
