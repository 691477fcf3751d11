"""A local stand-in for Garmin MapShare and SPOT, for tests and benchmarks: a real HTTP server
on 127.0.0.1 serving feeds in their exact formats, written from inReach IPC events (the real
logs of ``../shared/data``, or simulated runs), with the quirks of the real ones.

- MapShare: ``GET /Feed/Share/<name>?d1=<ISO>[&d2=<ISO>]``: KML, one Placemark per message
  from ``d1`` (to ``d2``) in the order they arrived (duplicates, late ones and no-fix (0, 0)
  messages included, as in the logs), then the LineString placemark; HTTP Basic with any
  user when the map has a password (401 otherwise); an empty 200 for a name that does not
  exist.
- SPOT: ``GET /spot-main-web/consumer/rest-api/2.0/public/feed/<id>/message.json``
  ``?startDate=...&start=N&feedPassword=...``: newest first, 50 a page, one message as an
  object, error ``E-0195`` when there is nothing, ``E-0160`` for a wrong id or password.
- Each feed shows its messages as they *arrive*: ``reveal`` more at every request (all at
  once by default), so a poller walks through a race as it was received; or, ``live``, each
  at its own time on the wall clock.
- Quirks on demand: ``block(n, retry_after_s)`` answers the next n requests 429 with
  Retry-After; a feed's ``quirk`` makes it ``slow`` (answers after ``slow_s``), ``malformed``
  or an XML ``bomb``.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from coursewatch.sim.sinks import serve_in_thread

SPOT_PATH = "/spot-main-web/consumer/rest-api/2.0/public/feed/{feed}/message.json"
SPOT_PAGE = 50
_SPOT_TYPES = {4: "SOS", 6: "SOS", 7: "CANCEL", 3: "CUSTOM"}
_BOMB = (b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa">'
         b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
         b"<kml><Document>&c;</Document></kml>")  # fmt: skip


@dataclass
class Account:
    """One device's feed: IPC events in arrival order, of which ``shown`` have arrived."""

    events: list[dict[str, Any]]
    password: str = ""
    reveal: int = 1_000_000  # events that arrive at each request
    quirk: str = ""  # "", slow, malformed, bomb
    live: bool = False  # an event arrives at its own time (wall clock), not by requests
    shown: int = 0
    requests: int = 0

    def arrived(self) -> list[dict[str, Any]]:
        self.requests += 1
        if self.live:
            now_ms = time.time() * 1000
            return [e for e in self.events if e["timeStamp"] <= now_ms]
        self.shown = min(len(self.events), self.shown + self.reveal)
        return self.events[: self.shown]


@dataclass
class FeedServer:
    mapshare: dict[str, Account] = field(default_factory=dict)
    spot: dict[str, Account] = field(default_factory=dict)
    slow_s: float = 30.0
    requests: Counter[str] = field(default_factory=Counter)
    blocked: int = 0
    retry_after_s: int = 60
    url: str = ""
    _server: uvicorn.Server | None = None

    def block(self, n: int, retry_after_s: int) -> None:
        """Answer the next ``n`` requests 429, Retry-After ``retry_after_s``."""
        self.blocked, self.retry_after_s = n, retry_after_s

    def start(self, port: int) -> str:
        app = Starlette(routes=[Route("/Feed/Share/{name}", self._mapshare),
                                Route(SPOT_PATH, self._spot)])  # fmt: skip
        self._server = serve_in_thread(app, port)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    async def _gate(self, kind: str, account: Account | None) -> Response | None:
        self.requests[kind] += 1
        if self.blocked > 0:
            self.blocked -= 1
            self.requests["429"] += 1
            return Response(status_code=429, headers={"Retry-After": str(self.retry_after_s)})
        if account is not None and account.quirk == "slow":
            await asyncio.sleep(self.slow_s)
        return None

    async def _mapshare(self, request: Request) -> Response:
        account = self.mapshare.get(request.path_params["name"])
        refused = await self._gate("mapshare", account)
        if refused is not None:
            return refused
        if account is None:
            return Response(b"", media_type="application/vnd.google-earth.kml+xml")
        if account.password and _basic_password(request) != account.password:
            return Response(b"Unauthorized", status_code=401)
        if account.quirk in ("malformed", "bomb"):
            return Response(
                b"<kml><Document><Placemark>" if account.quirk == "malformed" else _BOMB
            )
        d1 = _iso(request.query_params.get("d1"))
        d2 = _iso(request.query_params.get("d2")) or float("inf")
        arrived = account.arrived()
        emergency = in_emergency(arrived)
        events = [e for e in arrived if d1 <= e["timeStamp"] / 1000 <= d2]
        kml = mapshare_kml(events, emergency=[emergency[id(e)] for e in events])
        return Response(kml, media_type="application/vnd.google-earth.kml+xml")

    async def _spot(self, request: Request) -> Response:
        account = self.spot.get(request.path_params["feed"])
        refused = await self._gate("spot", account)
        if refused is not None:
            return refused
        q = request.query_params
        if account is None or (account.password and q.get("feedPassword") != account.password):
            return _spot_error("E-0160", "Feed Not Found")
        if account.quirk == "malformed":
            return Response(b'{"response": {"feedMessageResponse": ', media_type="application/json")
        since = _iso(q.get("startDate", "").replace("-0000", "Z"))
        events = [e for e in account.arrived() if e["timeStamp"] / 1000 >= since]
        events.sort(key=lambda e: -e["timeStamp"])  # SPOT: newest first
        start = int(q.get("start") or 0)
        page = events[start : start + SPOT_PAGE]
        if not page:
            return _spot_error("E-0195", "No Messages to display")
        return Response(spot_json(page, len(events)), media_type="application/json")


def _basic_password(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("basic "):
        return None
    try:
        return base64.b64decode(auth[6:]).decode().partition(":")[2]
    except ValueError:
        return None


def _iso(text: str | None) -> float:
    if not text:
        return 0.0
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _no_fix(e: dict[str, Any]) -> bool:
    p = e.get("point") or {}
    return p.get("gpsFix") == 0 or (p.get("latitude") == 0 and p.get("longitude") == 0)


def in_emergency(events: list[dict[str, Any]]) -> dict[int, bool]:
    """Whether the device was in emergency at each event, as MapShare says on every message:
    from an SOS (IPC code 4 or 6) until its cancel (7), in time order, each device its own."""
    out, on = {}, dict[str, bool]()
    for e in sorted(events, key=lambda e: e["timeStamp"]):
        code, imei = e.get("messageCode"), str(e.get("imei", ""))
        on[imei] = True if code in (4, 6) else False if code == 7 else on.get(imei, False)
        out[id(e)] = on[imei]
    return out


def mapshare_kml(
    events: list[dict[str, Any]], name: str = "Runner", emergency: list[bool] | None = None
) -> bytes:
    """The MapShare KML of these IPC events, as Garmin writes it (full-precision numbers);
    ``emergency``: each one's In Emergency (default: its own code only)."""
    marks = []
    for i, e in enumerate(events):
        p, when = e.get("point") or {}, datetime.fromtimestamp(e["timeStamp"] / 1000, UTC)
        lat, lon, ele = p.get("latitude", 0.0), p.get("longitude", 0.0), p.get("altitude", 0.0)
        us = when.strftime("%m/%d/%Y %I:%M:%S %p").lstrip("0").replace("/0", "/")
        data = {
            "Id": str(1000 + i), "Time UTC": us, "Time": us, "Name": name,
            "Map Display Name": name, "Device Type": "inReach Mini", "IMEI": e.get("imei", ""),
            "Incident Id": "", "Latitude": repr(lat), "Longitude": repr(lon),
            "Elevation": f"{ele!r} m from MSL", "Velocity": f"{p.get('speed', 0.0)!r} km/h",
            "Course": f"{p.get('course', 0.0)!r} ° True",
            "Valid GPS Fix": str(not _no_fix(e)),
            "In Emergency": str(emergency[i] if emergency else e.get("messageCode") in (4, 6)),
            "Text": e.get("freeText") or "", "Event": "Tracking interval received.",
        }  # fmt: skip
        rows = "".join(
            f'<Data name="{k}"><value>{escape(v)}</value></Data>' for k, v in data.items()
        )
        marks.append(
            f"<Placemark><name>{name}</name><visibility>1</visibility><description/>"
            f"<TimeStamp><when>{when:%Y-%m-%dT%H:%M:%SZ}</when></TimeStamp>"
            f"<styleUrl>#style_1</styleUrl><ExtendedData>{rows}</ExtendedData>"
            f"<Point><extrude>false</extrude><altitudeMode>absolute</altitudeMode>"
            f"<coordinates>{lon!r},{lat!r},{ele!r}</coordinates></Point></Placemark>"
        )
    line = " ".join(f"{e['point']['longitude']!r},{e['point']['latitude']!r},0" for e in events
                    if not _no_fix(e))  # fmt: skip
    marks.append(f"<Placemark><name>{name}</name><LineString><tessellate>true</tessellate>"
                 f"<coordinates>{line}</coordinates></LineString></Placemark>")  # fmt: skip
    return (
        '<?xml version="1.0" encoding="utf-8"?><kml xmlns="http://www.opengis.net/kml/2.2">'
        f"<Document><name>KML Export</name><Folder><name>{name}</name>{''.join(marks)}"
        "</Folder></Document></kml>"
    ).encode()


def spot_json(events: list[dict[str, Any]], total: int) -> bytes:
    """One SPOT answer page of these IPC events (one message: an object, not a list)."""
    messages = []
    for i, e in enumerate(events):
        p = e.get("point") or {}
        t = e["timeStamp"] / 1000
        messages.append({
            "@clientUnixTime": "0", "id": 900000 + i, "messengerId": e.get("imei", ""),
            "messengerName": "Runner", "unixTime": t,
            "messageType": _SPOT_TYPES.get(e.get("messageCode", 0), "UNLIMITED-TRACK"),
            "latitude": p.get("latitude", 0.0), "longitude": p.get("longitude", 0.0),
            "modelId": "SPOT3", "showCustomMsg": "Y",
            "dateTime": datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "batteryState": "LOW" if (e.get("status") or {}).get("lowBattery") else "GOOD",
            "hidden": 0, "altitude": p.get("altitude", 0.0),
            "messageContent": e.get("freeText") or "",
        })  # fmt: skip
    listed: Any = messages[0] if len(messages) == 1 else messages
    body = {"response": {"feedMessageResponse": {
        "count": len(messages), "totalCount": total, "activityCount": 0,
        "feed": {"id": "feed", "name": "Runner", "status": "ACTIVE", "type": "SHARED_PAGE"},
        "messages": {"message": listed}}}}  # fmt: skip
    return orjson.dumps(body)


def _spot_error(code: str, text: str) -> Response:
    body = {"response": {"errors": {"error": {"code": code, "text": text, "description": text}}}}
    return Response(orjson.dumps(body), media_type="application/json")
