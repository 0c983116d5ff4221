"""When and in which order the items of a ``$batch`` run.

Graph runs the items of a batch that do not depend on each other in parallel and in no
defined order, and an item with ``dependsOn`` only after the items it names. The emulator
executes the items one at a time, so a test sees one definite order (``array``,
``reverse`` or a seeded ``random`` shuffle of the independent items), but it keeps their
time apart on a virtual clock: an item starts when its dependencies have finished and
takes the emulator's latency plus its own fault delay, so independent items overlap and a
batch lasts as long as its slowest ``dependsOn`` chain, not the sum of its items.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

BATCH_ORDERS = ("array", "reverse", "random")


def execution_order(
    keys: list[str], deps: list[list[str]], order: str, rng: random.Random | None = None
) -> list[int]:
    """Indexes of the items in the order they run.

    ``keys`` are the items' lower-cased ids and ``deps`` the lower-cased ids each depends
    on (always earlier items, as validation guarantees). Only the items without
    dependencies are permuted, among the positions they hold; an item with dependencies
    keeps its position unless what it depends on has not run yet, in which case it runs
    right after the last of those. ``array`` is therefore exactly the array order.
    """
    if order not in BATCH_ORDERS:
        raise ValueError(f"batch order must be one of {BATCH_ORDERS}, not {order!r}")
    free = [i for i, d in enumerate(deps) if not d]
    if order == "reverse":
        free.reverse()
    elif order == "random":
        (rng or random.Random()).shuffle(free)
    shuffled = iter(free)
    planned = [next(shuffled) if not d else i for i, d in enumerate(deps)]
    done: set[str] = set()
    ran: list[int] = []
    waiting: list[int] = []

    def ready(index: int) -> bool:
        return all(d in done for d in deps[index])

    for index in planned:
        if not ready(index):
            waiting.append(index)
            continue
        ran.append(index)
        done.add(keys[index])
        while released := [w for w in waiting if ready(w)]:
            for w in released:
                waiting.remove(w)
                ran.append(w)
                done.add(keys[w])
    return ran + waiting  # nothing waits at the end when dependencies point backwards


class Timeline:
    """A batch's virtual clock. An item begins when the last of its dependencies finishes
    (at 0 when it has none) and finishes ``latency`` plus its fault delay later; it is
    applied only once the real time since the batch began has caught up with that finish.
    """

    def __init__(
        self,
        latency: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._latency = latency
        self._clock = clock
        self._sleep = sleep
        self._start = clock()
        self._finish: dict[str, float] = {}

    def begin(self, deps: list[str]) -> float:
        return max((self._finish.get(d, 0.0) for d in deps), default=0.0)

    def skip(self, key: str, begin: float) -> None:
        """An item answered without running (424, refused): it takes no time."""
        self._finish[key] = begin

    def wait(self, key: str, begin: float, delay: float) -> None:
        """Block until the item that began at ``begin`` with this fault delay is done."""
        end = begin + self._latency + delay
        self._finish[key] = end
        remaining = self._start + end - self._clock()
        if remaining > 0:
            self._sleep(remaining)

    def waited(self, key: str) -> bool:
        return key in self._finish

    @property
    def length(self) -> float:
        """The batch's duration so far on the virtual clock: its slowest chain."""
        return max(self._finish.values(), default=0.0)
