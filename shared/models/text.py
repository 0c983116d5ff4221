"""Which characters free text in a request may hold.

``requested_by`` and ``reason`` are the caller's own words, and they go where people read them:
audit events, log lines, the ledger, a ticket's comment. A line break in a one-line field can
forge a log line; a control character (C0, DEL, or C1 such as NEL and CSI) can drive a terminal;
an invisible format character (a bidirectional mark, embedding, override or isolate, a
zero-width space, the BOM: Unicode category Cf) can make a line read as something it does not
say, or two names that look alike differ. So such text is refused at the door with a 400 naming
the field; the error never repeats the text. Letters of any script stay welcome.
"""

from __future__ import annotations

import unicodedata

# Controls, format characters, line and paragraph separators; lone surrogates are no text.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
# What text over several lines keeps: CR and LF, and the two joiners that Persian, the Indic
# scripts and emoji sequences need to be written correctly (they reorder nothing).
_REASON_ALLOWS = frozenset("\r\n\u200c\u200d")
_FORMAT = "invisible format characters (bidirectional controls, zero-width characters: Cf)"


def _refused(value: str, allowed: frozenset[str] = frozenset()) -> set[str]:
    """The Unicode categories of the characters ``value`` may not hold; never the characters
    themselves, which an error must not echo."""
    return {
        category
        for c in value
        if c not in allowed and (category := unicodedata.category(c)) in _REFUSED_CATEGORIES
    }


def check_single_line(value: str) -> str:
    """One line of plain text (who asked): nothing that breaks, drives or disguises a line."""
    refused = _refused(value)
    if refused & {"Cc", "Zl", "Zp"}:
        raise ValueError("must not contain control characters or line breaks")
    if refused:
        raise ValueError(f"must not contain {_FORMAT}")
    return value


def check_free_text(value: str | None) -> str | None:
    """Text over several lines (the reason): CR and LF allowed, nothing else of the above."""
    refused = _refused(value, _REASON_ALLOWS) if value is not None else set()
    if "Cc" in refused:
        raise ValueError("must not contain control characters other than CR and LF line breaks")
    if refused:
        raise ValueError(f"must not contain {_FORMAT}, nor line or paragraph separators")
    return value
