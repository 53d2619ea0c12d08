"""The floor arithmetic of `ticketloop bench-floor`."""

from __future__ import annotations

from ticketloop_embedded.bench_floor import floor_per_ticket


def test_the_floor_is_the_events_a_ticket_makes_times_their_cost_plus_the_bare_post() -> None:
    assert floor_per_ticket(1.5, events_per_ticket=6.0, post_ms=0.9) == 9.9
    assert floor_per_ticket(0.0, events_per_ticket=6.0, post_ms=0.94) == 0.94
