"""coursewatch: race tracking for trail ultramarathons.

Follows every runner along the official course from GPS fixes, catches wrong turns within
metres, and explains after the race what happened and what it cost.
"""

from __future__ import annotations

__version__ = "0.1.0"

from coursewatch import jitcache

jitcache.configure()

from coursewatch.course import Course, Station, load_course
from coursewatch.engine.matcher import EngineConfig, Event, LiveMatcher, Place, match_fixes
from coursewatch.errors import CoursewatchError
from coursewatch.track import Track, load_track

__all__ = [
    "Course",
    "CoursewatchError",
    "EngineConfig",
    "Event",
    "LiveMatcher",
    "Place",
    "Station",
    "Track",
    "__version__",
    "load_course",
    "load_track",
    "match_fixes",
]
