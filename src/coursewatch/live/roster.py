"""A race's runners from a CSV roster, as a race director keeps it in a spreadsheet.

One row per runner; the header names the columns (any order, any case; unknown ones are
reported and ignored):

- ``bib`` (required), ``name``, ``start`` (a wave: ISO 8601 or HH:MM, the race's clock when
  no timezone is given), ``devices`` (tracker ids:
  IMEI, OsmAnd or OwnTracks ids, separated by spaces or ``;``);
- ``mapshare`` (their MapShare name or address) and ``mapshare_password``, or ``spot`` (their
  SPOT feed id) and ``spot_password``;
- ``notify_runner`` and ``notify_crew``: Apprise URLs, separated by spaces.

Every row is checked on its own: a row with a problem is refused with its line number and
what to do, and the others are still taken.

>>> rows, problems, ignored = read_roster("bib,name,mapshare,shoe\\n7,Ann,ann-runs,42\\n,Bob,,\\n")
>>> rows[0].bib, rows[0].feed, ignored
('7', FeedConfig(kind='mapshare', ident='ann-runs', password=''), ['shoe'])
>>> problems[0].line, problems[0].message
(3, 'no bib')
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from datetime import time as dtime

from coursewatch.errors import InputError
from coursewatch.formats.csvtext import separator_hint, unclosed_quote_line
from coursewatch.live.contacts import check_urls
from coursewatch.live.feeds import FeedConfig
from coursewatch.protocols import FieldError, parse_time_s
from coursewatch.store import RunnerRecord

COLUMNS = ("bib", "name", "start", "devices", "mapshare", "mapshare_password", "spot",
           "spot_password", "notify_runner", "notify_crew")  # fmt: skip
MAX_ROWS = 20_000


@dataclass(frozen=True)
class RosterRow:
    line: int
    bib: str
    name: str | None  # None: no such column (what is registered stays)
    devices: tuple[str, ...] | None
    start_ts: float | None
    feed: FeedConfig | None
    runner_urls: list[str] | None  # None: no such column; an empty cell takes them out
    crew_urls: list[str] | None

    def record(self, race_id: str, old: RunnerRecord | None) -> RunnerRecord:
        """The runner as registered after this row: what the row does not say stays."""
        was = old or RunnerRecord(race_id, self.bib)
        return replace(
            was,
            name=was.name if self.name is None else self.name,
            devices=was.devices if self.devices is None else self.devices,
            start_ts=was.start_ts if self.start_ts is None else self.start_ts,
        )


@dataclass(frozen=True)
class RosterProblem:
    line: int
    bib: str
    message: str
    hint: str = ""


def wave_start_s(value: object, race_start: datetime | None = None, field: str = "start") -> float:
    """A runner's own start (a wave): epoch seconds, ISO 8601 (without a timezone, the
    race's, as in its race file), or ``HH:MM`` on the race's clock, the one nearest the
    race's start (a race starting at 22:00 has its 00:30 wave the next day) (``field``: what
    an error names).

    >>> from datetime import timedelta, timezone
    >>> start = datetime(2022, 10, 23, 5, 15, tzinfo=timezone(timedelta(hours=2)))
    >>> [wave_start_s(v, start) - start.timestamp() for v in ("2022-10-23T06:15", "06:15")]
    [3600.0, 3600.0]
    >>> night = start.replace(hour=22, minute=0)
    >>> [(wave_start_s(v, night) - night.timestamp()) / 3600 for v in ("00:30", "21:00")]
    [2.5, -1.0]
    """
    text = value.strip() if isinstance(value, str) else ""
    clock = time_of_day(text, field)
    if race_start is not None and clock:
        day = race_start.date()
        return min((on_day(day + timedelta(days=k), clock, race_start.tzinfo) for k in (-1, 0, 1)),
                   key=lambda t: abs(t - race_start.timestamp()))  # fmt: skip
    if race_start is not None and text[:1].isdigit() and "-" in text[:5]:
        with contextlib.suppress(ValueError):
            when = datetime.fromisoformat(text)
            if when.tzinfo is None:  # the race's clock, as its race file reads it
                return when.replace(tzinfo=race_start.tzinfo).timestamp()
    return parse_time_s(value, field)


def time_of_day(text: str, field: str) -> tuple[int, int, int] | None:
    """``HH:MM[:SS]``, 24-hour or with AM/PM ("2:50 AM", "2:50pm"), as hours, minutes,
    seconds; None: not written as a time of day.

    >>> [time_of_day(t, "finish") for t in ("14:05", "2:50 PM", "12:10am", "7 May")]
    [(14, 5, 0), (14, 50, 0), (0, 10, 0), None]
    """
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:([AaPp])\.?[Mm]\.?)?", text)
    if not clock:
        return None
    h, m, sec = (int(g or 0) for g in clock.groups()[:3])
    half = (clock.group(4) or "").lower()
    if half and not 1 <= h <= 12:
        raise FieldError(field, f"{text!r} is not a time of day", "give 1-12 with AM or PM")
    if half:
        h = h % 12 + (12 if half == "p" else 0)
    if h > 23 or m > 59 or sec > 59:
        raise FieldError(field, f"{text!r} is not a time of day", "give HH:MM, e.g. 06:15")
    return h, m, sec


def on_day(day: date, clock: tuple[int, int, int], zone: tzinfo | None) -> float:
    """A time of day on a day of the race's clock, as epoch seconds: by the calendar, not by
    steps of 24 hours (a night the clocks change has 23 or 25)."""
    return datetime.combine(day, dtime(*clock), zone).timestamp()


FUTURE_FINISH_S = 900.0  # a finish this far after now is a clock's difference, not a mistake


def finish_time_s(value: object, race_start: datetime, start_s: float, now_s: float) -> float:
    """A runner's finish as race HQ records it (a timing mat, a marshal), read as
    :func:`wave_start_s` reads a start, but ``HH:MM`` is its latest time of day up to
    ``FUTURE_FINISH_S`` after ``now_s`` (the race's clock: a timing mat's clock a minute
    ahead of race HQ's is today's, not yesterday's; a 30-hour race finishes on another day
    than it starts). Never before the runner's start (``start_s``), nor later than that
    after now.

    >>> from datetime import timedelta, timezone
    >>> start = datetime(2022, 10, 23, 5, 15, tzinfo=timezone(timedelta(hours=2)))
    >>> t0, now = start.timestamp(), start.timestamp() + 25 * 3600  # Mon 06:15
    >>> [(finish_time_s(v, start, t0, now) - t0) / 3600 for v in ("04:45", "10:45", "06:20")]
    [23.5, 5.5, 25.083333333333332]
    """
    latest = now_s + FUTURE_FINISH_S
    clock = time_of_day(value.strip(), "finish") if isinstance(value, str) else None
    zone, now = race_start.tzinfo, datetime.fromtimestamp(now_s, race_start.tzinfo)
    if clock is None:
        at = wave_start_s(value, race_start, "finish")
    else:  # its latest: the day of ``latest``'s, else the day before
        day = datetime.fromtimestamp(latest, zone).date()
        at = on_day(day, clock, zone)
        at = at if at <= latest else on_day(day - timedelta(days=1), clock, zone)
    if at <= start_s and clock and on_day(now.date(), clock, zone) > latest:  # not come yet
        said = f"{str(value).strip()} has not come yet on the race's clock (now {now:%H:%M})"
        raise FieldError("finish", said, "give the time the runner crossed the line")
    if at <= start_s:
        raise FieldError("finish", "the finish is not after the runner's start",
                         "give the time the runner crossed the line")  # fmt: skip
    if at > latest:
        raise FieldError("finish", "the finish is later than now on the race's clock",
                         "give the time the runner crossed the line")  # fmt: skip
    return at


def read_roster(
    text: str, race_start: datetime | None = None
) -> tuple[list[RosterRow], list[RosterProblem], list[str]]:
    """The usable rows, the refused ones (why, by line), and the columns ignored; a
    ``start`` without a timezone is on the race's clock (``race_start``'s)."""
    opened = unclosed_quote_line(text.lstrip("\ufeff"))
    if opened is not None:
        raise InputError(
            f"the roster's line {opened} opens a quote that is never closed (every "
            "line after it would be read as one cell): close it or take it out"
        )
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""), restval="")
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise InputError(f"the roster's first line is not CSV ({exc})") from None
    if not header or "bib" not in [f.strip().lower() for f in header]:
        raise InputError(
            "the roster has no 'bib' column: its first line names the columns, e.g. "
            "bib,name,devices,mapshare,spot,notify_runner,notify_crew" + separator_hint(text)
        )
    names = {f: f.strip().lower() for f in header}
    ignored = [f for f, n in names.items() if n not in COLUMNS]
    rows: list[RosterRow] = []
    problems: list[RosterProblem] = []
    seen: dict[str, int] = {}  # bib -> the line it is on
    for n, raw in enumerate(_rows(reader, problems)):
        line = reader.line_num
        if n >= MAX_ROWS:
            problems.append(RosterProblem(line, "", f"over {MAX_ROWS:,} rows: the rest ignored"))
            break
        values = {names[k]: (v or "").strip() for k, v in raw.items() if k in names}
        bib = values.get("bib", "")
        if bib in seen:  # the last would win and take the first's devices and contacts
            problems.append(RosterProblem(line, bib, f"bib {bib} is on line {seen[bib]} already",
                                          "one row per runner: merge the two rows"))  # fmt: skip
            continue
        try:
            rows.append(_row(line, values, race_start))
            seen[bib] = line
        except (InputError, FieldError) as exc:
            hint = exc.hint if isinstance(exc, FieldError) else ""
            message = exc.detail if isinstance(exc, InputError) else f"{exc.field}: {exc}"
            problems.append(RosterProblem(line, values.get("bib", ""), message, hint))
    return rows, problems, ignored


def _rows(reader: csv.DictReader[str], problems: list[RosterProblem]) -> Iterator[dict[str, str]]:
    """The rows, until one that is not CSV (reported: the rest of the file is not read)."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            message = f"not CSV ({exc}): the rest of the file is not read"
            problems.append(RosterProblem(reader.line_num, "", message, "fix the line, send again"))
            return
        yield row


def _row(line: int, v: dict[str, str], race_start: datetime | None) -> RosterRow:
    if not v.get("bib"):
        raise InputError("no bib")
    feeds = [
        FeedConfig.from_json({"kind": k, "id": v[k], "password": v.get(f"{k}_password")})
        for k in ("mapshare", "spot")
        if v.get(k)
    ]
    if len(feeds) > 1:
        raise InputError("both a MapShare and a SPOT feed: give the one the runner carries")
    start = v.get("start")
    return RosterRow(
        line=line,
        bib=v["bib"],
        name=v.get("name"),
        devices=None if "devices" not in v else tuple(v["devices"].replace(";", " ").split()),
        start_ts=wave_start_s(start, race_start) if start else None,
        feed=feeds[0] if feeds else None,
        runner_urls=None
        if "notify_runner" not in v
        else check_urls(v["notify_runner"], "notify_runner"),
        crew_urls=None if "notify_crew" not in v else check_urls(v["notify_crew"], "notify_crew"),
    )
