"""Who is told, and from where each runner's feed is read: a race's address book.

Per runner: their MapShare or SPOT feed (polled by :mod:`coursewatch.live.feeds`), the Apprise
URLs of the runner (their own flags: "you may have missed the turn") and of their crew (their
runner's race HQ incidents). Per race: race HQ's Apprise URLs, each with the lowest priority it
wants (0: SOS only; 1: and what devices said; 2: every incident). Kept in the store's meta
(``contacts/<race>``); URLs are secrets (tokens, passwords) and are never shown whole.
"""

from __future__ import annotations

import contextlib
import functools
import json
from dataclasses import dataclass, field
from typing import Any

import apprise

from coursewatch.errors import InputError
from coursewatch.incidents import LOWEST_PRIORITY
from coursewatch.live.feeds import FeedConfig
from coursewatch.live.targets import refused_address, refused_target
from coursewatch.store import Store

MAX_URLS = 10  # per runner, per crew, per race HQ
MAX_URL_CHARS = 2048


@dataclass
class RaceContacts:
    feeds: dict[str, FeedConfig] = field(default_factory=dict)
    runner: dict[str, list[str]] = field(default_factory=dict)  # bib -> the runner's URLs
    crew: dict[str, list[str]] = field(default_factory=dict)  # bib -> their crew's URLs
    hq: list[tuple[str, int]] = field(default_factory=list)  # (URL, lowest priority wanted)

    def to_json(self) -> dict[str, Any]:
        return {
            "feeds": {bib: f.to_json() for bib, f in self.feeds.items()},
            "runner": self.runner,
            "crew": self.crew,
            "hq": [{"url": u, "priority": p} for u, p in self.hq],
        }

    @staticmethod
    def from_json(obj: dict[str, Any]) -> RaceContacts:
        return RaceContacts(
            feeds={bib: FeedConfig.stored(f) for bib, f in obj.get("feeds", {}).items()},
            runner={bib: list(u) for bib, u in obj.get("runner", {}).items()},
            crew={bib: list(u) for bib, u in obj.get("crew", {}).items()},
            hq=[(h["url"], int(h["priority"])) for h in obj.get("hq", [])],
        )


@functools.lru_cache(maxsize=4096)
def shown_url(url: str) -> str:
    """An Apprise URL as it may be shown: its scheme and host in Apprise's privacy form (a host
    that is a token cut short), never a user, password, path or query (an ntfy topic is a
    secret too).

    >>> shown_url("ntfy://user:secret@ntfy.example.org/race-hq")
    'ntfy://ntfy.example.org/…'
    >>> shown_url("pover://userkey@apptoken")
    'pover://a...n/…'
    """
    shown = url.split(":", 1)[0] + "://"
    try:
        plugin = apprise.Apprise.instantiate(url)
        private = str(plugin.url(privacy=True)) if plugin is not None else ""  # type: ignore[no-untyped-call]
    except Exception:  # Apprise's plugins raise what they like on odd text
        private = ""
    netloc = private.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1] if private else ""
    return f"{shown}{netloc}/…"


def check_urls(urls: object, who: str) -> list[str]:
    """A list of Apprise URLs Apprise understands; InputError naming the first it does not."""
    if urls is None:
        return []
    if isinstance(urls, str):
        urls = urls.split()  # whitespace only: a comma belongs to many URLs (to=a@x,b@x)
    if not isinstance(urls, list) or len(urls) > MAX_URLS:
        raise InputError(f"{who}: give a list of at most {MAX_URLS} Apprise URLs")
    out = []
    for url in urls:
        if not isinstance(url, str) or not 0 < len(url) <= MAX_URL_CHARS:
            raise InputError(f"{who}: each URL is text of 1-{MAX_URL_CHARS} characters")
        if apprise.Apprise.instantiate(url) is None:
            raise InputError(
                f"{who}: {shown_url(url)} is not a notification URL Apprise knows: see "
                "https://github.com/caronc/apprise/wiki (ntfy://, tgram://, mailto://, pover://...)"
            )
        out.append(url)
    return out


# schemes whose host is a server someone runs (not a token of a cloud service): where a URL
# could point into race HQ's own machine or network
SELF_HOSTED = frozenset({
    "ntfy", "ntfys", "json", "jsons", "xml", "xmls", "form", "forms", "gotify", "gotifys",
    "mailto", "mailtos", "apprise", "apprises", "matrix", "matrixs", "mqtt", "mqtts", "rocket",
    "rockets", "mmost", "mmosts", "signal", "signals", "ncloud", "nclouds", "kodi", "kodis",
    "xbmc", "xbmcs", "hassio", "hassios", "synology", "synologys", "bark", "barks", "emby",
    "embys", "jellyfin", "jellyfins", "nctalk", "nctalks", "lametric", "lametrics", "rsyslog",
    "misskey", "misskeys", "mastodon", "mastodons", "toot", "toots", "smseagle", "smseagles",
    "parsep", "parseps", "pushdeer", "pushdeers", "enigma2", "enigma2s", "gorush", "gorushs",
    "humhub", "humhubs", "goalert", "goalerts", "growl", "irc", "ircs", "xmpp", "xmpps", "smpp",
    "smpps", "onebot", "onebots", "opsimate", "opsimates", "pjet", "pjets", "amqp", "amqps",
    "deltachat", "deltachats", "evolution", "evolutions", "session", "sessions", "sogs",
    "pinglet", "pinglets", "flowtriq", "flowtriqs", "fluxer", "fluxers", "notica",
})  # fmt: skip
# schemes that notify race HQ's own machine (its desktop, its syslog, a USB light), or whose
# sockets resolve their host where the check at sending cannot see it (live/channels.py)
ON_THIS_MACHINE = frozenset({"dbus", "kde", "qt", "gnome", "gio", "glib", "macosx", "windows",
                             "syslog", "blink1", "rsyslog", "xmpp", "xmpps"})  # fmt: skip


async def refused_url(
    url: str, allow_private: bool, seen: dict[tuple[bool, str], str] | None = None
) -> str:
    """Why a notification URL may not be used ("" if it may), unless ``allow_private``: it
    notifies race HQ's own machine, or its host (a self-hosted service's, an SMTP server's;
    any service's given as an address) is in this machine or its network. (When a message is
    sent, every address its service connects to is checked again: live/channels.py.)"""
    scheme = url.split(":", 1)[0].lower()
    if allow_private:
        return ""
    if scheme in ON_THIS_MACHINE:
        return f"{scheme}:// is not checked where it connects (or notifies race HQ's machine)"
    plugin = apprise.Apprise.instantiate(url)
    for host in (getattr(plugin, "host", None), getattr(plugin, "smtp_host", None)):
        if not isinstance(host, str) or not host or host == "ntfy.sh":
            continue
        problem = ""
        resolved = scheme in SELF_HOSTED or host.lower() == "localhost"
        key = (resolved, host.lower())
        if seen is not None and key in seen:  # (a roster: once a host)
            problem = seen[key]
        elif resolved:
            problem = await refused_target(f"http://{host}/", False, unresolved_ok=True)
        else:  # a cloud service's host part is a token: judged only when it is an address
            with contextlib.suppress(ValueError):
                problem = refused_address(host.strip("[]"))
        if seen is not None:
            seen[key] = problem
        if problem:
            return problem
    return ""


def check_hq(entries: object) -> list[tuple[str, int]]:
    """Race HQ's recipients: ``[{"url": ..., "priority": 0-2}]`` (priority 2 when absent)."""
    if not isinstance(entries, list) or len(entries) > MAX_URLS:
        raise InputError(f'hq: give a list of at most {MAX_URLS} {{"url": ..., "priority": 0-2}}')
    out: list[tuple[str, int]] = []
    for e in entries:
        entry = e if isinstance(e, dict) else {"url": e}
        prio = entry.get("priority", LOWEST_PRIORITY)
        if type(prio) is not int or not 0 <= prio <= LOWEST_PRIORITY:
            raise InputError("hq priority: 0 (SOS only), 1 (and device messages) or 2 (all)")
        out.extend((u, prio) for u in check_urls([entry.get("url")], "hq"))
    return out


class Contacts:
    """Every race's address book, read from and written to the store's meta."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.races: dict[str, RaceContacts] = {}

    def of(self, race_id: str) -> RaceContacts:
        book = self.races.get(race_id)
        if book is None:
            saved = self.store.meta(f"contacts/{race_id}")
            book = self.races[race_id] = RaceContacts.from_json(json.loads(saved or "{}"))
        return book

    async def save(self, race_id: str) -> None:
        text = json.dumps(self.of(race_id).to_json())
        await self.store.set_meta(f"contacts/{race_id}", text)

    def shown(self, race_id: str, bib: str | None = None) -> dict[str, Any]:
        """What race HQ may see of the book (a runner's, or the race's): URLs shortened."""
        book = self.of(race_id)
        if bib is not None:
            feed = book.feeds.get(bib)
            return {"feed": None if feed is None else feed.to_json(secrets=False),
                    "runner": [shown_url(u) for u in book.runner.get(bib, [])],
                    "crew": [shown_url(u) for u in book.crew.get(bib, [])]}  # fmt: skip
        return {"hq": [{"url": shown_url(u), "priority": p} for u, p in book.hq]}
