"""What one request's payload became: the ingest report, the JSON body of the answer."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from coursewatch.incidents import ALERT, FLAG
from coursewatch.protocols import FixProblem
from coursewatch.store import Incident

DROP_HINTS = {
    "unknown_device": "register the device id on a runner (POST /api/races/{race}/runners)",
    "unknown_bib": "register the runner first (POST /api/races/{race}/runners)",
    "no_position": "the tracker had no GPS fix (0, 0): nothing to do",
    "before_start": "fixes before the runner's start are not used",
    "future": "the device clock is ahead of the server's: check the phone's time setting",
}


@dataclass
class IngestReport:
    """What happened to one request's fixes; this is the JSON body of the response."""

    accepted: int = 0
    duplicates: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    problems: list[FixProblem] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "dropped": dict(self.dropped),
            "errors": [
                {"index": p.index, "where": p.where, "message": p.message, "hint": p.hint}
                for p in self.problems
            ],
            "alerts": [i.id for i in self.incidents if i.level == ALERT],
            "flags": [i.id for i in self.incidents if i.level == FLAG],  # (not crews' news)
        }
