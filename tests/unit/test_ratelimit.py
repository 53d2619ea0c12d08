"""The sliding-window counter behind every rate limit."""

from __future__ import annotations

from ticketloop_shared.ratelimit import SlidingWindow

T0 = 6_000_000.0  # the start of a minute


def test_up_to_the_limit_then_refused_with_when_to_retry() -> None:
    window = SlidingWindow(limit=3)
    verdicts = [window.hit("k", T0 + i) for i in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert [v.remaining for v in verdicts[:3]] == [2, 1, 0]
    assert verdicts[3].reset_seconds == 57  # the minute ends 57 s after the fourth try
    assert window.hit("other", T0 + 4).allowed  # keys are counted apart


def test_the_previous_minute_counts_for_the_part_the_window_still_covers() -> None:
    window = SlidingWindow(limit=10)
    for i in range(10):
        assert window.hit("k", T0 + 50 + i * 0.1).allowed
    # 15 s into the next minute, 3/4 of the previous one is still in the window: 7.5 of 10 used
    assert [window.hit("k", T0 + 75).allowed for _ in range(3)] == [True, True, False]
    refused = window.check("k", T0 + 75)
    assert not refused.allowed and 1 <= refused.reset_seconds <= 60
    assert window.check("k", T0 + 75 + refused.reset_seconds).allowed  # and then it does fit
    assert window.check("k", T0 + 130).allowed  # two minutes on, the slate is clean


def test_checking_counts_nothing() -> None:
    window = SlidingWindow(limit=1)
    assert window.check("k", T0).allowed and window.check("k", T0).allowed
    assert window.hit("k", T0).allowed and not window.check("k", T0 + 1).allowed
