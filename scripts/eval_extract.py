"""Precision and recall of keyword extraction on the hand-labelled set; ``--misses`` lists every disagreement.

python scripts/eval_extract.py [tests/data/extract_eval.jsonl] [--misses]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tiktrend.extract.evaluation import read_eval_set, score

DEFAULT = Path(__file__).resolve().parents[1] / "tests" / "data" / "extract_eval.jsonl"


def main(argv: list[str]) -> None:
    paths = [Path(arg) for arg in argv if not arg.startswith("--")]
    rows = read_eval_set(paths[0] if paths else DEFAULT)
    result = score(rows)
    if "--misses" in argv:
        for miss in result.misses:
            print(json.dumps(miss, ensure_ascii=False))
    figures = {
        "rows": len(rows),
        "precision": round(result.precision, 3),
        "recall": round(result.recall, 3),
        "true_positives": result.true_positives,
        "false_positives": result.false_positives,
        "false_negatives": result.false_negatives,
    }
    for source in sorted({row["source"] for row in rows}):
        part = score(row for row in rows if row["source"] == source)
        figures[f"{source}_precision"] = round(part.precision, 3)
        figures[f"{source}_recall"] = round(part.recall, 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
