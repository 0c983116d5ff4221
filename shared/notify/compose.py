"""The two notification mails, from template files: plain text and HTML with the same facts.

Neutral on purpose: no logo, no remote image, no tracking pixel or redirect; a mail that must
be told apart from phishing should look like nothing but itself and say how to check it. Facts
come from the ledger row (what was asked) and the outcome (what was done), phone numbers masked
as everywhere, and never a pass: the mail names that one was issued, not its value.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import cache
from importlib import resources
from string import Template

from shared.ledger import LedgerRecord
from shared.models import Outcome, OutcomeStatus, StepAction, StepResult


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str


@cache
def _template(name: str) -> Template:
    return Template(resources.files("shared.notify").joinpath("templates", name).read_text())


def _when(moment: datetime) -> str:
    return f"{moment:%A %d %B %Y, %H:%M} UTC"


def _account(record: LedgerRecord, outcome: Outcome | None) -> str:
    return outcome.user.user_principal_name if outcome else record.target


def _asked(record: LedgerRecord) -> list[tuple[str, str]]:
    caller = record.caller or {}
    # The system that sent the request (a named application), when the app knows its name.
    through = caller.get("name") or caller.get("app_id")
    facts = [("Ticket", record.ticket_id), ("Asked by", record.requested_by)]
    if through:
        facts.append(("Sent through", str(through)))
    return facts


def _planned(record: LedgerRecord) -> str:
    request = record.request
    parts = ["every sign-in method (MFA) on your account will be removed"]
    if request.get("revoke_sessions", True):
        parts.append("you will be signed out everywhere")
    phone = request.get("new_phone")
    if phone:
        parts.append(f"a new phone ({phone.get('number')}) will be registered")
    if request.get("temporary_access_pass"):
        parts.append("a Temporary Access Pass will be issued to sign in and register again")
    return "; ".join(parts) + "."


def accepted_mail(
    record: LedgerRecord,
    *,
    first_name: str,
    sender: str,
    link: str,
    link_expires: datetime,
    runs_at: datetime | None,
) -> Mail:
    subject = "A reset of sign-in methods (MFA) was requested"
    lead = (
        f"Someone asked the service desk to reset the sign-in methods (MFA) of the account "
        f"{record.target}."
    )
    facts = [
        ("Account", record.target),
        *_asked(record),
        ("When", f"not before {_when(runs_at)}" if runs_at else "now"),
        ("What happens", _planned(record)),
    ]
    values = _values(record, first_name, sender, link, link_expires, subject, lead)
    text = _template("accepted.txt").substitute(values, facts=_text_facts(facts))
    page = _html(values, facts, "If you did not ask for it, stop it:", "This wasn't me")
    return Mail(subject, text, page)


def finished_mail(
    record: LedgerRecord,
    outcome: Outcome | None,
    *,
    first_name: str,
    sender: str,
    link: str,
    link_expires: datetime,
) -> Mail:
    done = outcome is not None and outcome.status is OutcomeStatus.succeeded
    subject = (
        "The sign-in methods (MFA) of an account were reset"
        if done
        else "A reset of sign-in methods (MFA) ended without being done"
    )
    lead = (
        f"The sign-in methods (MFA) of the account {_account(record, outcome)} were reset."
        if done
        else f"The reset of the account {record.target} ended: {record.status}, and nothing "
        "more will be done."
    )
    facts = [("Account", _account(record, outcome)), *_asked(record), *_did(outcome)]
    values = _values(record, first_name, sender, link, link_expires, subject, lead)
    text = _template("finished.txt").substitute(values, facts=_text_facts(facts))
    page = _html(values, facts, "If you did not ask for it, report it:", "This wasn't me")
    return Mail(subject, text, page)


def _did(outcome: Outcome | None) -> list[tuple[str, str]]:
    if outcome is None:
        return [("What was done", "nothing was changed")]
    finished = (StepResult.done, StepResult.already_absent)
    removed = sorted(
        {
            str(s.method_type)
            for s in outcome.steps
            if s.action is StepAction.delete_method and s.result in finished and s.method_type
        }
    )
    added = [
        "a new phone" if s.action is StepAction.add_phone else "a Temporary Access Pass"
        for s in outcome.steps
        if s.action in (StepAction.add_phone, StepAction.create_temporary_access_pass)
        and s.result is StepResult.done
    ]
    facts = [("Removed", ", ".join(removed) or "nothing")]
    if added:
        facts.append(("Added", ", ".join(added)))
    if outcome.sessions_revoked_at:
        facts.append(("Signed out everywhere", _when(outcome.sessions_revoked_at)))
    return facts


def _values(
    record: LedgerRecord,
    first_name: str,
    sender: str,
    link: str,
    link_expires: datetime,
    subject: str,
    lead: str,
) -> dict[str, str]:
    return {
        "first_name": first_name,
        "sender": sender,
        "link": link,
        "link_expires": _when(link_expires),
        "ticket": record.ticket_id,
        "subject": subject,
        "lead": lead,
    }


def _text_facts(facts: list[tuple[str, str]]) -> str:
    return "".join(f"{label}: {value}\n" for label, value in facts)


def _html(values: dict[str, str], facts: list[tuple[str, str]], action: str, button: str) -> str:
    escaped = {k: html.escape(v) for k, v in values.items()}
    rows = "\n".join(
        f'<tr><th style="text-align: left; padding: 2px 12px 2px 0;">{html.escape(label)}</th>'
        f"<td>{html.escape(value)}</td></tr>"
        for label, value in facts
    )
    return _template("message.html").substitute(
        escaped, facts=rows, action=html.escape(action), button=html.escape(button)
    )


def mime(mail: Mail, sender: str, to: str) -> bytes:
    """The mail as a MIME message with a text and an HTML alternative."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.partition("@")[2] or None)
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message.as_bytes()
