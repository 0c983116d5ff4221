"""What a notification's page can say, and the facts it shows: light enough for the page
functions to name at start-up while the rendering is loaded by the first page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class PageState(StrEnum):
    stop = "stop"  # the reset waits: the button stops it
    report = "report"  # the reset ran (or is running): the button reports it
    stopped = "stopped"  # the button stopped it
    reported = "reported"  # the button reported it
    used = "used"  # the link was used before
    expired = "expired"  # the link's time is over
    invalid = "invalid"  # no such link (mistyped, or not one this app issued)


@dataclass(frozen=True)
class PageFacts:
    """What a page shows of the reset: enough to recognise it, nothing to act on elsewhere."""

    first_name: str | None  # None: the page greets no one by name (the manager's link)
    account: str
    ticket: str
    requested_by: str
    at: datetime
    runs_at: datetime | None = None  # a held reset: when it will run unless stopped
