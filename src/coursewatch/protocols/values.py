"""Payload values as error messages show them: short, and never by ``repr()`` of the input.

A tracker (or an attacker) can send anything a JSON reader accepts: a 5,000-character string, a
list nested 1,000 deep, an integer of 309 digits. ``repr()`` of those makes a message as long as
the body, recurses until Python gives up, or raises (integers over 4,300 digits), so every message
about a payload value goes through :func:`describe`.

:class:`LongNumber` is what the JSON reader (:mod:`coursewatch.protocols.jsonbody`) makes of an
integer literal too long to be a coordinate, a time or an accuracy: the per-fix checks refuse it
for that fix alone, and it never becomes a Python int.

>>> describe(10**308), describe(LongNumber(400)), describe("x" * 5000)
('a 309-digit number', 'a 400-digit number', "5,000 characters of text starting 'xxxxxxxxxxxxxxxx'")
>>> describe([[[]]]), describe({"a": 1}), describe(None), describe(float("nan"))
('a list', 'an object', 'null', 'nan')
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Numeric text and number literals longer than this are refused before any conversion: the
# longest sensible value (an epoch in ms with a fraction, or 17 significant digits and an
# exponent) has about 25.
MAX_NUMBER_CHARS = 40
# Text shown whole in a message up to this length; longer text is cut.
_SHOWN_CHARS = 40
_CUT_CHARS = 16
_LOG10_2 = math.log10(2)


@dataclass(frozen=True, slots=True)
class LongNumber:
    """A JSON number literal of ``digits`` digits, too long to be read as a number."""

    digits: int

    @classmethod
    def of(cls, literal: str) -> LongNumber:
        return cls(sum(c.isdigit() for c in literal))


def describe(value: object) -> str:
    """A short, safe description of a payload value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _describe_int(value)
    if isinstance(value, float):
        return float.__repr__(value)
    if isinstance(value, str):
        return _describe_text(value)
    if isinstance(value, LongNumber):
        return f"a {value.digits}-digit number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__} value"


def _describe_int(value: int) -> str:
    bits = value.bit_length()
    if bits <= 64:
        return int.__repr__(value)
    # the digit count without str(), which refuses integers over 4,300 digits
    digits = int(bits * _LOG10_2) + 1
    if 10 ** (digits - 1) > abs(value):
        digits -= 1
    return f"a {digits}-digit number"


def _describe_text(value: str) -> str:
    if len(value) <= _SHOWN_CHARS:
        return str.__repr__(value)
    start = str.__repr__(value[:_CUT_CHARS])
    return f"{len(value):,} characters of text starting {start}"


__all__ = ["MAX_NUMBER_CHARS", "LongNumber", "describe"]
