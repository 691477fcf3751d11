"""The public view applied to what the API and the streams answer (live/privacy.py says what
it holds back). Race HQ (admin) sees everything; everyone else gets these."""

from __future__ import annotations

import math
from typing import Any

from coursewatch.incidents import DEVICE
from coursewatch.live import LiveRace, LiveRunner
from coursewatch.live.privacy import on_grid, public_runner, rounded, without_incidents
from coursewatch.live.views import passed_ts, station_json
from coursewatch.store import FixArrays
from coursewatch.web.errors import ApiError

# race HQ's, not the public's (and the news of a runner's race: their crew's)
HIDDEN_KINDS = frozenset({"incident", "flag", "incident_ack", "news"})
HELD_KINDS = frozenset({"status"})  # live now: not in a view that delays or hides positions


def published(race: LiveRace) -> bool:
    """Whether race HQ made its incidents and the runners' flags public
    (``public_view.incidents``), while no position is held back."""
    return race.view.incidents and race.view.exact


def sees_incidents(race: LiveRace, own_bib: str | None, bib: object) -> bool:
    """Whether a reader who is not race HQ may read a runner's incidents and flags: when they
    are :func:`published`, or with the runner's own token (the runner, their crew)."""
    return published(race) or (own_bib is not None and own_bib == bib)


def incidents_of(race: LiveRace, own_bib: str | None) -> str | None:
    """Whose incidents a reader who is not race HQ may list: None, every runner's; a bib,
    that runner's only (their own token). 403 when none."""
    if published(race):
        return None
    if own_bib is not None:
        return own_bib
    hint = "race HQ reads them with the admin token; a runner's own token reads theirs"
    raise ApiError(403, "forbidden", f"incidents of race {race.id!r} are race HQ's, not public",
                   "Authorization", hint)  # fmt: skip


def runner(
    race: LiveRace, r: LiveRunner, out: dict[str, Any], now_s: float, own_bib: str | None = None
) -> dict[str, Any]:
    """A runner's JSON as the public may see it (``out``: ``views.runner_json``); ``own_bib``:
    the runner whose own token the reader carries."""
    view = race.view
    out = without_sos(r, out)
    if not sees_incidents(race, own_bib, r.bib):
        out = without_incidents(out)
    if view.exact:
        return out
    then_s = now_s - 60.0 * view.delay_min if view.delay_min else math.inf
    seen = r.seen_at(then_s)
    if seen is not None and not view.delay_min:  # now: the engine's progress, as HQ sees it
        seen = (*seen[:3], r.matcher.progress_m)
    progress = seen[3] if seen is not None else 0.0
    finished = r.finished_s is not None and r.finished_s <= then_s  # (finished by then)
    if finished and r.record.finish_ts is not None:  # race HQ saw them cross the line
        progress = race.course.length_m
    last, nxt = race.around(progress, finished)
    then = {
        "progress_m": progress,
        "last_station_m": race.station_m[last] if last >= 0 else None,
        "last_station": station_json(race.stations[last]) if last >= 0 else None,
        "last_station_ts": passed_ts(race, r, last),
        "next_station": station_json(race.stations[nxt]) if nxt >= 0 else None,
        "lap": race.lap(progress) if seen is not None else None,
    }
    return public_runner(out, view, seen, then, now_s)


def progress(
    race: LiveRace, r: LiveRunner, body: dict[str, Any], now_s: float, own_bib: str | None
) -> dict[str, Any]:
    """A runner's race so far (``views.progress_json``) as the public may see it: their
    excursions only to whoever reads their incidents; up to the view's delay, progress on its
    grid (none with positions hidden: the station passes are the published splits), no ETA
    while anything is held back."""
    view = race.view
    body = {**body, "runner": runner(race, r, body["runner"], now_s, own_bib)}
    if not sees_incidents(race, own_bib, r.bib):
        body["excursions"] = []
    if view.exact:
        return body
    then_s = now_s - 60.0 * view.delay_min if view.delay_min else math.inf
    times, done = body["series"]["time_s"], body["series"]["progress_m"]
    kept = [(t, on_grid(s, view.round_m)) for t, s in zip(times, done, strict=True) if t <= then_s]
    if not view.positions:
        kept = []
    body["series"] = {"time_s": [t for t, _ in kept], "progress_m": [s for _, s in kept]}
    body["passes"] = [p for p in body["passes"] if p["time_s"] <= then_s]
    body["etas"], body["held_back"] = [], True
    return body


def without_sos(r: LiveRunner, out: dict[str, Any]) -> dict[str, Any]:
    """A runner's JSON with the status the course gives: what their own device said (an SOS)
    is race HQ's to handle, never the public's to see."""
    return {**out, "status": r.course_status} if out.get("status") == "sos" else out


def private_incident(data: dict[str, Any]) -> bool:
    """An incident of what a runner's device said (SOS, battery, their typed words)."""
    return data.get("kind") in DEVICE


def require_shown(race: LiveRace, bib: str) -> None:
    """A runner who opted out is not there for the public: the same 404 as no runner."""
    if bib in race.hidden:
        raise ApiError(404, "not_found", f"no runner with bib {bib!r} in race {race.id!r}",
                       "path", "check the id in the URL")  # fmt: skip


def require_tracks(race: LiveRace) -> None:
    if not (race.view.tracks and race.view.positions):
        raise ApiError(403, "forbidden", f"tracks of race {race.id!r} are not public",
                       "Authorization", "the race's public view hides them")  # fmt: skip


def track(race: LiveRace, fixes: FixArrays, now_s: float) -> tuple[list[float], ...]:
    """Times, latitudes and longitudes of a stored track as the public may see them."""
    view = race.view
    keep = fixes.time_s <= now_s - 60.0 * view.delay_min
    pairs = [rounded(float(a), float(b), view.round_m)
             for a, b in zip(fixes.lat[keep], fixes.lon[keep], strict=True)]  # fmt: skip
    return fixes.time_s[keep].tolist(), [p[0] for p in pairs], [p[1] for p in pairs]


def message(
    race: LiveRace, kind: str, data: dict[str, Any], now_s: float, own_bib: str | None = None
) -> dict[str, Any] | None:
    """A stream message as the public may see it (None: not for them); ``own_bib``: the
    runner whose own token the reader carries."""
    bib = data.get("bib")
    view = race.view
    told = sees_incidents(race, own_bib, bib)
    if bib in race.hidden or (kind in HIDDEN_KINDS and not told) or data.get("hidden"):
        return None
    if kind in HELD_KINDS and (view.delay_min or not view.positions):
        return None
    if kind == "status" and "sos" in (data.get("from"), data.get("to")):
        return None  # the runner messages say what the public may see
    if kind == "status" and not told:  # as the public's runner reads: "off course" is running
        said: dict[str, Any] = {k: without_incidents({"status": data[k]})["status"]
                                for k in ("from", "to") if k in data}  # fmt: skip
        return None if said.get("from", "") == said.get("to") else {**data, **said}
    if kind in HIDDEN_KINDS and private_incident(data):  # (acknowledged, too)
        return None
    if kind != "runner":
        return data
    r = race.runners.get(str(bib))
    return None if r is None else runner(race, r, data, now_s, own_bib)  # not known: not shown
