"""The user's page for proving who they are: plain words, one action, no script.

It shows the presentation's QR code, drawn here as SVG by ``segno`` (nothing remote, nothing the
Content-Security-Policy has to allow), and the ``openid-vc://`` link for a user whose phone is
the device in their hand. It follows the request by reloading itself every few seconds (a
``refresh`` header, not a script). When the reset is done and it asked for a pass, one button
shows the pass, once.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass

from shared.notify.pages import button, page_html, paragraph
from shared.verify.rules import PLAIN

REFRESH_SECONDS = 5


@dataclass(frozen=True)
class Greeting:
    first_name: str | None
    ticket: str


def _qr_svg(url: str) -> str:
    import segno  # paid by this page, not by every cold start

    buffer = io.BytesIO()
    segno.make(url, error="m").save(
        buffer, kind="svg", border=4, xmldecl=False, svgns=True, omitsize=True, title="QR code"
    )
    return buffer.getvalue().decode()


def _hello(greeting: Greeting) -> str:
    name = f"Hello {greeting.first_name}," if greeting.first_name else "Hello,"
    return paragraph(name)


def present(greeting: Greeting, url: str, failed_rule: str | None, attempts_left: int) -> str:
    parts = [_hello(greeting)]
    if failed_rule:
        parts.append(
            paragraph(f"That did not work: {PLAIN.get(failed_rule, failed_rule)}. Try again.")
        )
    parts += [
        paragraph(
            f"Before your sign-in methods are reset (ticket {greeting.ticket}), prove that you "
            "are you: scan this code with Microsoft Authenticator, share your credential and "
            "take a selfie when asked."
        ),
        f'<div class="qr">{_qr_svg(url)}</div>',
        f'<p><a href="{html.escape(url)}">Open in Authenticator on this phone</a></p>',
        paragraph(
            f"This page follows your check by itself. Attempts left: {attempts_left}.",
            note=True,
        ),
    ]
    return page_html("Prove it is you", "\n".join(parts), refresh_seconds=REFRESH_SECONDS)


def waiting(greeting: Greeting) -> str:
    body = "\n".join(
        [
            _hello(greeting),
            paragraph(
                "Continue in Microsoft Authenticator: share your credential and take the "
                "selfie it asks for."
            ),
            paragraph("This page follows your check by itself.", note=True),
        ]
    )
    return page_html("Continue in Authenticator", body, refresh_seconds=REFRESH_SECONDS)


def released(greeting: Greeting) -> str:
    body = "\n".join(
        [
            _hello(greeting),
            paragraph("It is you: thank you. Your sign-in methods are being reset now."),
            paragraph("This page follows the reset by itself.", note=True),
        ]
    )
    return page_html("You are verified", body, refresh_seconds=REFRESH_SECONDS)


def done(greeting: Greeting, *, pass_waiting: bool) -> str:
    parts = [_hello(greeting), paragraph("Your sign-in methods were reset.")]
    if pass_waiting:
        parts += [
            paragraph(
                "A Temporary Access Pass lets you sign in once and register your new phone. "
                "It is shown once, here, to you: have something to write it down first."
            ),
            button("Show my Temporary Access Pass"),
        ]
    else:
        parts.append(paragraph("Sign in and register your new methods when you are asked."))
    return page_html("Done", "\n".join(parts))


def the_pass(greeting: Greeting, value: str) -> str:
    body = "\n".join(
        [
            _hello(greeting),
            paragraph("Your Temporary Access Pass (shown only this once):"),
            f'<p class="pass"><strong>{html.escape(value)}</strong></p>',
            paragraph(
                "Sign in with it now and register your new phone in Microsoft Authenticator. "
                "Nobody from the service desk will ask you for it.",
                note=True,
            ),
        ]
    )
    return page_html("Your Temporary Access Pass", body)


def ended(title: str, text: str) -> str:
    body = "\n".join(
        [
            paragraph(text),
            paragraph(
                "If you need help, call your service desk on the number you already know.",
                note=True,
            ),
        ]
    )
    return page_html(title, body)
