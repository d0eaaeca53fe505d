"""The per-example watchdog (hang_watchdog.py): an injected hang becomes a failure within its
limit, under each Hypothesis profile, and the failure names the falsifying example."""

from __future__ import annotations

import signal
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hang_watchdog import AFTER_HANG_S, Hang, HangShrinkStopped, time_limit, watchdog

LIMIT = 2.0  # the watchdog's limit in these tests (the property tests use 5 s)
BUDGET = 3.0  # hangs a shrinking profile may spend


def test_time_limit_stops_a_busy_loop():
    start = time.monotonic()
    with pytest.raises(Hang, match="spinning ran over 0.5 s"), time_limit(0.5, "spinning"):
        while True:
            pass
    assert time.monotonic() - start < 0.5 + 2


def test_time_limit_gives_back_the_timer_it_found():
    """pytest-timeout's SIGALRM timer (signal method) is restored, less the time spent."""
    fired = []
    handler = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    delay, interval = signal.setitimer(signal.ITIMER_REAL, 100)
    try:
        with time_limit(1):
            time.sleep(0.2)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 99 < left < 99.9
        assert signal.getsignal(signal.SIGALRM) is not handler  # ours is back
        assert not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, delay, interval)
        signal.signal(signal.SIGALRM, handler)


def hanging_test(profile: str, calls: list[int], hung_at: list[float]):
    """A property test that spins forever whenever it draws n >= 3 (most draws); ``hung_at``
    gets the time each hang began."""
    @watchdog(seconds=LIMIT, hang_budget=BUDGET)
    @settings(settings.get_profile(profile), database=None)
    @given(n=st.integers(0, 1000), word=st.text(max_size=3))
    def spins(n, word):
        calls.append(n)
        if n >= 3:
            hung_at.append(time.monotonic())
            while True:
                pass
    return spins


@pytest.mark.parametrize("profile", ["ci", "dev", "explore"])
def test_an_injected_hang_fails_within_the_limit_and_names_the_example(profile):
    calls: list[int] = []
    hung_at: list[float] = []
    start = time.monotonic()
    with pytest.raises((Hang, HangShrinkStopped)) as caught:
        hanging_test(profile, calls, hung_at)()
    # from the first hang on: what Hypothesis spent drawing examples before it (seconds on a
    # loaded machine) is not the watchdog's doing
    elapsed = time.monotonic() - hung_at[0]
    if "shrink" in {phase.name for phase in settings.get_profile(profile).phases}:
        # hangs while shrinking until they have cost the budget (the last may overrun it by
        # one after-hang limit), then the replay of the failure, and slack
        bound = max(LIMIT, BUDGET) + 2 * AFTER_HANG_S + 3
    else:  # ci: the hang, then the replay of the failure, and slack
        bound = LIMIT + AFTER_HANG_S + 3
    began = ", ".join(f"{t - start:.1f}" for t in hung_at)
    assert elapsed < bound, f"{profile}: {elapsed:.1f} s after the first hang (began: {began} s)"
    report = "\n".join([str(caught.value), *getattr(caught.value, "__notes__", [])])
    assert "ran over" in report or "kept hanging" in report, report
    assert "spins(" in report and "n=" in report, report  # the falsifying example
    falsified = int(report.split("n=")[1].split(",")[0])
    assert falsified >= 3
    if profile == "ci":  # no shrinking: reported at once, the example that hung, replayed once
        assert caught.type is Hang
        assert [n for n in calls if n >= 3] == [falsified, falsified]
        assert "reproduce_failure" in report


def test_a_second_call_gets_the_full_limit_again():
    """The shorter limit after a hang lasts one call of the test, not the rest of the session."""
    limits = []

    @watchdog(seconds=LIMIT)
    @settings(settings.get_profile("ci"), database=None, max_examples=5)
    @given(n=st.integers(0, 10))
    def slow(n):
        limits.append(signal.getitimer(signal.ITIMER_REAL)[0])
        if slow_forever[0]:
            while True:
                pass

    slow_forever = [True]
    with pytest.raises(Hang):
        slow()
    assert limits[0] > LIMIT - 0.5 and limits[-1] <= AFTER_HANG_S  # the replay ran at 1 s
    slow_forever[0] = False
    limits.clear()
    slow()
    assert min(limits) > LIMIT - 0.5


def test_the_watchdog_goes_above_given():
    with pytest.raises(TypeError, match="above @given"):
        watchdog()(lambda: None)
