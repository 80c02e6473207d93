"""Dead-letter records: a malformed event is parked with the reason, never dropped silently."""

from __future__ import annotations

from schemas.topics import DEAD_LETTER

TOPIC = DEAD_LETTER.name


def dead_letter_headers(
    *, source_topic: str, partition: int, offset: int, consumer: str, reason: str
) -> list[tuple[str, bytes]]:
    return [
        ("dlq_reason", reason[:2000].encode()),
        ("dlq_source_topic", source_topic.encode()),
        ("dlq_source_partition", str(partition).encode()),
        ("dlq_source_offset", str(offset).encode()),
        ("dlq_consumer", consumer.encode()),
    ]
