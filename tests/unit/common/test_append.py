"""The producer's resend rule, on aiokafka's own sender classes (pinned version)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
    UnknownTopicOrPartitionError,
)

from services.common.append import AtMostOnceHandler, AtMostOnceSender, at_most_once
from services.common.kafka import make_producer


class Batch:
    def expired(self) -> bool:
        return False


class SenderStub:
    _txn_manager = None
    _retry_backoff = 0.1
    client: Any = None


def handler() -> AtMostOnceHandler:
    return AtMostOnceHandler(SenderStub(), {})


@pytest.mark.parametrize("error", [KafkaConnectionError(), RequestTimedOutError()])
def test_a_request_the_broker_may_have_written_is_not_sent_again(error: Exception) -> None:
    assert handler()._can_retry(error, Batch()) is False


@pytest.mark.parametrize("error", [NotLeaderForPartitionError(), UnknownTopicOrPartitionError()])
def test_a_request_the_broker_refused_is_sent_again(error: Exception) -> None:
    assert handler()._can_retry(error, Batch()) is True


async def test_the_producer_sends_through_the_at_most_once_sender() -> None:
    producer = at_most_once(make_producer("127.0.0.1:1"))
    assert type(producer._sender) is AtMostOnceSender
    # Its one override replaces a method aiokafka still has, with the same signature.
    assert callable(super(AtMostOnceSender, producer._sender)._send_produce_req)
