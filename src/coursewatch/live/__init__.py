"""Race HQ as a service: :class:`Server` and what it hands out.

The web layer (:mod:`coursewatch.web`) talks to :class:`Server`'s methods only; the modules
here are its rooms::

    server     Server: races, runners, fixes, alerts, the ticker (the only door)
    pipeline   the ingest steps in order: decode -> filter -> match -> detect -> store -> publish
    registry   the races in memory, and which runner each device belongs to
    runner     one runner live: the engine, rewound for late fixes
    clock      what happens with time: the clock-driven detectors and the ETAs
    narrate    every sentence a person reads
    views      what the API and the event stream say, as JSON
    webhooks   alerts POSTed to the race's URLs
"""

from coursewatch.live.outside import NotFound
from coursewatch.live.pipeline import Clock
from coursewatch.live.racefiles import course_only_race, read_race_files
from coursewatch.live.registry import LiveRace
from coursewatch.live.report import IngestReport
from coursewatch.live.runner import LiveRunner
from coursewatch.live.server import Server

__all__ = [
    "Clock",
    "IngestReport",
    "LiveRace",
    "LiveRunner",
    "NotFound",
    "Server",
    "course_only_race",
    "read_race_files",
]
