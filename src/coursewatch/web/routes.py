"""Every endpoint in one table: path, methods, handler, who may call it, what it does.

The table feeds Starlette's router and the OpenAPI document, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from coursewatch.web import api, auth, ingest, links, pages, results, sse

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint:
    path: str
    methods: tuple[str, ...]
    handler: Handler
    auth: str  # none, read, admin, ingest, device
    summary: str
    body: str = ""  # name of the request body schema in the OpenAPI document


R = "/api/races/{race}"
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/", ("GET",), pages.index, "none", "A minimal HTML page listing the races."),
    Endpoint("/api/health", ("GET",), pages.health, "none", "Liveness: 200 when serving."),
    Endpoint("/api/openapi.json", ("GET",), pages.openapi, "none", "This document."),
    Endpoint("/api/session", ("POST", "DELETE"), auth.session, "none",
             "POST with a token (race HQ's, a race's or a runner's): this browser's event streams "
             "take it from an HttpOnly cookie (EventSource sends no header; a token in the "
             "address sits in proxy logs). DELETE: forget it."),
    Endpoint("/api/races", ("GET",), api.list_races, "read", "Races (public ones, no token)."),
    Endpoint("/api/races", ("POST",), api.create_race, "admin",
             "Create or replace a race from a race file or a course file and a start.",
             "RaceCreate"),
    Endpoint(R, ("GET",), api.get_race, "read", "A race: course summary and stations."),
    Endpoint(R, ("PATCH",), api.patch_race, "admin",
             "Make a race public or not; what the public sees of it (public_view).", "RacePatch"),
    Endpoint(R, ("DELETE",), api.delete_race, "admin",
             "Remove a race and everything of it (runners, devices, fixes, incidents, "
             "notifications, webhooks, settings): the rows removed, by table."),
    Endpoint(f"{R}/course.geojson", ("GET",), api.course, "read",
             "The course line and station passes as GeoJSON."),
    Endpoint(f"{R}/runners", ("GET",), api.list_runners, "read",
             "Every runner, live: status, progress, lap, pace, last fix, stations, ETAs."),
    Endpoint(f"{R}/runners", ("POST",), api.add_runners, "admin",
             "Register runners (bib, name, device ids, start).", "RunnerCreate"),
    Endpoint(f"{R}/runners/{{bib}}", ("GET",), api.get_runner, "read", "One runner, live."),
    Endpoint(f"{R}/runners/{{bib}}", ("PATCH",), api.patch_runner, "admin",
             "Change a runner: name, devices, start, DNF, hidden (out of public views).",
             "RunnerPatch"),
    Endpoint(f"{R}/runners/{{bib}}", ("DELETE",), api.delete_runner, "admin",
             "Take a runner out of the race: registration, devices, fixes, incidents, "
             "notifications waiting, feed, contacts, token; the rows removed, by table."),
    Endpoint(f"{R}/runners/{{bib}}/token", ("POST",), api.runner_token, "admin",
             "A new ingest token of the runner's own: it posts that runner's fixes only."),
    Endpoint(f"{R}/runners/{{bib}}/track", ("GET",), api.track, "read",
             "The runner's stored fixes (?format=geojson for a LineString)."),
    Endpoint(f"{R}/runners/{{bib}}/upload", ("POST",), ingest.upload, "ingest",
             "Upload a GPX/FIT/TCX recording of the runner (raw body): late watch data."),
    Endpoint(f"{R}/fixes", ("POST",), ingest.native, "ingest",
             "Native batch: many fixes of many runners in one request.", "FixBatch"),
    Endpoint(f"{R}/splits", ("GET",), results.splits, "read",
             "Every runner's elapsed time at every station passed (?format=csv: the split "
             "table a race file's history and `eta predict` read), finishers first."),
    Endpoint(f"{R}/incidents", ("GET",), api.list_incidents, "read",
             "Incidents, one per runner episode, updated in place, oldest first: race HQ's "
             "(?level=alert, the default), the runners' flags (flag), the crews' news of "
             "their runner's race (news) or all; "
             "?bib=, ?after=<id>, ?retracted=1."),
    Endpoint(f"{R}/spots", ("GET",), api.list_spots, "admin",
             "Places several runners went off the course (a marking gone, the course line "
             "wrong), from race HQ's incidents: where the first left it, who, when; newest "
             "first."),
    Endpoint(f"{R}/spots/checked", ("POST",), api.check_spot, "admin",
             "Race HQ says the marking at a spot was checked ({\"course_m\": its course_m, "
             "\"by\": who}): each spot then says when, and how many runners went off there "
             "since.", "SpotCheck"),
    Endpoint(f"{R}/incidents/{{incident}}/ack", ("POST",), api.ack_incident, "admin",
             "Acknowledge an incident, for every update it has and will have.", "Ack"),
    Endpoint(f"{R}/events", ("GET",), sse.events, "read",
             "Server-Sent Events: runner, status, incident (race HQ's), flag (the runner's), "
             "news (their crew's), incident_ack (?kinds=)."),
    Endpoint(f"{R}/runners/{{bib}}/events", ("GET",), sse.runner_events, "read",
             "One runner's Server-Sent Events: their updates, status, flags and incidents "
             "(the runner's own channel, for their phone or crew)."),
    Endpoint(f"{R}/stats", ("GET",), api.stats, "admin",
             "Ingest counters (accepted, dropped by reason), unknown devices, webhooks."),
    Endpoint(f"{R}/webhooks", ("GET",), api.list_webhooks, "admin", "The race's webhooks."),
    Endpoint(f"{R}/webhooks", ("POST",), api.add_webhook, "admin",
             "Add a webhook (url, optional secret); HQ incidents are POSTed to it, signed.",
             "Webhook"),
    Endpoint(f"{R}/webhooks/{{hook}}", ("DELETE",), api.delete_webhook, "admin",
             "Remove a webhook."),
    Endpoint(f"{R}/feeds", ("GET",), links.feeds, "admin",
             "Every runner's MapShare or SPOT feed: state, last success, last error in words, "
             "polls, fixes; requests sent to each feed host."),
    Endpoint(f"{R}/runners/{{bib}}/feed", ("PUT",), links.put_feed, "admin",
             "Poll this runner's MapShare or SPOT feed (kind, id, password).", "Feed"),
    Endpoint(f"{R}/runners/{{bib}}/feed", ("DELETE",), links.delete_feed, "admin",
             "Stop polling the runner's feed."),
    Endpoint(f"{R}/runners/{{bib}}/feed/poll", ("POST",), links.poll_feed, "admin",
             "Poll the runner's feed now (within the host's budget)."),
    Endpoint(f"{R}/runners/{{bib}}/contacts", ("GET", "PUT"), links.runner_contacts, "admin",
             "Apprise URLs of the runner (their own flags) and their crew (their incidents).",
             "RunnerContacts"),
    Endpoint(f"{R}/contacts", ("GET", "PUT"), links.race_contacts, "admin",
             "Race HQ's Apprise URLs, each with the lowest priority it wants (0: SOS only).",
             "RaceContacts"),
    Endpoint(f"{R}/contacts/test", ("POST",), links.test_contacts, "admin",
             "Send a test message now to race HQ's addresses ({\"bib\": \"7\"}: the runner's "
             "and their crew's): to whom, sent or not and why.", "ContactsTest"),
    Endpoint(f"{R}/deliveries", ("GET",), links.deliveries, "admin",
             "Notifications: to whom (role, shortened URL), about which incident update, sent, "
             "waiting or failed and why (?after=<id>, ?limit=)."),
    Endpoint(f"{R}/roster", ("POST",), links.roster, "admin",
             "Runners from a CSV roster (bib, name, start, devices, mapshare, spot, passwords, "
             "notify_runner, notify_crew): what was taken, what was refused by line.", "Roster"),
    Endpoint(f"{R}/history", ("GET", "PUT"), links.history, "admin",
             "Earlier editions' split tables (CSV text each, and the stations whose leg "
             "changed): the ETAs with intervals and the dropout risk use them.", "History"),
    Endpoint(f"{R}/check", ("GET",), links.check, "admin",
             "Per runner: each device and feed heard from or not, and the newest fix; the "
             "devices heard that no runner has (like_bib: whose it is but for letter case)."),
    Endpoint("/ingest/osmand", ("GET", "POST"), ingest.osmand, "device",
             "OsmAnd / Traccar Client protocol: id, lat, lon, timestamp, speed (knots), bearing, "
             "altitude, accuracy, hdop, batt."),
    Endpoint("/ingest/owntracks", ("POST",), ingest.owntracks, "ingest",
             "OwnTracks HTTP mode (_type: location); answers []."),
    Endpoint("/ingest/inreach", ("POST",), ingest.inreach, "ingest",
             "Garmin inReach IPC Outbound JSON ({Version, Events: [...]})."),
)  # fmt: skip
