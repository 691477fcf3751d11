"""One poll of a runner's feed: what it asks (the URL, query and credentials of MapShare or
SPOT), what its answer says (the fixes and device events, or why not, in words), and the
limit of the service it goes to (a token bucket per service)."""

from __future__ import annotations

import email.utils
import ipaddress
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import httpx
import orjson

from coursewatch.live.targets import host_of
from coursewatch.protocols import Decoded, PayloadError
from coursewatch.protocols.mapshare import decode_mapshare
from coursewatch.protocols.spot import decode_spot
from coursewatch.settings import Settings

if TYPE_CHECKING:
    from coursewatch.live.feeds import Feed

BLOCK_S = 3600.0  # a 429 without Retry-After: Garmin's published block
BUSY_S = 60.0  # a 503 without Retry-After: the host is down or busy, not blocking us
MAX_BLOCK_S = 24 * 3600.0
SPOT_PATH = "/spot-main-web/consumer/rest-api/2.0/public/feed/{}/message.json"


class FeedError(Exception):
    """A poll that brought nothing usable, in words; ``block_s``: the host said to stop."""

    def __init__(self, reason: str, block_s: float = 0.0) -> None:
        super().__init__(reason)
        self.block_s = block_s


class AnswerTooLarge(FeedError):
    """An answer over the size a poll takes (a whole race of frequent pings asked at once)."""


def request_for(
    feed: Feed, settings: Settings
) -> tuple[str, dict[str, str], httpx.BasicAuth | None]:
    """The URL, query and credentials of one poll of ``feed``."""
    c, since = feed.config, datetime.fromtimestamp(max(0.0, feed.since_s), UTC)
    if c.kind == "mapshare":
        url = _mapshare_url(c.ident, settings.mapshare_url)
        auth = httpx.BasicAuth("", c.password) if c.password else None
        query = {"d1": since.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if feed.span_s is not None:  # catching up, a part at a time
            until = datetime.fromtimestamp(max(0.0, feed.since_s + feed.span_s), UTC)
            query["d2"] = until.strftime("%Y-%m-%dT%H:%M:%SZ")
        return url, query, auth
    params = {"startDate": since.strftime("%Y-%m-%dT%H:%M:%S-0000")}
    if c.password:
        params["feedPassword"] = c.password
    return settings.spot_url.rstrip("/") + SPOT_PATH.format(quote(c.ident, safe="")), params, None


def _mapshare_url(ident: str, default_host: str) -> str:
    """A bare name on the default host; an address (share.garmin.com/<name>, a regional
    host, or its /Feed/Share/<name>) on its own host."""
    if not is_address(ident):
        return f"{default_host.rstrip('/')}/Feed/Share/{quote(ident, safe='')}"
    parts = urlsplit(ident if "://" in ident else "https://" + ident)
    name = parts.path.rstrip("/").rsplit("/", 1)[-1]
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    where = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{where}/Feed/Share/{quote(name, safe='')}"


def feed_host_ok(host: str, settings: Settings) -> bool:
    """Whether a poll may go to ``host``: Garmin's (MapShare's hosts, any region), SPOT's, or
    the hosts the settings name. A feed is read nowhere else, nor redirected elsewhere.

    >>> from coursewatch.settings import load_settings
    >>> s = load_settings({})
    >>> [feed_host_ok(h, s) for h in ("eu.share.garmin.com", "api.findmespot.com", "10.0.0.1")]
    [True, True, False]
    """
    host = host.lower().rstrip(".")
    named = {urlsplit(settings.mapshare_url).hostname, urlsplit(settings.spot_url).hostname}
    return host in named or any(
        host == d or host.endswith("." + d) for d in ("garmin.com", "garmin.cn", "findmespot.com")
    )


def is_address(ident: str) -> bool:
    """Whether a MapShare feed is given by its address (``https://share.garmin.com/Name``, or
    ``share.garmin.com/Name`` as Garmin's app shows it) rather than by its name."""
    return "://" in ident or ("/" in ident and "." in ident.split("/", 1)[0])


def mapshare_address(ident: str) -> tuple[str, str]:
    """A MapShare address as given, checked: the address without any user or password in it,
    and that password ("" if none). Raises ValueError saying what is wrong.

    >>> mapshare_address("share.garmin.com/BobOkafor")
    ('https://share.garmin.com/BobOkafor', '')
    >>> mapshare_address("http://:s3cret@share.garmin.com/Bob")
    ('https://share.garmin.com/Bob', 's3cret')
    """
    try:
        parts = urlsplit(ident if "://" in ident else "https://" + ident)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ValueError(f"the address cannot be read ({exc})") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("give an http(s) address such as https://share.garmin.com/Name")
    if not parts.path.strip("/"):
        raise ValueError("the address has no MapShare name after the host")
    where = f"[{host}]" if ":" in host else host
    where += f":{port}" if port else ""
    if host == "garmin.com" or host.endswith(".garmin.com"):  # never a map password in clear
        parts = parts._replace(scheme="https")
    return parts._replace(netloc=where).geturl(), parts.password or ""


def read_answer(kind: str, status: int, headers: httpx.Headers, body: bytes) -> Page:
    """What one answer brought, or a FeedError saying why not, in words."""
    if status == 429:
        wait = retry_after_s(headers.get("retry-after"), BLOCK_S)
        raise FeedError(f"blocked by the feed host for {math.ceil(wait / 60)} min (too many "
                        "requests from this server)", wait)  # fmt: skip
    if status == 503:  # down or busy: not our doing, but it asks every runner's polls to wait
        wait = retry_after_s(headers.get("retry-after"), BUSY_S)
        raise FeedError(f"the feed host is unavailable (HTTP 503): asked again in "
                        f"{math.ceil(wait / 60)} min", wait)  # fmt: skip
    if status in (401, 403):
        raise FeedError("the feed needs a password, or the one given is wrong")
    if status == 404 or (status == 200 and kind == "mapshare" and not body.strip()):
        what = "MapShare has no feed" if kind == "mapshare" else "SPOT has no feed"
        raise FeedError(f"{what} by that name: check the name in the feed's address")
    if status != 200:
        raise FeedError(f"the feed host answered HTTP {status}")
    try:
        if kind == "mapshare":
            return Page(decode_mapshare(body))
        obj = orjson.loads(body)
        decoded = decode_spot(obj)
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"the SPOT answer is not JSON ({exc})") from None
    except PayloadError as exc:
        raise FeedError(exc.detail) from None
    found = obj["response"].get("feedMessageResponse") or {}
    count = len(decoded.fixes) + len(decoded.problems)
    total = found.get("totalCount") if isinstance(found, dict) else None
    return Page(decoded, count, total if type(total) is int else count)


@dataclass
class Page:
    """One answer: what it decoded to; for SPOT (50 messages a page, newest first) how many
    it held and how many there are in all."""

    decoded: Decoded
    count: int = 0
    total: int = 0


def retry_after_s(value: str | None, default_s: float = BLOCK_S) -> float:
    """Retry-After in seconds (a number or an HTTP date), at most a day; ``default_s`` when
    absent or unreadable.

    >>> retry_after_s("120"), retry_after_s("soon"), retry_after_s(None, 60.0)
    (120.0, 3600.0, 60.0)
    """
    if not value or not value.strip():
        return default_s
    try:
        wait = float(value)
    except ValueError:
        try:
            wait = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return default_s
    return max(1.0, min(wait, MAX_BLOCK_S)) if math.isfinite(wait) else default_s


@dataclass
class HostBudget:
    """A token bucket: ``per_hour`` requests an hour, at most ``burst`` at once; and a block
    until ``blocked_until`` (monotonic) when the host said so."""

    per_hour: float
    burst: float = 10.0
    tokens: float = 10.0
    at: float = field(default_factory=time.monotonic)
    blocked_until: float = 0.0
    sent: int = 0

    def wait_s(self, now: float) -> float:
        """0 when a request may go now (and takes its token), else how long to wait."""
        if now < self.blocked_until:
            return self.blocked_until - now
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_hour / 3600.0)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.sent += 1
            return 0.0
        return (1.0 - self.tokens) * 3600.0 / self.per_hour


def budget_key(url: str) -> str:
    """Whose limit a request counts against: a feed service's, not one of its names (Garmin
    counts the requests of an address an hour whichever of its hosts they go to:
    share.garmin.com, eur.share.garmin.com, inreach.garmin.com); an IP address as itself.

    >>> budget_key("https://eur.share.garmin.com/Feed/Share/x"), budget_key("http://127.0.0.1:81/")
    ('garmin.com', '127.0.0.1:81')
    """
    try:
        host = urlsplit(url).hostname or "?"
    except ValueError:
        return "?"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return ".".join(host.split(".")[-2:])
    return host_of(url)
