"""The log of Graph requests one emulator answered, kept in arrival order, and the counts a
test or a benchmark reads off it (round trips, the items of each ``$batch``).

Only Graph requests are logged here; the managed-identity token endpoint keeps its own log
and the signing keys (JWKS) are not logged at all, so neither counts as a round trip.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from .graph.call import GraphCall


@dataclass(frozen=True)
class RecordedRequest:
    """What the emulator saw of one Graph request and what it answered.

    Requests inside a ``$batch`` are recorded too, after the ``$batch`` request itself,
    with ``batch_id`` set to their id in the batch, ``batch_request_id`` to the
    ``request_id`` of the ``$batch`` that carried them, and ``raw_path`` set to their
    relative ``url``; ``path`` is normalised to ``/v1.0/...`` (``/beta/...`` in a beta batch)
    so a test can treat both alike. ``started`` and ``finished`` are monotonic clock readings
    (``finished`` equals ``started`` until the answer is sent).
    ``status`` 0 means no response was written: the connection was dropped (by a
    ``Fault(drop=True)`` or ``drop_after=True``). Items of a batch whose answer was dropped
    keep the status they were answered with inside the batch, which never reached the
    client. Batch items answered 424 (a failed dependency) or refused before execution
    (an absolute URL, a body without ``Content-Type``) are not recorded: they never ran.
    """

    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int
    request_id: str
    batch_id: str | None = None
    batch_request_id: str | None = None
    started: float = 0.0
    finished: float = 0.0


class Slot:
    """A log position reserved on arrival, so the log keeps arrival order even though the
    status is only known when the answer is sent."""

    __slots__ = ("record",)

    def __init__(self, record: RecordedRequest) -> None:
        self.record = record


class RequestLog:
    """Thread-safe, append-only (until cleared) list of :class:`RecordedRequest`."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._slots: list[Slot] = []

    def record(
        self, call: GraphCall, batch_id: str | None = None, batch_request_id: str | None = None
    ) -> Slot:
        now = time.monotonic()
        slot = Slot(
            RecordedRequest(
                method=call.method,
                path=call.path,
                raw_path=call.raw_target,
                query=dict(call.query),
                headers=dict(call.headers),
                body=call.body,
                status=0,
                request_id=call.request_id,
                batch_id=batch_id,
                batch_request_id=batch_request_id,
                started=now,
                finished=now,
            )
        )
        with self._lock:
            self._slots.append(slot)
        return slot

    def finish(self, slot: Slot, status: int) -> None:
        with self._lock:
            slot.record = replace(slot.record, status=status, finished=time.monotonic())

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return [slot.record for slot in self._slots]

    def clear(self) -> None:
        with self._lock:
            self._slots = []


def is_batch_path(path: str) -> bool:
    """Whether a recorded (decoded, ``/v1.0/...``) path is the ``$batch`` endpoint."""
    return path.rstrip("/").lower() in ("/v1.0/$batch", "/beta/$batch")


def sequential_rounds(records: list[RecordedRequest]) -> int:
    """Rounds as a client waits for them: top-level requests in flight at the same time (a
    v1.0 batch and a beta call beside it) count once."""
    spans = sorted((r.started, r.finished) for r in records if r.batch_id is None)
    rounds, end = 0, float("-inf")
    for start, finish in spans:
        if start >= end:
            rounds += 1
        end = max(end, finish)
    return rounds


def round_trips(records: list[RecordedRequest]) -> int:
    """Top-level Graph requests: each ``$batch`` counts once, its items not at all."""
    return sum(1 for r in records if r.batch_id is None)


def batch_items(records: list[RecordedRequest], batch_request_id: str) -> list[RecordedRequest]:
    """The recorded items of one ``$batch``, in the order they were executed."""
    return [r for r in records if r.batch_request_id == batch_request_id]


def batch_sizes(records: list[RecordedRequest]) -> list[int]:
    """For every top-level ``$batch`` in arrival order, how many of its items were executed."""
    counts: dict[str, int] = {}
    for record in records:
        if record.batch_request_id is not None:
            counts[record.batch_request_id] = counts.get(record.batch_request_id, 0) + 1
    return [
        counts.get(r.request_id, 0)
        for r in records
        if r.batch_id is None and r.method == "POST" and is_batch_path(r.path)
    ]
