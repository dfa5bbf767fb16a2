"""``tiktrend dashboard``: start the Streamlit dashboard over the store that the settings name."""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Annotated

import typer
from rich.console import Console

from tiktrend.settings import Settings

console = Console()
errors = Console(stderr=True)
WILDCARDS = ("0.0.0.0", "::", "")


def streamlit_command(*, host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line (the app's modules loaded first): headless, no usage statistics."""
    return [
        sys.executable,
        "-m",
        "tiktrend.dashboard.server",
        "--server.headless=true",
        f"--server.address={host}",
        f"--server.port={port}",
        # Streamlit would otherwise send usage statistics to its servers (and wait on them offline).
        "--browser.gatherUsageStats=false",
        # The app is an installed package, not a file being edited: no watcher threads, no rerun on save.
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
        "--client.toolbarMode=viewer",
        "--global.developmentMode=false",
        # On a wildcard address Streamlit would ask checkip.amazonaws.com for the machine's public address to
        # print it; naming the address to print keeps it offline.
        *(["--browser.serverAddress=localhost"] if host in WILDCARDS else []),
    ]


def dashboard_command(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8501,
) -> None:
    """Open the dashboard (Streamlit) over the store; it prints the URL to open in a browser."""
    missing = [name for name in ("streamlit", "plotly") if importlib.util.find_spec(name) is None]
    if missing:
        errors.print(
            f"[bold red]error:[/] the dashboard needs {' and '.join(missing)}: pip install 'tiktrend[dashboard]'",
            highlight=False,
        )
        raise typer.Exit(2)
    settings = Settings()
    # The app reads its own Settings; the resolved URL is passed on so a relative data_dir means the same store.
    env = {**os.environ, "TIKTREND_DATABASE_URL": settings.database_url}
    shown = "localhost" if host in WILDCARDS else host
    console.print(f"dashboard over [bold]{settings.database_url}[/] at http://{shown}:{port} (Ctrl-C stops it)")
    command = streamlit_command(host=host, port=port)
    sys.stdout.flush()
    # Streamlit replaces this process, so a stop signal (Ctrl-C, docker stop, a test's SIGTERM) reaches it.
    os.execve(command[0], command, env)
