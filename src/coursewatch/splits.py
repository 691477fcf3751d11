"""Split tables: elapsed times at each station, one row per runner (results, live snapshots).

A split table is a CSV file with a header row. Columns that name a station of the race (its
name, or one of its ``aliases`` from the race file; case, accents, spaces and punctuation do
not matter, so ``St Gervais`` is ``St-Gervais``) hold the elapsed time from the runner's start
as ``H:MM:SS`` or ``H:MM`` (hours may exceed 24); a blank cell is a station not reached, or a
timing mat that missed the runner. A later visit of the same station is ``Name #2``. A ``bib``
column names the runner (any unique text); without one, rows are numbered (a history's
results), unless the table is of runners to predict (``bibs=True``): then it is refused, since
numbers would put every prediction on the wrong runner. Other columns are
ignored; one that holds times but names no station is reported, so a missing alias is seen.

Results files come from many places: UTF-8 (with or without a byte-order mark) is read as
such, anything else as Latin-1; line ends may be LF, CRLF or a lone CR.

A bad row is refused with one line saying what, where and what to do; the others are kept.

>>> from coursewatch.race import RaceStation
>>> stations = (RaceStation("St-Gervais", 21_000.0), RaceStation("Arrivée", 171_500.0,
...             aliases=("Arrivee",)))
>>> text = "bib,St Gervais,Arrivee,time\\n7,1:45:05,,\\n8,x,20:00:00,\\n"
>>> t = parse_splits(text, "s.csv", stations)
>>> t.bibs, t.elapsed_s.tolist()
(['7'], [[6305.0, nan]])
>>> t.refused[0].split(": ")[:2]
['s.csv line 3 (bib 8)', "'x' under 'St Gervais' is not an elapsed time H:MM:SS"]
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from coursewatch.errors import InputError
from coursewatch.formats.csvtext import separator_hint, unclosed_quote_line
from coursewatch.geo import FloatArray
from coursewatch.race import RaceStation, parse_elapsed_s

MAX_BYTES = 50_000_000  # a results file of 100,000 runners is a few MB


class SplitsError(InputError):
    """A split table that cannot be read at all (no header, no station column, not a file)."""


@dataclass
class SplitTable:
    """Runners' elapsed times (seconds; NaN = blank) at the race's stations, in course order."""

    bibs: list[str]
    elapsed_s: FloatArray  # shape (runners, stations)
    lines: list[int]  # the file line of each runner's row
    refused: list[str] = field(default_factory=list)  # one line per refused row
    notes: list[str] = field(default_factory=list)  # columns ignored that look like stations


def key(name: str) -> str:
    """What a station name is compared by: lower case, no accents, letters, digits and ``#``."""
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9#]", "", ascii_.lower())


def station_keys(stations: Sequence[RaceStation]) -> dict[str, int]:
    """Every name a column may use for a station -> the station's index."""
    keys: dict[str, int] = {}
    for i, s in enumerate(stations):
        names = [column_name(s.name, s.pass_number), *s.aliases]
        for name in names:
            keys.setdefault(key(name), i)
    return keys


def column_name(name: str, pass_number: int) -> str:
    """A station's column in a split table: its name, ``Name #2`` for a later visit."""
    return name if pass_number == 1 else f"{name} #{pass_number}"


def read_splits(
    path: str | Path, stations: Sequence[RaceStation], bibs: bool = False
) -> SplitTable:
    """Read a split table from a file; see :func:`parse_splits`."""
    return parse_splits(read_text(path), Path(path).name, stations, bibs)


def read_text(path: str | Path) -> str:
    """A split table file's text: UTF-8 (a byte-order mark dropped), else Latin-1."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SplitsError(
            f"cannot read the split table ({exc.strerror}): check the path", path
        ) from None
    if len(data) > MAX_BYTES:
        raise SplitsError(f"larger than {MAX_BYTES // 1_000_000} MB: is it a split table?", path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # older results exports; every byte is a character


def parse_splits(
    text: str, name: str, stations: Sequence[RaceStation], bibs: bool = False
) -> SplitTable:
    """A split table's text (``name`` is used in messages); ``bibs``: it must have a ``bib``
    column (runners to predict)."""
    rows, lines = _rows(text, name)
    if not rows:
        raise SplitsError("empty: expected a header row with a bib column and station columns",
                          name)  # fmt: skip
    header = [h.strip() for h in rows[0]]
    keys = station_keys(stations)
    columns = {j: keys[key(h)] for j, h in enumerate(header) if key(h) in keys}
    if not columns:
        names = ", ".join(s.name for s in stations[:4])
        raise SplitsError(
            f"no column names a station of the race (header: {', '.join(header[:12])}); name "
            f"columns after the stations ({names}, ...) or give the stations aliases"
            + separator_hint(text),
            name,
        )
    _one_column_a_station(header, columns, stations, name)
    bib_col = next((j for j, h in enumerate(header) if key(h) == "bib"), None)
    if bib_col is None and bibs:
        raise SplitsError(
            f"no 'bib' column (header: {', '.join(header[:6])}, ...): name the column of the "
            "runners' bibs 'bib' (rows numbered instead would put every prediction on the "
            "wrong runner)" + separator_hint(text),
            name,
        )
    labels = [st.name if st.pass_number == 1 else f"{st.name} #{st.pass_number}"
              for st in stations]  # fmt: skip
    table = SplitTable([], np.empty((0, len(stations))), [])
    table.notes = _ignored_time_columns(header, rows[1:], {*columns, bib_col})
    seen: dict[str, int] = {}
    values: list[list[float]] = []
    for n, (line, row) in enumerate(zip(lines[1:], rows[1:], strict=True), start=1):
        bib = row[bib_col].strip() if bib_col is not None and bib_col < len(row) else ""
        if bib_col is None:
            bib = str(n)
        where = f"{name} line {line}" + (f" (bib {bib})" if bib else "")
        problem = _row_problem(bib, seen, header, columns, row, labels)
        if len(row) > len(header) and any(c.strip() for c in row[len(header) :]):
            problem = (f"{len(row)} cells, the header has {len(header)}: a comma inside a "
                       "cell (a name)? quote the cell, or take the extra one out")  # fmt: skip
        if isinstance(problem, str):
            table.refused.append(f"{where}: {problem}")
            continue
        seen[bib] = line
        table.bibs.append(bib)
        table.lines.append(line)
        values.append(problem)
    if values:
        table.elapsed_s = np.array(values, dtype=np.float64)
    return table


def _one_column_a_station(
    header: list[str], columns: dict[int, int], stations: Sequence[RaceStation], name: str
) -> None:
    """SplitsError when two columns name one station (every row would be refused)."""
    first: dict[int, int] = {}
    for j, i in columns.items():
        if i in first:
            st = stations[i]
            raise SplitsError(
                f"columns {header[first[i]]!r} and {header[j]!r} both name the station "
                f"{st.name!r} (pass {st.pass_number}): keep one of them in its aliases (an "
                "arrival and a departure? the arrival), or name each pass of a station passed "
                "twice with 'pass:' in the race file",
                name,
            )
        first[i] = j


def _rows(text: str, name: str) -> tuple[list[list[str]], list[int]]:
    """The non-blank rows and the file line each starts on."""
    opened = unclosed_quote_line(text)
    if opened is not None:
        raise SplitsError(
            f"line {opened}: a quote opens here and is never closed (every line "
            "after it would be read as one cell): close it or take it out",
            name,
        )
    reader = csv.reader(io.StringIO(text, newline=None))
    rows: list[list[str]] = []
    lines: list[int] = []
    start = 1
    try:
        for row in reader:
            if any(c.strip() for c in row):
                rows.append(row)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise SplitsError(
            f"line {reader.line_num}: not CSV ({exc}); a quote opened and never closed?", name
        ) from None
    return rows, lines


def _row_problem(
    bib: str,
    seen: dict[str, int],
    header: list[str],
    columns: dict[int, int],
    row: list[str],
    labels: Sequence[str],
) -> list[float] | str:
    """The row's elapsed times per station (``labels``: their names), or why it is refused."""
    if not bib:
        return "no bib: give every runner a bib (any text unique in the file)"
    if bib in seen:
        return f"bib {bib} is already on line {seen[bib]}: bibs must be unique"
    out = [math.nan] * len(labels)
    for j, i in columns.items():
        cell = row[j].strip() if j < len(row) else ""
        if not cell:
            continue
        try:
            value = parse_elapsed_s(cell)
        except ValueError:
            return (f"{cell[:20]!r} under {header[j]!r} is not an elapsed time H:MM:SS: fix it "
                    "or leave the cell blank")  # fmt: skip
        out[i] = value
    times = [(v, i) for i, v in enumerate(out) if not math.isnan(v)]
    for (v0, i0), (v1, i1) in itertools.pairwise(times):
        if v1 <= v0:
            return (
                f"the time at {labels[i1]!r} ({hms(v1)}) is not after the one at "
                f"{labels[i0]!r} ({hms(v0)}): fix the times or blank the wrong one"
            )
    return out


NOTED = 20  # columns with times but no station said, at most


def _ignored_time_columns(
    header: list[str], rows: list[list[str]], used: set[int | None]
) -> list[str]:
    """Columns that mostly hold elapsed times but name no station (a missing alias?): the
    first ``NOTED`` of them, then how many more."""
    notes: list[str] = []
    for j, h in enumerate(header):
        if j in used:
            continue
        if len(notes) == NOTED:  # (150,000 of them made a 24 MB answer)
            more = sum(1 for k in range(j, len(header)) if k not in used)
            return [*notes, f"{more} more columns after these: not looked at"]
        cells = [r[j].strip() for r in rows[:200] if j < len(r) and r[j].strip()]
        timed = sum(1 for c in cells if _is_elapsed(c))
        if cells and timed >= 0.8 * len(cells):
            notes.append(f"column {h!r} holds times but names no station of the race: ignored "
                         "(a station's times? add the column's name to that station's aliases "
                         "in the race file)")  # fmt: skip
    return notes


def _is_elapsed(text: str) -> bool:
    try:
        parse_elapsed_s(text)
    except ValueError:
        return False
    return True


def hms(seconds: float) -> str:
    """Seconds as H:MM:SS (hours may exceed 24)."""
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def splits_csv(table: Mapping[str, Any]) -> str:
    """A split table (``live.results.split_table``'s JSON) as CSV text, as
    :func:`parse_splits` reads it: ``bib,name,status`` then a column per station, elapsed
    ``H:MM:SS``, blank: not passed.

    >>> print(splits_csv({"stations": [{"column": "Aid 1"}, {"column": "Finish"}], "runners": [
    ...     {"bib": "7", "name": "Ann", "status": "finished", "elapsed_s": [3600.0, 93784.4]},
    ...     {"bib": "8", "name": "", "status": "dnf", "elapsed_s": [4000.0, None]},
    ...     {"bib": "9", "name": "=Bo", "status": "finished", "elapsed_s": [3030.0, 3030.0]}]}),
    ...     end="")
    bib,name,status,Aid 1,Finish
    7,Ann,finished,1:00:00,26:03:04
    8,,dnf,1:06:40,
    9,'=Bo,finished,0:50:30,0:50:31
    """
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["bib", "name", "status", *(s["column"] for s in table["stations"])])
    for r in table["runners"]:
        cells, last = [], -math.inf
        for t in r["elapsed_s"]:
            if t is not None:  # a mat and its tent in one second: each a second after the last
                last = max(float(round(t)), last + 1.0)
            cells.append("" if t is None else hms(last))
        w.writerow([r["bib"], _text_cell(r["name"]), r["status"], *cells])
    return out.getvalue()


def _text_cell(text: str) -> str:
    """A name as a spreadsheet shows it, never a formula ("=1+1" is text)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
