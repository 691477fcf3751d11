"""Where the server may send things: a webhook (later, a notification) URL must be public.

A receiver URL given through the API could point the server at itself (``127.0.0.1``, with the
admin routes behind it), at the cloud's metadata service (``169.254.169.254``) or into the
private network it runs in. Loopback, link-local, private, multicast and reserved addresses are
refused, for a literal address and for every address a name resolves to, unless the admin
allows them (``webhook_allow_private``: a race HQ on a LAN may need it).

>>> host_of("https://user:pw@hooks.example.org:8443/x?token=s3cret")
'hooks.example.org:8443'
>>> url_problem("ftp://example.org/x")
"the URL must start with http:// or https://, not 'ftp://'"
>>> refused_address("169.254.169.254")
'169.254.169.254 is a link-local address'
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


def host_of(url: str) -> str:
    """The host (and port) of a URL, for logs and messages: never its path, query or user."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "?"


def url_problem(url: str) -> str:
    """What is wrong with a receiver URL's form, or ""."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError as exc:
        return f"the URL cannot be read: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"the URL must start with http:// or https://, not {parts.scheme + '://'!r}"
    if not parts.hostname:
        return "the URL has no host"
    return ""


def refused_address(address: str) -> str:
    """Why the server must not call this IP address, or ""."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
        address.split("%", 1)[0]
    )
    if isinstance(ip, ipaddress.IPv6Address):  # an IPv4 address inside: judge that one
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        ip = inner or ip
    for what, bad in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved or ip.is_unspecified),
        ("non-public", not ip.is_global),  # shared (carrier NAT, 100.64/10), documentation...
    ):
        if bad:
            return f"{ip} is a {what} address"
    return ""


UNRESOLVED = "cannot resolve"


async def refused_target(url: str, allow_private: bool, unresolved_ok: bool = False) -> str:
    """Why the server must not call ``url`` now, or "": its form, then every address its host
    resolves to (unless private targets are allowed). ``unresolved_ok``: a name that does not
    resolve now is no reason (checked when given, called later: the caller says then)."""
    problem, _ = await checked_target(url, allow_private)
    return "" if unresolved_ok and problem.startswith(UNRESOLVED) else problem


async def checked_target(url: str, allow_private: bool) -> tuple[str, str | None]:
    """(why the server must not call ``url`` now or "", the address checked): a call should
    go to that address (:func:`pinned`), or the name could resolve elsewhere in between (DNS
    rebinding). The address is None for a literal address or when private targets are allowed
    (nothing to pin)."""
    problem = url_problem(url)
    if problem or allow_private:
        return problem, None
    host = urlsplit(url).hostname or ""
    try:
        return refused_address(host), None
    except ValueError:
        pass  # a name, not an address
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):  # no such name; a name no DNS can carry
        return f"{UNRESOLVED} {host[:80]}", None
    for info in infos:
        reason = refused_address(str(info[4][0]))
        if reason:
            return f"{host} resolves to {reason}", None
    return ("", str(infos[0][4][0])) if infos else (f"{UNRESOLVED} {host[:80]}", None)


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """``url`` with its host replaced by the checked ``address``: the URL, the Host header
    and the TLS name to send (httpx's ``sni_hostname`` extension), so the call goes where it
    was checked and the receiver and its certificate still see the name.

    >>> pinned("https://hooks.example.org:8443/x?a=1", "93.184.216.34")[0]
    'https://93.184.216.34:8443/x?a=1'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    ip = f"[{address}]" if ":" in address else address
    netloc = f"{ip}:{parts.port}" if parts.port else ip
    headers = {"Host": parts.netloc.rsplit("@", 1)[-1]}
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return parts._replace(netloc=netloc).geturl(), headers, extensions
