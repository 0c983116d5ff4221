"""Fault injection: make chosen requests fail the way Graph fails under load."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Fault:
    r"""One scripted failure.

    ``path`` is a regex searched in the percent-decoded request path (``/v1.0/...``; for
    requests inside a ``$batch`` the same form is used, so one pattern covers both).
    ``status=0`` means "no error status": the fault only delays (or drops) and the
    request is then handled normally, which is how a slow-but-successful call is scripted.
    ``query``, when set, is a regex searched in the decoded query options as ``name=value``
    pairs joined by ``&`` (e.g. ``principalId eq 'abc``), to fail one of several reads of the
    same collection.

    ``drop=True`` closes the connection without a response *before* the request is
    handled (nothing changes). ``drop_after=True`` handles the request first and *then*
    closes the connection without a response: the change is made but the client never
    learns it, the case that makes a blind retry unsafe. On a ``$batch`` request
    (``path=r"\$batch"``) every item runs and changes the tenant before the drop; on an
    item inside a batch, that item (and those before it) run, then the whole batch
    connection is dropped and later items do not run. Both ignore ``status``; ``delay``
    still applies first.

    The items of a ``$batch`` run in parallel, so their delays overlap: a batch waits as
    long as its slowest ``dependsOn`` chain (each item's delay plus the emulator's
    ``latency``), not the sum of its items' delays.
    """

    method: str | None = None
    path: str = ".*"
    status: int = 429
    retry_after: str | None = "1"
    times: int | None = 1
    drop: bool = False
    delay: float = 0.0
    query: str | None = None
    drop_after: bool = False
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _query_regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._regex = re.compile(self.path)
        self._query_regex = re.compile(self.query) if self.query is not None else None
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1, or None for a permanent fault")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.drop and self.drop_after:
            raise ValueError("drop (before handling) and drop_after (after) exclude each other")
        if self.status != 0 and not 100 <= self.status <= 599:
            raise ValueError(f"status {self.status} is not an HTTP status")

    def matches(self, method: str, path: str, query: str = "") -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self._query_regex is not None and self._query_regex.search(query) is None:
            return False
        return self._regex.search(path) is not None


@dataclass
class _Pending:
    fault: Fault
    remaining: int | None


class FaultList:
    """Ordered, thread-safe set of pending faults; the first match wins and is used up."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._entries: list[_Pending] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._entries.append(_Pending(fault, fault.times))
        return fault

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def take(self, method: str, path: str, query: str = "") -> Fault | None:
        """Return the first fault matching the request and consume one use of it."""
        with self._lock:
            for index, entry in enumerate(self._entries):
                if not entry.fault.matches(method, path, query):
                    continue
                if entry.remaining is not None:
                    entry.remaining -= 1
                    if entry.remaining <= 0:
                        del self._entries[index]
                return entry.fault
            return None

    def remaining(self, fault: Fault) -> int | None:
        """Uses left for a pending fault (``None`` = permanent); 0 once it is used up."""
        with self._lock:
            for entry in self._entries:
                if entry.fault is fault:
                    return entry.remaining
            return 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[Fault]:
        with self._lock:
            return iter([e.fault for e in self._entries])
