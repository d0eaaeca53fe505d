"""A per-example watchdog for property tests: a hang fails fast and names the example.

``pytest-timeout`` (``timeout = 600``) fires once per test; when Hypothesis catches that failure
and starts shrinking, the next hanging example has no timer left and the run never ends. This
watchdog arms ``signal.setitimer(ITIMER_REAL, …)`` around each example instead and raises
``Hang`` inside it, which Hypothesis reports like any failure, with the falsifying example.

    @watchdog()          # each example under LIMIT_S (SCENEGRAPH_EXAMPLE_LIMIT, default 5 s)
    @settings(...)
    @given(...)
    def test_x(...): ...

    with time_limit(5, "loading a cycle"): ...   # one block, outside Hypothesis

What a hang costs, at most: under the ``ci`` profile (no shrink phase) the limit, then
``after_hang`` (1 s) for Hypothesis's replay of the failure. Under ``dev`` and ``explore``
(shrinking) the limit, then 1 s per hanging shrink step; when shrinking ends, the replay as
under ``ci``; if the hangs reach ``hang_budget`` (20 s) first, the test stops with
``HangShrinkStopped``, which names the smallest example that hung so far.

The timer is process-wide: the one pytest-timeout (signal method) had armed is put back, less
the time spent, when the block ends. Signal handlers run between Python bytecodes, in the main
thread only: a hang inside C code that never returns to Python is left to pytest-timeout or to
the fuzz bench's child processes. Off the main thread, or where there is no SIGALRM, the block
runs without a limit.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hypothesis.control import current_build_context

LIMIT_S = float(os.environ.get("SCENEGRAPH_EXAMPLE_LIMIT", "5"))  # per example
AFTER_HANG_S = 1.0  # per example once one example of the test has hung
HANG_BUDGET_S = 20.0  # hangs one call of a test may spend (shrinking) before it stops trying


class Hang(Exception):
    """An example ran over its time limit (raised inside it by the watchdog)."""


class HangShrinkStopped(BaseException):
    """Shrinking a hang spent the watchdog's budget. A BaseException, so that Hypothesis lets
    it through (it catches Exception) and pytest reports the test as failed with it."""


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


def watchdog(seconds: float | None = None, after_hang: float = AFTER_HANG_S,
             hang_budget: float = HANG_BUDGET_S) -> Callable:
    """Decorator for a Hypothesis test (put it above ``@given``; above or below ``@settings``):
    each example (each call Hypothesis makes of the test's body) runs under ``time_limit``.

    It wraps the body through ``test.hypothesis.inner_test``, Hypothesis's hook for this. Once
    an example has hung, the rest of that call of the test gets ``after_hang`` per example; once
    hangs have cost ``hang_budget`` seconds while shrinking, the next example raises
    ``HangShrinkStopped`` naming the last example that hung. The next call starts afresh.
    """
    def decorate(test: Callable) -> Callable:
        handle = getattr(test, "hypothesis", None)
        if handle is None or not hasattr(handle, "inner_test"):
            raise TypeError("@watchdog wraps a Hypothesis test: put it above @given")
        body = handle.inner_test
        state = {"hung": False, "spent": 0.0, "example": ""}

        @functools.wraps(body)
        def timed(*args, **kwargs):
            limit = seconds if seconds is not None else LIMIT_S
            if state["hung"]:
                limit = min(limit, after_hang)
                if state["spent"] >= hang_budget and not _final_replay():
                    raise HangShrinkStopped(
                        f"examples of {body.__name__} kept hanging while Hypothesis shrank them: "
                        f"stopped after {state['spent']:.0f} s; the smallest that hung: "
                        f"{state['example']}")
            start = time.monotonic()
            try:
                with time_limit(limit):
                    return body(*args, **kwargs)
            except Hang:
                state.update(hung=True, spent=state["spent"] + time.monotonic() - start,
                             example=_call_text(body.__name__, args, kwargs))
                raise

        handle.inner_test = timed

        @functools.wraps(test)  # keeps the signature pytest reads, and Hypothesis's attributes
        def run(*args, **kwargs):
            __tracebackhide__ = True
            state.update(hung=False, spent=0.0, example="")
            # @settings (or pytest's plugin) may have set them on this wrapper: pass them on.
            for name in ("_hypothesis_internal_use_settings",
                         "_hypothesis_internal_settings_applied"):
                if name in run.__dict__:
                    setattr(test, name, run.__dict__[name])
            return test(*args, **kwargs)

        return run

    return decorate


def _call_text(name: str, args: tuple, kwargs: dict, most: int = 2000) -> str:
    text = f"{name}({', '.join([*map(repr, args), *(f'{k}={v!r}' for k, v in kwargs.items())])})"
    return text if len(text) <= most else text[:most] + f"… ({len(text):,} characters)"


def _final_replay() -> bool:
    """Whether Hypothesis is replaying the failing example to report it."""
    try:
        return bool(current_build_context().is_final)
    except Exception:  # noqa: BLE001 — outside a build context, or the API moved
        return True
