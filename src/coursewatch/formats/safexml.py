"""Safe XML parsing and timestamp reading shared by the XML readers (GPX, KML, TCX).

Course files come from anyone (race websites, e-mail, uploads to the live server), so XML is
parsed with defusedxml: entity expansion ("billion laughs") and external entities are refused
before they can use memory or reach the network. Timestamps in these formats are ISO 8601.

>>> parse_time_s("2024-07-19T13:27:15Z")
1721395635.0
>>> parse_time_s("not a time")
nan
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from coursewatch.errors import FileFormatError


def parse_xml(data: bytes, what: str) -> Element:
    """Parse ``data`` as XML, refusing entity tricks; ``what`` names the format in messages."""
    try:
        return safe_et.fromstring(data)  # type: ignore[no-any-return]
    except DefusedXmlException as exc:
        raise FileFormatError(
            f"{what} file refused: it declares XML entities or a DTD ({type(exc).__name__}), "
            "which course and track files never need and which can exhaust memory; "
            "re-export the file from the tool that made it"
        ) from None
    except ParseError as exc:
        raise FileFormatError(
            f"{what} file is not well-formed XML ({exc}); it may be truncated or corrupt: "
            "download or export it again"
        ) from None
    except LookupError as exc:  # <?xml encoding="..."?> names an encoding Python lacks
        raise FileFormatError(
            f"{what} file declares an encoding that cannot be read ({exc}): save it as UTF-8"
        ) from None


def namespace_of(root: Element) -> str:
    """The ``{uri}`` prefix of the root tag, or "" when the document has no namespace."""
    tag = root.tag
    return tag[: tag.index("}") + 1] if tag.startswith("{") else ""


def local_name(tag: str) -> str:
    """``{uri}name`` -> ``name``."""
    return tag.rsplit("}", 1)[-1]


def parse_time_s(text: str | None) -> float:
    """ISO 8601 text -> epoch seconds UTC; NaN when missing or unreadable.

    A time without a zone is taken as UTC, as GPX and TCX specify.
    """
    if not text:
        return math.nan
    text = text.strip()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return math.nan
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def parse_float(text: str | None) -> float:
    """Decimal text -> float; NaN when missing or unreadable."""
    if text is None:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan
