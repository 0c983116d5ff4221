"""The pages a notification's link opens: plain words, one action per page, nothing remote.

A person who opens one may be frightened or in a hurry, on a phone, perhaps on a network that
is not theirs. So each page says one thing and offers at most one button; it is rendered here
(no script at all), styled by an inline sheet the Content-Security-Policy names by its hash,
and loads nothing from anywhere: no font, image or script, which a strict policy would refuse
anyway. Opening a page changes nothing; only its button (a POST) acts, so mail scanners that
follow links never stop or dispute a reset.
"""

from __future__ import annotations

import base64
import hashlib
import html
from datetime import datetime
from functools import cache
from importlib import resources
from string import Template

from shared.notify.page_states import PageFacts, PageState


@cache
def _file(name: str) -> str:
    return resources.files("shared.notify").joinpath("templates", name).read_text()


def _style() -> str:
    return _file("page.css").strip()


def content_security_policy() -> str:
    digest = base64.b64encode(hashlib.sha256(_style().encode()).digest()).decode()
    return (
        "default-src 'none'; "
        f"style-src 'sha256-{digest}'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def _when(moment: datetime) -> str:
    return f"{moment:%d %B %Y at %H:%M} UTC"


def _facts(facts: PageFacts) -> str:
    rows = [
        ("Account", facts.account),
        ("Ticket", facts.ticket),
        ("Asked by", facts.requested_by),
        ("Asked on", _when(facts.at)),
    ]
    if facts.runs_at is not None:
        rows.append(("Will run", f"not before {_when(facts.runs_at)}"))
    items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in rows)
    return f"<dl>{items}</dl>"


def _p(text: str, note: bool = False) -> str:
    opening = '<p class="note">' if note else "<p>"
    return f"{opening}{html.escape(text)}</p>"


def _button(label: str) -> str:
    return f'<form method="post"><button type="submit">{html.escape(label)}</button></form>'


_TEXTS: dict[PageState, tuple[str, list[str], str | None]] = {
    PageState.stop: (
        "Did you ask for this?",
        [
            "The service desk was asked to reset the sign-in methods (MFA) of this account. "
            "It has not happened yet.",
            "If you or your service desk asked for it, close this page: there is nothing to do.",
        ],
        "Stop this reset: it wasn't me",
    ),
    PageState.report: (
        "Did you ask for this?",
        [
            "The sign-in methods (MFA) of this account were reset, or are being reset now.",
            "If you or your service desk asked for it, close this page: there is nothing to do.",
        ],
        "Report it: this wasn't me",
    ),
    PageState.stopped: (
        "The reset is stopped",
        [
            "Nothing was changed on the account. The service desk and the security team can "
            "see that you stopped it.",
            "If someone contacts you about it, check who they are: call your service desk on the "
            "number you already know.",
        ],
        None,
    ),
    PageState.reported: (
        "Thank you: it is reported",
        [
            "Your security team has been alerted and will contact you.",
            "Call your service desk now on the number you already know, and do not approve any "
            "sign-in you did not start.",
        ],
        None,
    ),
    PageState.used: (
        "This link was already used",
        [
            "Someone already pressed the button on this page, so it does nothing more.",
            "If that was not you, call your service desk on the number you already know.",
        ],
        None,
    ),
    PageState.expired: (
        "This link has expired",
        [
            "If you are worried about your account, call your service desk on the number you "
            "already know."
        ],
        None,
    ),
    PageState.invalid: (
        "This link does not work",
        [
            "It may have been copied incompletely. Open it again from the message you received.",
            "If you are worried about your account, call your service desk on the number you "
            "already know.",
        ],
        None,
    ),
}


def render(state: PageState, facts: PageFacts | None = None) -> str:
    title, paragraphs, button = _TEXTS[state]
    parts = []
    if facts is not None and state in (PageState.stop, PageState.report):
        parts.append(_p(f"Hello {facts.first_name}," if facts.first_name else "Hello,"))
    parts.append(_p(paragraphs[0]))
    if facts is not None and state in (PageState.stop, PageState.report):
        parts.append(_facts(facts))
    parts.extend(_p(text, note=True) for text in paragraphs[1:])
    if button is not None:
        parts.append(_button(button))
        parts.append(_p("Pressing the button is all you need to do.", note=True))
    return page_html(title, "\n".join(parts))


def page_html(title: str, body: str, *, refresh_seconds: int | None = None) -> str:
    """A page of the app's: ``body`` is trusted HTML (escape what goes in it); a refresh makes
    the browser load the page again by itself, with no script."""
    head = (
        f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">' if refresh_seconds else ""
    )
    return Template(_file("page.html")).substitute(
        title=html.escape(title), style=_style(), body=body, head=head
    )


def paragraph(text: str, note: bool = False) -> str:
    return _p(text, note)


def button(label: str) -> str:
    return _button(label)
