"""The queue-extension stand-in against real Azurite queues."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage as WorkerQueueMessage
from azure.storage.queue.aio import QueueClient

from emulator.azurite import Azurite
from tests.support.fixtures import StorageNames
from tests.support.functions_host import QueueHost
from tests.support_tests.helpers import write_host_json

BODY = json.dumps({"op": "reset", "upn": "zoë@contoso.example", "note": "ünïcode ✓"})


class Boom(Exception):
    pass


@pytest.fixture
async def plain_queue(azurite: Azurite, storage_names: StorageNames) -> AsyncIterator[QueueClient]:
    """A client with no encode or decode policy: it sees what is really stored."""
    async with QueueClient.from_connection_string(
        azurite.connection_string, storage_names.queue
    ) as client:
        yield client


async def _raw(azurite: Azurite, queue_name: str) -> list[str]:
    async with QueueClient.from_connection_string(azurite.connection_string, queue_name) as c:
        return [str(message.content) for message in await c.peek_messages(max_messages=32)]


def _host(azurite: Azurite, tmp_path: Path, **queues: object) -> QueueHost:
    return QueueHost(
        azurite.connection_string,
        host_json=write_host_json(tmp_path, dict(queues)),
        retry_visibility_seconds=0,
    )


async def test_send_then_run_once_delivers_the_same_text(
    queue_host: QueueHost, azurite: Azurite, storage_names: StorageNames
) -> None:
    await queue_host.send(storage_names.queue, BODY)

    stored = await _raw(azurite, storage_names.queue)
    if queue_host.message_encoding == "base64":
        assert stored == [base64.b64encode(BODY.encode("utf-8")).decode("ascii")]
        assert stored != [BODY]
    else:
        assert stored == [BODY]

    seen: list[func.QueueMessage] = []

    async def handler(msg: func.QueueMessage) -> None:
        seen.append(msg)

    report = await queue_host.run_once(storage_names.queue, handler)

    assert len(seen) == 1
    msg = seen[0]
    assert isinstance(msg, WorkerQueueMessage)
    assert msg.get_body().decode("utf-8") == BODY
    assert msg.get_json() == json.loads(BODY)
    assert msg.dequeue_count == 1
    assert msg.pop_receipt
    assert msg.insertion_time is not None and msg.expiration_time is not None
    assert msg.time_next_visible is not None and msg.time_next_visible > msg.insertion_time
    assert report.received == report.processed == [msg.id]
    assert report.failed == [] and report.poisoned == []
    assert await queue_host.bodies(storage_names.queue) == []


async def test_always_failing_message_is_poisoned_after_max_dequeue_count(
    queue_host: QueueHost, azurite: Azurite, storage_names: StorageNames
) -> None:
    await queue_host.send(storage_names.queue, BODY)
    original_stored = await _raw(azurite, storage_names.queue)
    deliveries: list[int | None] = []

    async def handler(msg: func.QueueMessage) -> None:
        deliveries.append(msg.dequeue_count)
        raise Boom(f"attempt {msg.dequeue_count}")

    limit = queue_host.max_dequeue_count
    rounds = [await queue_host.run_once(storage_names.queue, handler) for _ in range(limit)]

    assert deliveries == list(range(1, limit + 1))
    [message_id] = rounds[0].received
    assert all(r.received == [message_id] and len(r.failed) == 1 for r in rounds)
    assert rounds[-1].failed[0][1] == repr(Boom(f"attempt {limit}"))
    # Moved on the failure that reached the limit, not on a later receive.
    assert [r.poisoned for r in rounds] == [[]] * (limit - 1) + [[message_id]]
    assert all(r.processed == [] for r in rounds)
    assert (await queue_host.drain(storage_names.queue, handler)).received == []
    assert await queue_host.bodies(storage_names.queue) == []
    assert await queue_host.bodies(storage_names.poison) == [BODY]
    # Same encoding as the original: a poison-queue trigger decodes it the same way.
    assert await _raw(azurite, storage_names.poison) == original_stored


async def test_message_failing_once_is_deleted_after_the_second_delivery(
    queue_host: QueueHost, storage_names: StorageNames
) -> None:
    await queue_host.send(storage_names.queue, BODY)
    deliveries: list[int | None] = []

    async def handler(msg: func.QueueMessage) -> None:
        deliveries.append(msg.dequeue_count)
        if msg.dequeue_count == 1:
            raise Boom("transient")

    first = await queue_host.run_once(storage_names.queue, handler)
    second = await queue_host.run_once(storage_names.queue, handler)
    third = await queue_host.run_once(storage_names.queue, handler)

    assert deliveries == [1, 2]
    assert first.processed == [] and [i for i, _ in first.failed] == first.received
    assert second.processed == first.received and second.failed == []
    assert third.received == []
    assert await queue_host.bodies(storage_names.queue) == []
    assert await queue_host.bodies(storage_names.poison) == []


async def test_a_message_being_processed_is_invisible_to_other_hosts(
    queue_host: QueueHost, azurite: Azurite, storage_names: StorageNames
) -> None:
    await queue_host.send(storage_names.queue, BODY)
    started = asyncio.Event()
    release = asyncio.Event()
    calls: list[str] = []

    async def slow(msg: func.QueueMessage) -> None:
        calls.append("first")
        started.set()
        await release.wait()

    async def other(msg: func.QueueMessage) -> None:
        calls.append("second")

    first = asyncio.create_task(queue_host.run_once(storage_names.queue, slow))
    await asyncio.wait_for(started.wait(), timeout=10)
    async with QueueHost(azurite.connection_string, retry_visibility_seconds=0) as second_host:
        during = await second_host.run_once(storage_names.queue, other)
        same_host_during = await queue_host.run_once(storage_names.queue, other)
        release.set()
        first_report = await first
        after = await second_host.run_once(storage_names.queue, other)

    assert during.received == [] and same_host_during.received == []
    assert len(first_report.processed) == 1
    assert after.received == []
    assert calls == ["first"]


async def test_several_hosts_draining_together_handle_each_message_once(
    queue_host: QueueHost, azurite: Azurite, storage_names: StorageNames
) -> None:
    bodies = [f"message-{n}" for n in range(12)]
    for body in bodies:
        await queue_host.send(storage_names.queue, body)
    handled: Counter[str] = Counter()

    async def handler(msg: func.QueueMessage) -> None:
        handled[msg.get_body().decode("utf-8")] += 1
        # Yield so the other hosts poll while this one holds its batch.
        await asyncio.sleep(0.05)

    async with (
        QueueHost(azurite.connection_string, retry_visibility_seconds=0) as second,
        QueueHost(azurite.connection_string, retry_visibility_seconds=0) as third,
    ):
        reports = await asyncio.gather(
            *(
                host.drain(storage_names.queue, handler, max_messages=2)
                for host in (queue_host, second, third)
            )
        )

    assert handled == Counter(bodies)
    processed = [message_id for report in reports for message_id in report.processed]
    assert len(processed) == len(set(processed)) == len(bodies)
    assert sum(1 for report in reports if report.processed) >= 2
    assert await queue_host.bodies(storage_names.queue) == []


async def test_a_run_outliving_its_visibility_is_delivered_again_and_settles_quietly(
    queue_host: QueueHost, azurite: Azurite, storage_names: StorageNames
) -> None:
    """The stand-in does not renew visibility while a handler runs, so a handler slower than
    ``processing_visibility_seconds`` sees the service's at-least-once delivery; the late
    delete then meets a stale pop receipt, which the host treats as settled elsewhere."""
    await queue_host.send(storage_names.queue, BODY)
    counts: list[int | None] = []
    started = asyncio.Event()
    redelivered = asyncio.Event()

    async def slow(msg: func.QueueMessage) -> None:
        counts.append(msg.dequeue_count)
        started.set()
        await asyncio.wait_for(redelivered.wait(), timeout=10)

    async def fast(msg: func.QueueMessage) -> None:
        counts.append(msg.dequeue_count)

    first = asyncio.create_task(
        queue_host.run_once(storage_names.queue, slow, processing_visibility_seconds=1)
    )
    await asyncio.wait_for(started.wait(), timeout=10)
    # The receive happened before the handler started, so the message is visible again.
    await asyncio.sleep(1.3)
    async with QueueHost(azurite.connection_string, retry_visibility_seconds=0) as other:
        second_report = await other.run_once(storage_names.queue, fast)
    redelivered.set()
    first_report = await first

    assert counts == [1, 2]
    assert first_report.processed == second_report.processed
    assert len(first_report.processed) == 1
    assert await queue_host.bodies(storage_names.queue) == []


async def test_retry_waits_for_host_json_visibility_timeout(
    azurite: Azurite, storage_names: StorageNames, tmp_path: Path
) -> None:
    host_json = write_host_json(tmp_path, {"visibilityTimeout": "00:00:01"})
    deliveries: list[int | None] = []

    async def handler(msg: func.QueueMessage) -> None:
        deliveries.append(msg.dequeue_count)
        if msg.dequeue_count == 1:
            raise Boom("transient")

    async with QueueHost(azurite.connection_string, host_json=host_json) as host:
        assert host.retry_visibility_seconds == 1.0
        await host.send(storage_names.queue, BODY)
        await host.run_once(storage_names.queue, handler)
        too_soon = await host.run_once(storage_names.queue, handler)
        await asyncio.sleep(1.2)
        later = await host.run_once(storage_names.queue, handler)

    assert too_soon.received == []
    assert len(later.processed) == 1
    assert deliveries == [1, 2]


async def test_text_that_is_not_base64_is_poisoned_without_running_the_function(
    azurite: Azurite, storage_names: StorageNames, plain_queue: QueueClient, tmp_path: Path
) -> None:
    """The classic mistake: a producer using a plain SDK client against a base64 host."""
    await plain_queue.create_queue()
    await plain_queue.send_message("not base64 {}")
    calls: list[func.QueueMessage] = []

    async def handler(msg: func.QueueMessage) -> None:
        calls.append(msg)

    async with _host(azurite, tmp_path, messageEncoding="base64") as host:
        report = await host.run_once(storage_names.queue, handler)
        assert await host.raw_bodies(storage_names.poison) == ["not base64 {}"]
        with pytest.raises(ValueError, match="not valid Base64"):
            await host.bodies(storage_names.poison)

    assert calls == []
    assert report.poisoned == report.received and len(report.received) == 1
    assert report.failed == []
    assert await _raw(azurite, storage_names.queue) == []


async def test_message_already_over_the_limit_is_poisoned_without_running(
    azurite: Azurite, storage_names: StorageNames, plain_queue: QueueClient, tmp_path: Path
) -> None:
    """A host that died mid-run leaves the message to reappear with a higher count."""
    calls: list[func.QueueMessage] = []

    async def handler(msg: func.QueueMessage) -> None:
        calls.append(msg)

    async with _host(azurite, tmp_path, maxDequeueCount=1) as host:
        await host.send(storage_names.queue, BODY)
        crashed = [m async for m in plain_queue.receive_messages(visibility_timeout=1)]
        assert [m.dequeue_count for m in crashed] == [1]
        await asyncio.sleep(1.2)
        report = await host.run_once(storage_names.queue, handler)
        poison = await host.bodies(storage_names.poison)

    assert calls == []
    assert report.poisoned == [crashed[0].id] and report.failed == []
    assert poison == [BODY]


async def test_encoding_none_stores_and_delivers_plain_text(
    azurite: Azurite, storage_names: StorageNames, tmp_path: Path
) -> None:
    bodies: list[bytes] = []

    def handler(msg: func.QueueMessage) -> None:  # a sync function, as the worker allows
        bodies.append(msg.get_body())

    async with _host(azurite, tmp_path, messageEncoding="none") as host:
        assert host.message_encoding == "none"
        await host.send(storage_names.queue, BODY)
        assert await _raw(azurite, storage_names.queue) == [BODY]
        report = await host.run_once(storage_names.queue, handler)

    assert bodies == [BODY.encode("utf-8")]
    assert len(report.processed) == 1


async def test_max_messages_bounds_one_poll(
    queue_host: QueueHost, storage_names: StorageNames
) -> None:
    for n in range(3):
        await queue_host.send(storage_names.queue, f"m{n}")
    seen: list[str] = []

    async def handler(msg: func.QueueMessage) -> None:
        seen.append(msg.get_body().decode("utf-8"))

    first = await queue_host.run_once(storage_names.queue, handler, max_messages=2)
    second = await queue_host.run_once(storage_names.queue, handler, max_messages=2)

    assert len(first.received) == 2 and len(second.received) == 1
    assert sorted(seen) == ["m0", "m1", "m2"]
    with pytest.raises(ValueError, match="between 1 and 32"):
        await queue_host.run_once(storage_names.queue, handler, max_messages=33)


async def test_a_trigger_queue_that_does_not_exist_reads_as_empty(
    queue_host: QueueHost, storage_names: StorageNames
) -> None:
    async def handler(msg: func.QueueMessage) -> None:
        raise AssertionError("no message should arrive")

    report = await queue_host.run_once(storage_names.queue, handler)
    assert report.received == []
    assert await queue_host.bodies(storage_names.queue) == []


async def test_create_queue_is_idempotent(
    queue_host: QueueHost, storage_names: StorageNames
) -> None:
    await queue_host.create_queue(storage_names.queue)
    await queue_host.send(storage_names.queue, BODY)
    await queue_host.create_queue(storage_names.queue)
    assert await queue_host.bodies(storage_names.queue) == [BODY]


async def test_a_closed_host_refuses_work(azurite: Azurite, storage_names: StorageNames) -> None:
    host = QueueHost(azurite.connection_string)
    await host.close()
    await host.close()
    with pytest.raises(RuntimeError, match="closed"):
        await host.send(storage_names.queue, BODY)
