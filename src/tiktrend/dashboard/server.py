"""``python -m tiktrend.dashboard.server [streamlit run options]``: Streamlit with the app's modules loaded first.

Streamlit imports an app's modules when the first visitor arrives, so the first page would wait for pandas,
plotly, DuckDB and the query layer to load. Importing them here, before the server starts listening, moves
that cost to start-up, where ``tiktrend dashboard`` (and a health check) already waits.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


def warm() -> None:
    """Load what the app's first run needs (the charts build one figure so plotly's lazy parts load too)."""
    import pandas as pd

    from tiktrend import query  # noqa: F401 - loaded for the app
    from tiktrend.dashboard import charts

    # Not the data module: its caches belong to the server's runtime, which does not exist yet.
    frame = pd.DataFrame({"keyword": ["a"], "score": [1.0], "stage": ["rising"], "growth": [1.0]})
    charts.trend_scores_chart(frame.assign(videos_now=2, videos_before=1)).to_json()


def main(argv: list[str] | None = None) -> int:
    """Warm the imports, then hand over to ``streamlit run`` on the app with the given options."""
    warm()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    try:
        cli.main()
    except SystemExit as done:
        return int(done.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
