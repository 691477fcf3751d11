"""coursewatch: race tracking for trail ultramarathons.

Follows every runner along the official course from GPS fixes, catches wrong turns within
metres, and explains after the race what happened and what it cost.
"""

from __future__ import annotations

__version__ = "0.1.0"

from coursewatch import jitcache

jitcache.configure()

from coursewatch.analysis import Analysis, Excursion, analyze  # noqa: E402
from coursewatch.course import Course, Station  # noqa: E402
from coursewatch.engine.config import EngineConfig  # noqa: E402
from coursewatch.engine.events import Event, Place  # noqa: E402
from coursewatch.engine.matcher import LiveMatcher, match_fixes  # noqa: E402
from coursewatch.errors import CoursewatchError  # noqa: E402
from coursewatch.formats.load import load_course, load_track  # noqa: E402
from coursewatch.track import Track  # noqa: E402

__all__ = [
    "Analysis",
    "Course",
    "CoursewatchError",
    "EngineConfig",
    "Event",
    "Excursion",
    "LiveMatcher",
    "Place",
    "Station",
    "Track",
    "__version__",
    "analyze",
    "load_course",
    "load_track",
    "match_fixes",
]
