"""A race file's stations and history, turned into a :class:`~coursewatch.fieldeta.FieldModel`.

The stations are the race's station visits along its course (the finish added when the race
file does not name it, as everywhere else); their effort distances come from the course's
profile; each history edition's split table is read with the stations' names and aliases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from coursewatch.course import FINISH_NAME, Course
from coursewatch.effort import CourseProfile
from coursewatch.eta import EtaConfig, EtaModel
from coursewatch.fieldeta import Edition, FieldConfig, FieldModel
from coursewatch.geo import FloatArray
from coursewatch.race import HistoryEdition, Race, RaceStation
from coursewatch.race_course import station_passes
from coursewatch.splits import SplitsError, SplitTable, read_splits


@dataclass
class RaceField:
    """The stations a split table's columns are read against, and the model over them."""

    stations: list[RaceStation]
    model: FieldModel
    notes: list[str] = field(default_factory=list)  # what the history files said


def race_stations(race: Race, course: Course) -> list[RaceStation]:
    """The race's station visits in course order, with their names' aliases, finish last."""
    by_key = {(s.name, s.pass_number): s for s in race.stations}
    out = []
    for p in station_passes(race, course):
        st = by_key.get((p.name, p.pass_number))
        aliases = st.aliases if st is not None else ()
        if st is None and p.name == FINISH_NAME:
            aliases = ("Arrival", "Arrivée", "Ziel", "Llegada", "Arrivo")
        out.append(RaceStation(p.name, p.distance_m, pass_number=p.pass_number, aliases=aliases))
    return out


def race_field(
    race: Race,
    course: Course,
    history: Sequence[HistoryEdition] | None = None,
    config: FieldConfig | None = None,
) -> RaceField:
    """The field model of a race; ``history``: the race file's when None (``()``: none)."""
    stations = race_stations(race, course)
    station_m = np.array([s.distance_m or 0.0 for s in stations])
    profile = CourseProfile(course, EtaConfig().bin_m, EtaConfig().max_bins)
    effort_m = np.array([profile.effort_at(s) for s in station_m])
    names = [s.name for s in stations]
    editions, notes = [], []
    for h in race.history if history is None else history:
        table = read_splits(h.results_path, stations)
        notes += [f"{h.edition}: {line}" for line in table.refused + table.notes]
        editions.append(edition(h.edition, table, h.changed, names))
    own = OwnModel(EtaModel(course), station_m)
    model = FieldModel(effort_m, editions, config, own)
    notes += model.describe(names)
    return RaceField(stations, model, notes)


def edition(name: str, table: SplitTable, changed: Sequence[str], names: list[str]) -> Edition:
    """An edition's splits, its changed legs named by station (SplitsError for a name that
    is not a station of the race)."""
    unknown = [c for c in changed if c not in names]
    if unknown:
        raise SplitsError(f"{unknown[0]!r} under changed is not a station of the race: use a "
                          "name exactly as in the race file", name)  # fmt: skip
    return Edition(name, table.elapsed_s, tuple(names.index(c) for c in changed))


def history_from_paths(paths: Sequence[Path]) -> list[HistoryEdition]:
    """``--history`` files: each one an edition named by its file name, route unchanged."""
    return [HistoryEdition(Path(p).stem, Path(p)) for p in paths]


class OwnModel:
    """The runner's own model over their splits: :class:`coursewatch.eta.EtaModel` fed with
    each station pass as a fix (``station_m``: course distance of each station)."""

    def __init__(self, model: EtaModel, station_m: FloatArray) -> None:
        self.model = model
        self.station_m = np.asarray(station_m, dtype=np.float64)

    def __call__(self, elapsed_s: FloatArray) -> FloatArray:
        m = self.model
        state = m.update(m.new_state(0.0), 0.0, 0.0)
        for e, s in zip(elapsed_s.tolist(), self.station_m.tolist(), strict=False):
            if math.isfinite(e):
                state = m.update(state, e, s)
        return m.predict(state, self.station_m)
