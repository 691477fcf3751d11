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
from xml.parsers import expat

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from coursewatch.errors import FileFormatError


def parse_xml(data: bytes, what: str, answer: str = "") -> Element:
    """Parse ``data`` as XML, refusing entity tricks; ``what`` names the format in messages.
    ``answer``: what becomes of a broken one that is a service's answer, not a file."""
    try:
        return safe_et.fromstring(data)  # type: ignore[no-any-return]
    except DefusedXmlException as exc:
        raise FileFormatError(
            f"{what} answer was refused: it declares XML entities or a DTD "
            f"({type(exc).__name__}), which can exhaust memory: {answer}"
            if answer
            else f"{what} file refused: it declares XML entities or a DTD "
            f"({type(exc).__name__}), which course and track files never need and which can "
            "exhaust memory; re-export the file from the tool that made it"
        ) from None
    except ParseError as exc:
        raise FileFormatError(
            f"{what} answer is not well-formed XML ({exc}): {answer}"
            if answer
            else f"{what} file is not well-formed XML ({exc}); it may be truncated or corrupt: "
            "download or export it again"
        ) from None
    except LookupError as exc:  # <?xml encoding="..."?> names an encoding Python lacks
        raise FileFormatError(
            f"{what} answer declares an encoding that cannot be read ({exc}): {answer}"
            if answer
            else f"{what} file declares an encoding that cannot be read ({exc}): save it as UTF-8"
        ) from None


TRUNCATED = "the file ends mid-way (a recording cut short?): read up to its last complete point"


# what expat says of a file that stops mid-way: the document, a tag, a character unfinished
_CUT = {expat.errors.codes[e] for e in (expat.errors.XML_ERROR_NO_ELEMENTS,
        expat.errors.XML_ERROR_UNCLOSED_TOKEN, expat.errors.XML_ERROR_PARTIAL_CHAR,
        expat.errors.XML_ERROR_UNCLOSED_CDATA_SECTION)}  # fmt: skip


def mended_xml(data: bytes) -> bytes | None:
    """A recording cut short (a watch that died while writing: its points before the cut are
    the runner's race, and were refused whole): ``data`` up to its last element that closed,
    with the tags open then closed, when the parse fails at its very end; None otherwise (an
    error earlier, a DTD). The result is parsed as any file is (:func:`parse_xml`)."""
    parser = expat.ParserCreate()
    stack: list[str] = []
    last: tuple[int, tuple[str, ...]] | None = None

    def start(name: str, _attrs: object) -> None:
        stack.append(name)

    def end(_name: str) -> None:
        nonlocal last
        stack.pop()
        last = (parser.CurrentByteIndex, tuple(stack))

    def refuse(*_args: object) -> None:
        raise ValueError("a DTD")

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.StartDoctypeDeclHandler = refuse
    try:
        parser.Parse(data, True)
    except ValueError:
        return None
    except expat.ExpatError as exc:
        if exc.code not in _CUT or last is None or not last[1]:
            return None  # an error of its own (a mismatched tag), not a cut
        at, still_open = last
        close = data.find(b">", at)
        if close < 0:
            return None
        return data[: close + 1] + "".join(f"</{n}>" for n in reversed(still_open)).encode()
    return None


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
