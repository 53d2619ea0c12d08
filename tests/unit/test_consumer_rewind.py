"""Rewinding after a broker replacement never breaks the consumer session: a partition that a
rebalance took away (before or during the seek) is skipped, the ones still assigned are rewound."""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition

from ticketloop_shared.messaging.consumer import _rewind


class FakeConsumer:
    """The two calls `_rewind` makes, with a partition lost to a rebalance mid-way."""

    def __init__(self, assigned: set[TopicPartition], lost_during_seek: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.lost_during_seek = lost_during_seek
        self.rewound: list[TopicPartition] = []

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            if tp in self.lost_during_seek:
                raise AssertionError("Partition is not assigned")  # what aiokafka raises
            self.rewound.append(tp)


async def test_partitions_no_longer_assigned_are_skipped_and_the_rest_rewound() -> None:
    a, b, c, d = (TopicPartition("t.ticket", n) for n in range(4))
    consumer: Any = FakeConsumer(assigned={a, b, c}, lost_during_seek={b})

    await _rewind(consumer, {a, b, c, d})  # d was already gone; b goes during the seek

    assert consumer.rewound == [a, c]
