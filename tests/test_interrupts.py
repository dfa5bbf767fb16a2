"""Ctrl-C held back while a batch is written: the block finishes, then the interrupt is raised."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest

from tiktrend.interrupts import interrupt_reached_driver, interrupts_held


@pytest.fixture(autouse=True)
def python_handler() -> Iterator[None]:
    """Python's own Ctrl-C handler for each test (an earlier test's Spark context installs its own)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_inside_the_block_is_raised_after_it() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt), interrupts_held():
        os.kill(os.getpid(), signal.SIGINT)
        finished.append(True)
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_no_ctrl_c_no_interrupt_and_the_handler_is_restored() -> None:
    with interrupts_held():
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_previous_handler_gets_the_signal() -> None:
    seen: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: seen.append(signum))
    try:
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGINT)
            assert seen == []
        assert seen == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_ignored_ctrl_c_stays_ignored() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_outside_the_main_thread_the_block_runs_as_it_is() -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with interrupts_held():
                assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []


def test_driver_errors_that_carry_a_ctrl_c_are_recognised() -> None:
    assert interrupt_reached_driver(KeyboardInterrupt())
    assert interrupt_reached_driver(RuntimeError("Query interrupted"))
    wrapped = "Invalid Input Error: reading the schema of the object registered as 'v' failed: KeyboardInterrupt: "
    assert interrupt_reached_driver(RuntimeError(wrapped))
    assert not interrupt_reached_driver(RuntimeError("Catalog Error: Table with name v does not exist!"))
    assert not interrupt_reached_driver(ValueError("Query interrupted"))
