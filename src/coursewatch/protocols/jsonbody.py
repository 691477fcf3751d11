"""JSON request bodies read with limits, so that no body can crash what reads it.

* Nesting deeper than :data:`MAX_DEPTH` refuses the body as a whole (no tracker nests more than
  four deep): nothing later recurses into a 1,000-deep list.
* An integer literal longer than :data:`MAX_NUMBER_CHARS` becomes a :class:`LongNumber`, never a
  Python int: the per-fix checks refuse it for its fix alone, and the rest of a batch is kept.

orjson reads a body first (several times faster than :mod:`json` on a big batch). What it
refuses (integers of 309 digits and more, ``NaN``, UTF-16, nesting over 1,024) is read again by
:mod:`json` with a hook on integer literals, whose verdict and error message count.

>>> read_json(b'{"fixes": [{"lat": 45.9, "time": ' + b"9" * 309 + b"}]}")
{'fixes': [{'lat': 45.9, 'time': LongNumber(digits=309)}]}
>>> read_json(b"[" * 40 + b"]" * 40)
Traceback (most recent call last):
...
coursewatch.protocols.jsonbody.JsonError: the body is nested deeper than 32 levels
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import chain, compress, repeat
from operator import is_
from typing import Any

import orjson

from coursewatch.protocols import PayloadError
from coursewatch.protocols.values import MAX_NUMBER_CHARS, LongNumber

MAX_DEPTH = 32
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_CONTAINERS = frozenset({dict, list})


class JsonError(PayloadError):
    """A body that is not JSON, or not within the limits; ``where`` and ``hint`` for the API."""

    def __init__(self, message: str, where: str = "body", hint: str = "") -> None:
        super().__init__(message)
        self.where = where
        self.hint = hint or "check the JSON syntax (a validator helps)"


def read_json(data: bytes) -> Any:
    """The value of a JSON body; raises :class:`JsonError` (a PayloadError)."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _read_slowly(data)
    if _too_deep(obj):
        raise _depth_error()
    return obj


def _read_slowly(data: bytes) -> Any:
    try:
        # strict decoding: json.loads(bytes) would let surrogates through, which fail later
        text = data.decode(json.detect_encoding(data))
        obj = json.loads(text, parse_int=_integer)
    except UnicodeDecodeError:
        raise JsonError("the body is not UTF-8", hint="send UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise JsonError(
            f"the body is not JSON: {exc.msg}", f"body, line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise _depth_error() from None
    if _too_deep(obj):
        raise _depth_error()
    if _SURROGATE_ESCAPE.search(text):
        _refuse_lone_surrogates(obj)
    return obj


def _refuse_lone_surrogates(obj: object) -> None:
    """A string with half of a surrogate pair (``"\\ud800"``) cannot be stored or answered."""
    try:
        json.dumps(obj, ensure_ascii=False, default=lambda _: None).encode()
    except UnicodeEncodeError:
        raise JsonError(
            "the body has a \\u escape of half a surrogate pair (not a character)",
            hint="escape characters beyond U+FFFF as a pair, such as \\ud83d\\ude00",
        ) from None


def _integer(literal: str) -> int | LongNumber:
    return int(literal) if len(literal) <= MAX_NUMBER_CHARS else LongNumber.of(literal)


def _too_deep(obj: object) -> bool:
    """True when ``obj`` nests more than MAX_DEPTH containers. One level at a time, in C loops:
    a 10,000-fix batch (three levels, 50,000 values) takes about 2 ms."""
    level = [obj] if type(obj) in _CONTAINERS else []
    for _ in range(MAX_DEPTH):
        if _CONTAINERS.isdisjoint(map(type, _children(level))):
            return False
        level = [v for v in _children(level) if type(v) in _CONTAINERS]
    return True


def _children(level: list[Any]) -> Iterator[Any]:
    kinds = list(map(type, level))
    dicts = compress(level, map(is_, kinds, repeat(dict)))
    lists = compress(level, map(is_, kinds, repeat(list)))
    return chain(chain.from_iterable(map(dict.values, dicts)), chain.from_iterable(lists))


def _depth_error() -> JsonError:
    return JsonError(
        f"the body is nested deeper than {MAX_DEPTH} levels",
        hint=f"send JSON nested at most {MAX_DEPTH} levels deep",
    )


__all__ = ["MAX_DEPTH", "JsonError", "read_json"]
