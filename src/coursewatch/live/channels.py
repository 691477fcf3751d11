"""How a notification leaves: one message handed to Apprise (ntfy, Telegram, e-mail, Pushover,
Signal, SMS gateways...), and what went wrong, in words that never carry the URL's secrets;
the title of a digest of several; the key that makes a message sent again replace itself."""

from __future__ import annotations

import contextvars
import hashlib
import itertools
import re
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import apprise
import apprise.plugins.ntfy
import requests
from apprise.common import NotifyFormat, OverflowMode

from coursewatch.live.targets import refused_address
from coursewatch.store import Delivery

SEND_TIMEOUT_S = 15.0
_PUBLIC_ONLY = contextvars.ContextVar("public_only", default=False)  # Apprise copies it along
# the message's key and its posts' count (ntfy; Apprise copies the context along)
_SEQUENCE: contextvars.ContextVar[tuple[str, Iterator[int]] | None] = contextvars.ContextVar(
    "sequence", default=None
)
_resolve = socket.getaddrinfo


class _Sequenced:
    """``requests`` as Apprise's ntfy plugin calls it: a post carries the message's key as its
    ``X-Sequence-ID`` (ntfy 2.16+), so a message sent again (in flight when race HQ was killed,
    or its answer lost) replaces on the recipient's phone the one that came: not a second.
    A message too long for one post goes in parts, each its own key ("-2", "-3"...): a part
    replaces only itself sent again, never the part before it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(requests, name)

    @staticmethod
    def post(url: str, *args: Any, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        sequence = _SEQUENCE.get()
        if sequence is not None:
            key, n = sequence[0], next(sequence[1])
            headers = {**(headers or {}), "X-Sequence-ID": key if n == 1 else f"{key}-{n}"}
        return requests.post(url, *args, headers=headers, **kw)


apprise.plugins.ntfy.requests = _Sequenced()  # type: ignore[assignment,attr-defined]


def _public_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    """``socket.getaddrinfo``, which while Apprise sends (``_PUBLIC_ONLY``) keeps only
    public addresses: a notification URL never reaches this machine or its network, whatever
    its service (a Kodi, a Home Assistant) and whatever its name resolves to when it is sent."""
    infos = _resolve(host, *args, **kwargs)
    if not _PUBLIC_ONLY.get():
        return infos
    kept = [i for i in infos if i[0] not in (socket.AF_INET, socket.AF_INET6)
            or not refused_address(str(i[4][0]))]  # fmt: skip
    if not kept:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} is not a public address")
    return kept


def apprise_send(url: str, title: str, body: str, key: str = "", public_only: bool = True) -> str:
    """Hand one message to Apprise, as text (an e-mail shows a runner's words, never their
    markup); "" when it went, else the last thing Apprise logged (with the URL's secrets left
    out: an ntfy topic, a bot token). ``key``: the message's (:func:`message_key`; ntfy
    shows a message sent again with it in place of the first). ``public_only``: to public
    addresses only."""
    sender = apprise.Apprise()
    if not sender.add(url):
        return "Apprise does not know this URL"
    for service in sender:  # longer than the service takes (an SMS, Pushover): in parts,
        if "overflow=" not in url and service.overflow_mode == OverflowMode.UPSTREAM:
            service.overflow_mode = OverflowMode.SPLIT  # never refused for its length
    socket.getaddrinfo = _public_getaddrinfo  # (only while _PUBLIC_ONLY is set does it judge)
    guard = _PUBLIC_ONLY.set(public_only)
    keyed = _SEQUENCE.set((key, itertools.count(1)) if key else None)
    try:
        result = sender.notify(body=body, title=title, body_format=NotifyFormat.TEXT,
                               timeout=SEND_TIMEOUT_S)  # fmt: skip
    finally:
        _PUBLIC_ONLY.reset(guard)
        _SEQUENCE.reset(keyed)
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


URGENT = {"ntfy": "priority=max", "ntfys": "priority=max", "pover": "priority=high"}


def urgent_url(url: str) -> str:
    """An SOS's address: at the highest priority the service has (ntfy: max, Pushover: high),
    unless the address sets one itself.

    >>> urgent_url("ntfy://ntfy.sh/hq"), urgent_url("ntfy://ntfy.sh/hq?priority=low")
    ('ntfy://ntfy.sh/hq?priority=max', 'ntfy://ntfy.sh/hq?priority=low')
    >>> urgent_url("mailto://hq@example.org")
    'mailto://hq@example.org'
    """
    scheme, _, rest = url.partition("://")
    extra = URGENT.get(scheme.lower())
    if extra is None or "priority=" in rest:
        return url
    return f"{url}{'&' if '?' in rest else '?'}{extra}"


def message_key(rows: list[Delivery]) -> str:
    """The key of the message of ``rows`` (one update, or a digest): the same at every attempt,
    after a restart, and for a digest that grew from it (the first update's row, which is not
    sent otherwise until it is marked); unlike any other race's or server's (the row's race,
    recipient and creation time). Letters and digits, as ntfy's sequence ids."""
    d = rows[0]
    seed = f"{d.race_id}\n{d.recipient}\n{d.id}\n{d.created_ts!r}"
    return "cw" + hashlib.sha256(seed.encode()).hexdigest()[:30]


def digest_title(rows: list[Delivery]) -> str:
    """The title of a digest of ``rows`` (updates that waited their turn): the race, an SOS
    first when one is in it, and whose: "Western States: 3 updates on bib 7"."""
    bibs = list(dict.fromkeys(d.bib for d in rows))
    who = f"bib {bibs[0]}" if len(bibs) == 1 else "bibs " + ", ".join(bibs[:4])
    who += "…" if len(bibs) > 4 else ""
    sos = " SOS and" if rows[0].priority == 0 else ""
    return f"{rows[0].title.split(':')[0]}:{sos} {len(rows)} updates on {who}"
