"""The words every report shares: the headline, one sentence per excursion, short durations.

Terminal, HTML, PNG and Markdown say the same thing about a race, so they say it with these
functions; each only lays the words out its own way.

>>> short_duration(23 * 60 + 10)
'23 min'
>>> short_duration(5975)
'1 h 40 min'
>>> short_duration(42)
'42 s'
>>> signed_duration(-75)
'-1:15'
>>> signed_duration(3725)
'+1:02:05'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

import numpy as np

from coursewatch.analysis import Analysis, Excursion
from coursewatch.race import Race, ReferenceSplits
from coursewatch.race_course import station_passes
from coursewatch.reports.splits import Cutoff, Split, Splits, compute_splits
from coursewatch.units import Units, fmt_duration

MULTI_DAY_S = 20 * 3600.0
SPARSE_S = 60.0  # fixes further apart than this cut the course's bends (EngineConfig.dense_s)
KIND_NAMES = {
    "off_course": "off course",
    "wrong_way": "wrong way",
    "shortcut": "shortcut",
}


@dataclass(frozen=True)
class ReportInfo:
    """What a report says besides the Analysis: names, the ghost, the clock's timezone."""

    title: str
    runner: str
    reference: ReferenceSplits | None = None
    tz: tzinfo | None = None
    multi_day: bool = False  # clock times then carry the weekday
    cutoffs: tuple[Cutoff, ...] = ()  # the race file's, by station visit

    @classmethod
    def build(
        cls, a: Analysis, runner: str, race: Race | None = None, ghost: str | None = None,
        tz: tzinfo | None = None,
    ) -> ReportInfo:  # fmt: skip
        """Title from the race file or the course; the ghost named ``ghost``, else the first;
        clock times on ``tz``, else the race file's clock, else UTC."""
        title = race.name if race is not None else (a.course.name or "Course")
        reference = None
        if race is not None and race.reference_splits:
            named = [r for r in race.reference_splits if ghost is None or r.name == ghost]
            reference = named[0] if named else None
        tz = tz or (race.start.tzinfo if race is not None else None)
        # (an 18 h track past midnight read 22:44Z, then 00:44Z: the days say which)
        zone, end = tz or UTC, a.track.end
        began, ended = datetime.fromtimestamp(a.start_ts, zone).date(), end.astimezone(zone).date()
        multi_day = end.timestamp() - a.start_ts > MULTI_DAY_S or began != ended
        cutoffs: tuple[Cutoff, ...] = ()
        if race is not None:
            cutoffs = tuple(Cutoff(p.name, p.distance_m, p.cutoff_ts)
                            for p in station_passes(race, a.course, strict=False)
                            if p.cutoff_ts is not None)  # fmt: skip
        return cls(title, runner, reference, tz, multi_day, cutoffs)

    def splits(self, a: Analysis) -> Splits:
        """The splits table of ``a``, with this report's ghost and cut-offs."""
        return compute_splits(a, self.reference, self.cutoffs)

    def clock(self, t: datetime | float, seconds: bool = True) -> str:
        """A time of day in the race's timezone (UTC, marked Z, without a race file); without
        ``seconds``, to the nearest minute (as the race times beside it are rounded)."""
        if not isinstance(t, datetime):
            t = datetime.fromtimestamp(t, self.tz or UTC)
        local = t.astimezone(self.tz or UTC) + (timedelta(0) if seconds else timedelta(seconds=30))
        text = local.strftime("%H:%M:%S" if seconds else "%H:%M")
        if self.multi_day:
            text = local.strftime("%a ") + text
        return text + ("Z" if self.tz is None else "")

    def local(self, t: datetime) -> datetime:
        """``t`` on the report's clock (a race started at 22:30 in Pennsylvania is on the 11th,
        not on UTC's 12th)."""
        return t.astimezone(self.tz or UTC)

    def date_time(self, t: datetime) -> str:
        """A date and time on the race's clock, with its zone: "2021-08-27 00:00 CEST" (the
        clock times of the report are on it too), "2021-08-26 22:00Z" without a race file."""
        if self.tz is None:
            return f"{t.astimezone(UTC):%Y-%m-%d %H:%M}Z"
        local = t.astimezone(self.tz)
        return f"{local:%Y-%m-%d %H:%M} {local.tzname() or local.strftime('%z')}"


def short_duration(seconds: float) -> str:
    """A duration as people say it: '42 s', '23 min', '1 h 40 min'."""
    s = round(abs(seconds))
    if s < 60:
        return f"{s} s"
    minutes = round(s / 60.0)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def lost_text(a: Analysis) -> str:
    """The time the confirmed excursions lost, as a standings cell: '23 min', '23 min + ?',
    'unknown' (an excursion begun before the recording: its loss is not known)."""
    known = short_duration(a.time_lost_s)
    if not a.time_lost_unknown:
        return known
    return "unknown" if a.time_lost_s < 1.0 else f"{known} + ?"


def signed_duration(seconds: float) -> str:
    """A gap: '+1:02:05' behind, '-1:15' ahead."""
    s = round(seconds)
    sign = "+" if s >= 0 else "-"
    s = abs(s)
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    return f"{sign}{h}:{m:02d}:{sec:02d}" if h else f"{sign}{m}:{sec:02d}"


def headline(a: Analysis) -> str:
    """'2 excursions, 1.9 km extra, 23 min lost': the confirmed excursions only (those race
    HQ was told about); moments the runner was only flagged, and came back by themselves, are
    listed but not counted."""
    n, u = len(a.confirmed), a.units
    brief = len(a.excursions) - n
    if n == 0:
        if brief == 0:
            return "No excursions: on the course all the way"
        return (f"No confirmed excursion: on the course all the way ({brief} brief moment"
                f"{'s' if brief != 1 else ''} off the line, back by themselves)")  # fmt: skip
    parts = [f"{n} excursion{'s' if n != 1 else ''}"]
    if a.extra_distance_m >= 50.0:  # (all of it shorter than the course: no "0 m extra")
        parts.append(f"{u.distance(a.extra_distance_m)} extra")
    lost = f"{short_duration(a.time_lost_s)} lost" if a.time_lost_s >= 1.0 else "no time lost"
    if a.time_lost_unknown:  # (an excursion begun before the recording: its loss not known)
        lost = "time lost unknown" if a.time_lost_s < 1.0 else f"{lost} (and unknown)"
    parts.append(lost)
    if a.cut_m >= 50.0:
        rides = sum(1 for e in a.confirmed if e.transport is not None)
        by = f" ({rides} ride{'s' if rides != 1 else ''} in a vehicle)" if rides else ""
        parts.append(f"{u.distance(a.cut_m)} cut{by}")  # (Dark Sky's shuttle: the race's fact)
    return ", ".join(parts)


DOUBTFUL_AFTER_M = 5000.0  # a track that goes on this far after its finish did not finish there


def finish_line(a: Analysis, info: ReportInfo) -> str:
    """'Finished in 10:36:29 (10:36:29Z)' or how far the track got."""
    u = a.units
    if a.finish is not None and a.elapsed_s is not None:
        if a.after_finish_m >= DOUBTFUL_AFTER_M:
            after = u.distance(a.after_finish_m)
            hint = ": give --race for the race's start" if a.starts_at_m is not None else ""
            return (f"The finish read at {info.clock(a.finish.time)} is doubtful: the track "
                    f"goes on {after} after it (a track started mid-race on a lap course cannot "
                    f"tell its lap without the race's start){hint}")  # fmt: skip
        if a.starts_at_m is not None:
            return (f"Reached the finish at {info.clock(a.finish.time)}, "
                    f"{fmt_duration(a.elapsed_s)} after the first fix (the track starts at "
                    f"{u.at(a.starts_at_m)}: give --race for the race time)")  # fmt: skip
        return f"Finished in {fmt_duration(a.elapsed_s)} ({info.clock(a.finish.time)})"
    reached = float(a.progress_m[-1]) if len(a.progress_m) else 0.0
    return (
        f"Did not reach the finish: the track ends at {u.at(reached)} of "
        f"{u.at(a.course.length_m)} ({info.clock(a.track.end)})"
    )


def cutoff_line(sp: Splits, info: ReportInfo, brief: bool = False) -> str | None:
    """'Missed a cut-off: Crystal Lake, reached 23 min after it (11:00)'; ``brief`` (one line
    of a picture): 'Missed 5 cut-offs, the last: Finish (+34 min)'. None when none was missed
    (or the race file gives none)."""
    missed = sp.missed
    if not missed:
        return None
    n = len(missed)
    if brief:
        last = missed[-1]
        lead = "Missed a cut-off:" if n == 1 else f"Missed {n} cut-offs, the last:"
        return f"{lead} {last.label} (+{short_duration(last.late_s or 0.0)})"
    said = [f"{r.label}, reached {short_duration(r.late_s or 0.0)} after it "
            f"({info.clock(r.cutoff_ts or 0.0, seconds=False)})" for r in missed]  # fmt: skip
    return f"Missed {'a cut-off' if n == 1 else f'{n} cut-offs'}: {'; '.join(said)}"


def cutoff_text(r: Split, info: ReportInfo) -> str:
    """A splits row's cut-off: '11:00', '11:00 (+23 min)' when reached after it, '-'."""
    if r.cutoff_ts is None:
        return "-"
    said = info.clock(r.cutoff_ts, seconds=False)
    if r.skipped:  # (its time is the rejoin's)
        return f"{said} (skipped)"
    return f"{said} (+{short_duration(r.late_s or 0.0)})" if r.missed_cutoff else said


def elapsed_at(a: Analysis, t: datetime) -> str:
    return fmt_duration(t.timestamp() - a.start_ts)


def _elapsed_words(a: Analysis, t: datetime) -> str:
    """ "race time 1:29:40"; "1:29:40 after the first fix" when the race's start is not known
    and the recording began mid-race (it is not a race time)."""
    if a.starts_at_m is not None:
        return f"{elapsed_at(a, t)} after the first fix"
    return f"race time {elapsed_at(a, t)}"


def excursion_title(e: Excursion, u: Units) -> str:
    """'Off course at km 22.6'; 'Off course before first on the line' (a recording begun
    mid-race off it)."""
    kind = KIND_NAMES.get(e.kind, e.kind).capitalize()
    if e.from_nowhere:
        return f"{kind} before first on the line"
    return f"{kind} at {u.at(e.left.course_m)}"


def numbers(confirmed: Iterable[bool]) -> list[int]:
    """Each excursion's number in its own list: the confirmed ones 1, 2, 3..., and the brief
    moments under them 1, 2, 3... of their own (Dark Sky's 5 confirmed ones read 4, 10, 16,
    17 and 18 under a headline of "5 excursions").

    >>> numbers([False, True, False, True])
    [1, 1, 2, 2]
    """
    seen = {True: 0, False: 0}
    out = []
    for c in confirmed:
        seen[c] += 1
        out.append(seen[c])
    return out


def brief_heading(n: int) -> str:
    """What heads the brief moments, under the confirmed excursions (every report)."""
    return f"{n} brief moment{'s' if n != 1 else ''} off the line, back by themselves (not counted)"


def brief_line(e: Excursion, info: ReportInfo, u: Units) -> str:
    """One brief moment in a line: 'Off course at km 10.2: up to 69 m off, Fri 00:50Z'."""
    return (f"{excursion_title(e, u)}: up to {u.off(e.max_offset_m)} off, "
            f"{info.clock(e.left.time, seconds=False)}")  # fmt: skip


def excursion_sentences(a: Analysis, e: Excursion, info: ReportInfo) -> list[str]:
    """Where and when it left, how far, when it rejoined, what it cost, when the alarm fired."""
    left, u = e.left, a.units
    where = (
        "Off the course when the recording began"
        if e.from_nowhere
        else f"Left the course at {u.at(left.course_m)}"
    )
    out = [
        f"{where}, {info.clock(left.time)} ({_elapsed_words(a, left.time)}), and went "
        f"up to {u.off(e.max_offset_m)} from it."
    ]
    if e.rejoined is not None:
        took = e.rejoined.time.timestamp() - left.time.timestamp()
        came = "Reached the course" if e.from_nowhere else "Rejoined"
        out.append(
            f"{came} at {u.at(e.rejoined.course_m)}, {info.clock(e.rejoined.time)}, "
            f"{short_duration(took)} later."
        )
    else:
        out.append("Never rejoined before the track ends.")
    if e.transport is not None:
        since, until, mps = e.transport
        out.append(f"Moved faster than anyone runs from {info.clock(since.time)} to "
                   f"{info.clock(until.time)} (up to {u.speed(mps)}: a vehicle?); what it "
                   "moved is not counted as run.")  # fmt: skip
    gaps = np.diff(a.track.time_s[e.first_fix : e.last_fix + 1])
    out.append(_cost(e, u, sparse=len(gaps) > 0 and float(np.median(gaps)) > SPARSE_S))
    out.append(_told(e, info))
    return out


def _told(e: Excursion, info: ReportInfo) -> str:
    """Who was told, and when: the runner (flagged), race HQ (confirmed)."""
    left_ts = e.left.time.timestamp()
    since = "the recording began" if e.from_nowhere else "leaving"
    said = []
    if e.flagged is not None:
        after = short_duration(e.flagged.time.timestamp() - left_ts)
        said.append(f"The runner was flagged at {info.clock(e.flagged.time)}, {after} after "
                    f"{since}")  # fmt: skip
    if e.alerted is not None:
        after = short_duration(e.alerted.time.timestamp() - left_ts)
        said.append(f"race HQ was alerted at {info.clock(e.alerted.time)}, {after} after "
                    f"{since}")  # fmt: skip
    elif e.flagged is not None and e.rejoined is None:
        said.append("race HQ was not alerted (not confirmed before the track ends)")
    elif e.flagged is not None:
        said.append("race HQ was not alerted (not confirmed: the runner came back)")
    if not said:
        return "Nobody was told live (found in hindsight)."
    text = "; ".join(said) + "."
    return text[0].upper() + text[1:]


def _skipped_m(e: Excursion) -> float:
    """The course between where the runner left it and where they came back."""
    if e.rejoined is None or e.rejoined.course_m is None or e.left.course_m is None:
        return 0.0
    return max(e.rejoined.course_m - e.left.course_m, 0.0)


def _cost(e: Excursion, u: Units, sparse: bool = True) -> str:
    """What an excursion cost; ``sparse``: its fixes minutes apart (a watch's every few
    seconds, Eiger's, read "too far apart to tell a cut from them" too)."""
    if e.rejoined is None:
        return "Cost: unknown (no rejoin)."
    if e.from_nowhere:
        return "Cost: unknown (where they left the course is not in the recording)."
    note = ""
    if e.extra_distance_m < 0 and e.kind != "shortcut":  # (no cut shown)
        dist = f"{u.distance(e.extra_distance_m)} shorter than the course"
        if sparse:
            note = " (their straight lines skip the course's bends: too far apart to tell a cut)"
    elif e.extra_distance_m < 0:
        dist = f"{u.distance(e.extra_distance_m)} of course cut"
        skipped = _skipped_m(e)
        if skipped > -e.extra_distance_m + 50.0:  # (race HQ read the course skipped, live:
            # Dark Sky's shuttle 15.62 mi, the report 10.7 mi "cut" with nothing between)
            dist = (f"{u.distance(skipped)} of course skipped, {u.distance(e.extra_distance_m)} "
                    "shorter than running it")  # fmt: skip
    else:
        dist = f"{u.distance(e.extra_distance_m)} extra"
    if e.alerted is None:  # a brief moment off the line: shown, not counted
        return f"Not counted (not confirmed): {dist} by the fixes{note}."
    if e.time_lost_s is None:
        lost = "time lost unknown"
    elif e.time_lost_s < 1.0:
        lost = "no time lost"
    else:
        lost = f"{short_duration(e.time_lost_s)} lost"
    if note:
        return f"Cost: {dist} by the fixes{note}, {lost}."
    return f"Cost: {dist}, {lost}."
