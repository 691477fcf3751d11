"""Files -> points. One module per format; :mod:`.detect` sniffs the content and dispatches.

Every reader returns :class:`coursewatch.points.RawPoints`: the points in file order, with NaN
where a value is missing, plus named waypoints. :mod:`.load` is the only place a file (a path
or bytes) becomes a :class:`coursewatch.course.Course` or :class:`coursewatch.track.Track`.
"""

from coursewatch.points import RawPoints, Waypoint

__all__ = ["RawPoints", "Waypoint"]
