"""How a notification leaves: one message handed to Apprise (ntfy, Telegram, e-mail, Pushover,
Signal, SMS gateways...), and what went wrong, in words that never carry the URL's secrets."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import apprise
from apprise.common import OverflowMode

SEND_TIMEOUT_S = 15.0


def apprise_send(url: str, title: str, body: str) -> str:
    """Hand one message to Apprise; "" when it went, else the last thing Apprise logged (with
    the URL's secrets left out: an ntfy topic, a bot token)."""
    sender = apprise.Apprise()
    if not sender.add(url):
        return "Apprise does not know this URL"
    for service in sender:  # longer than the service takes (an SMS, Pushover): in parts,
        if "overflow=" not in url and service.overflow_mode == OverflowMode.UPSTREAM:
            service.overflow_mode = OverflowMode.SPLIT  # never refused for its length
    result = sender.notify(body=body, title=title, timeout=SEND_TIMEOUT_S)
    if result:
        return ""
    said = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR")]
    return without_secrets(said[-1], url) if said else "Apprise could not send it"


def without_secrets(text: str, url: str) -> str:
    """``text`` with every part of ``url`` that may be a secret (its user, password, path and
    query words) left out.

    >>> without_secrets("Failed to send to topic 'ann-7-secret': 403", "ntfy://ntfy.sh/ann-7-secret")
    "Failed to send to topic '…': 403"
    """
    try:
        parts = urlsplit(url)
        words = [parts.username, parts.password, *re.split(r"[/?&=,:@#]+", parts.path),
                 *re.split(r"[&=,]+", parts.query), parts.netloc.rpartition("@")[0],
                 *(w for w in re.split(r"[:@]+", parts.netloc) if "." not in w)]  # fmt: skip
    except ValueError:
        return "Apprise could not send it (its words named the URL)"
    for word in sorted({w for w in words if w and len(w) >= 4}, key=len, reverse=True):
        text = text.replace(unquote(word), "…").replace(word, "…")
    return text
