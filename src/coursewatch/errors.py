"""The errors coursewatch raises, so callers catch one base class and users read one line.

::

    CoursewatchError                 base; the CLI prints ``error: <message>`` and exits 1
    ├── InputError                   a file or payload we cannot use
    │   ├── FileFormatError          unknown, corrupt or truncated file; XML bombs
    │   ├── FileTooLargeError        larger than the ``max_file_bytes`` setting
    │   ├── EmptyDataError           no usable points (empty track, course of one point)
    │   ├── CourseGeometryError      a course line no race follows (a stray point, a jump)
    │   └── SplitsError              a split table (results CSV) we cannot read at all
    ├── RaceFileError                a race file (YAML/TOML) that does not describe a race
    └── SettingsError                a setting with a value we cannot use

Every message says what is wrong, where, and what to do about it.
"""

from __future__ import annotations

from pathlib import Path


class CoursewatchError(Exception):
    """Base of every error coursewatch raises on purpose."""


class InputError(CoursewatchError):
    """Input we cannot use; the message names the file (or payload) and what to do."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.detail = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class FileFormatError(InputError):
    """The file is not in a format we read, or is corrupt or truncated."""


class FileTooLargeError(InputError):
    """The file is larger than the configured limit."""


class EmptyDataError(InputError):
    """The file parsed but holds no usable points."""


class CourseGeometryError(InputError):
    """A course whose line jumps or spans more than a race can; names the point to fix."""


class RaceFileError(InputError):
    """A race file that does not describe a race."""


class SettingsError(CoursewatchError):
    """A setting with an unusable value."""
