"""Reading request bodies and fields, with errors that say where and what to do.

Bodies go through the protocols' JSON reader (:func:`coursewatch.protocols.jsonbody.read_json`):
nesting and number length are limited there, and values in messages are shown by
:func:`coursewatch.protocols.describe`, never by ``repr()`` of what a client sent.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from coursewatch.protocols import describe
from coursewatch.protocols.jsonbody import JsonError, read_json
from coursewatch.web.errors import ApiError

# Query parameters that are whole numbers are ids and counts, stored as SQLite INTEGERs.
INT64_MAX = 2**63 - 1
_MAX_INT_CHARS = 20  # "-9223372036854775808"


async def json_body(request: Request) -> Any:
    data = await request.body()
    if not data.strip():
        raise ApiError(400, "empty_body", "the request has no body", "body", "send JSON")
    try:
        return read_json(data)
    except JsonError as exc:
        raise ApiError(400, "invalid_json", exc.detail, exc.where, exc.hint) from None


async def json_object(request: Request) -> dict[str, Any]:
    obj = await json_body(request)
    if not isinstance(obj, dict):
        raise ApiError(400, "invalid_body", "the body must be a JSON object", "body", "send {...}")
    return obj


def field(
    obj: dict[str, Any], key: str, kind: type | tuple[type, ...], required: bool = True
) -> Any:
    value = obj.get(key)
    if value is None:
        if required:
            raise ApiError(422, "missing_field", f"'{key}' is required", key, f"add '{key}'")
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ApiError(
            422,
            "invalid_field",
            f"'{key}' must be {names}, not {describe(value)}",
            key,
            f"give '{key}' as {names}",
        )
    return value


def int_param(
    request: Request, name: str, default: int, low: int = -INT64_MAX - 1, high: int = INT64_MAX
) -> int:
    """A whole-number query parameter within [low, high] (a 64-bit integer by default)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        if len(raw) > _MAX_INT_CHARS:
            raise ValueError(raw)
        value = int(raw)
    except ValueError:
        raise ApiError(
            400,
            "invalid_parameter",
            f"{name} is {describe(raw)}, not a whole number",
            name,
            f"give {name} as a whole number",
        ) from None
    if not low <= value <= high:
        raise ApiError(
            400,
            "invalid_parameter",
            f"{name} is {value}, outside {low}..{high}",
            name,
            f"give {name} as a whole number from {low} to {high}",
        )
    return value
