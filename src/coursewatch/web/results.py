"""The race's split table: every runner's elapsed time at every station passed, as JSON or as
the CSV a race file's ``history:`` and ``coursewatch eta predict`` read (live/results.py)."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from coursewatch.live.results import split_table
from coursewatch.splits import splits_csv
from coursewatch.web.auth import require_read, server_of
from coursewatch.web.errors import ApiError

FORMATS = ("json", "csv")


async def splits(request: Request) -> Response:
    server = server_of(request)
    race = server.race(request.path_params["race"])
    admin = require_read(request, race)
    form = request.query_params.get("format", "json")
    if form not in FORMATS:
        raise ApiError(422, "invalid_field", f"format {form[:20]!r} is not one of json, csv",
                       "format", "?format=csv, or leave it out for JSON")  # fmt: skip
    # the public's view as the board's: a delayed one does not show what happened since
    view = race.view
    delay_s = 0.0 if admin or view.exact else 60.0 * view.delay_min
    then_s = server.race_now(race.id) - delay_s if delay_s else math.inf
    server.read_passes(race)  # (a web node: as the workers stored them)
    table = split_table(race, then_s, not admin, lambda r: server.fixes_heard(race, r))
    if form == "json":
        return JSONResponse(table)
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in race.id)
    return Response(
        splits_csv(table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-splits.csv"'},
    )
