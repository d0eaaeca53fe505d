"""A per-example watchdog for property tests: a hang fails fast and names the example.

``pytest-timeout`` (``timeout = 600``) fires once per test; when Hypothesis catches that failure
and starts shrinking, the next hanging example has no timer left and the run never ends. This
watchdog arms ``signal.setitimer(ITIMER_REAL, …)`` around each example instead and raises
``Hang`` inside it, which Hypothesis reports like any failure, with the falsifying example.

    @settings(...)
    @given(...)
    @watchdog()          # innermost: times each example, not the whole test
    def test_x(...): ...

After one example of a test has hung, later examples of the same call of the test (Hypothesis's
replay of the failure, shrinking under the ``dev`` and ``explore`` profiles) get the shorter
``after_hang`` limit, so a hang costs about ``seconds + after_hang`` under ``ci`` (no shrink
phase) and stays bounded while shrinking (Hypothesis itself stops shrinking after 5 minutes).

The timer is process-wide: the one pytest-timeout (signal method) had armed is put back, less
the time spent, when the example ends. Signal handlers run between Python bytecodes, in the
main thread only: a hang inside C code that never returns to Python is left to pytest-timeout
(thread method) or the fuzz bench's child processes. Elsewhere than the main thread, or where
there is no SIGALRM, the body runs without a watchdog.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

LIMIT_S = float(os.environ.get("SCENEGRAPH_EXAMPLE_LIMIT", "5"))  # per example
AFTER_HANG_S = 1.0  # per example once one example of the test has hung


class Hang(Exception):
    """An example ran over its time limit (raised inside it by the watchdog)."""


@contextmanager
def time_limit(seconds: float, what: str = "example") -> Iterator[None]:
    """Raise ``Hang`` inside the block once it has run ``seconds`` of wall time."""
    if seconds <= 0 or not hasattr(signal, "setitimer") \
            or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum, frame):
        raise Hang(f"{what} ran over {seconds:g} s (watchdog)")

    start = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, expired)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:  # someone else's timer (pytest-timeout): give back what is left
            left = previous_delay - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), previous_interval)


def watchdog(seconds: float | None = None, after_hang: float = AFTER_HANG_S) -> Callable:
    """Decorator for a Hypothesis test (put it above ``@given``; above or below ``@settings``):
    each example (each call Hypothesis makes of the test's body) runs under ``time_limit``.

    It wraps the body through ``test.hypothesis.inner_test``, Hypothesis's hook for this. After
    a ``Hang``, the rest of that call of the test (the replay of the failure, shrinking) uses
    ``after_hang``; the next call of the test starts afresh.
    """
    def decorate(test: Callable) -> Callable:
        handle = getattr(test, "hypothesis", None)
        if handle is None or not hasattr(handle, "inner_test"):
            raise TypeError("@watchdog wraps a Hypothesis test: put it above @given")
        body = handle.inner_test
        state = {"hung": False}

        @functools.wraps(body)
        def timed(*args, **kwargs):
            limit = seconds if seconds is not None else LIMIT_S
            if state["hung"]:
                limit = min(limit, after_hang)
            try:
                with time_limit(limit):
                    return body(*args, **kwargs)
            except Hang:
                state["hung"] = True
                raise

        handle.inner_test = timed

        @functools.wraps(test)  # keeps the signature pytest reads, and Hypothesis's attributes
        def run(*args, **kwargs):
            __tracebackhide__ = True
            state["hung"] = False
            # @settings (or pytest's plugin) may have set them on this wrapper: pass them on.
            for name in ("_hypothesis_internal_use_settings",
                         "_hypothesis_internal_settings_applied"):
                if name in run.__dict__:
                    setattr(test, name, run.__dict__[name])
            return test(*args, **kwargs)

        return run

    return decorate
