"""Ctrl-C held back while a batch is written, so that a stop lands between batches, never inside one.

A store write is one transaction, so an interrupt inside it loses nothing; but it reaches the caller in
whatever shape the database driver gives it (DuckDB wraps a ``KeyboardInterrupt`` raised while it reads a
registered Arrow table in its own ``InvalidInputException``). Holding the signal for the length of a write
turns every Ctrl-C into a plain ``KeyboardInterrupt`` raised after the write committed.

    with interrupts_held():
        store.load_batch(videos, mentions)
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import duckdb


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold SIGINT until the block ends, then deliver it to the handler that was there before.

    Only the main thread can install signal handlers; elsewhere (an Airflow worker thread, a test
    runner's thread) the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[FrameType | None] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(frame)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    if received:
        _deliver(previous)


def _deliver(handler: object) -> None:
    if handler is signal.SIG_IGN:
        return
    if callable(handler):
        handler(signal.SIGINT, None)
        return
    raise KeyboardInterrupt  # SIG_DFL, or a handler installed outside Python


def interrupt_reached_driver(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C, as raised or as a database driver reported it.

    DuckDB reports one that lands inside a query as ``RuntimeError("Query interrupted")``, and one that lands
    while it reads a registered Python object as an error whose message ends in ``KeyboardInterrupt``.
    """
    if isinstance(exc, KeyboardInterrupt):
        return True
    if not isinstance(exc, RuntimeError | duckdb.Error):
        return False
    return str(exc) == "Query interrupted" or "KeyboardInterrupt" in str(exc)
