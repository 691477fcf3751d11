"""Reading request bodies and fields, with errors that say where and what to do."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from coursewatch.web.errors import ApiError


async def json_body(request: Request) -> Any:
    data = await request.body()
    if not data.strip():
        raise ApiError(400, "empty_body", "the request has no body", "body", "send JSON")
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise ApiError(
            400, "invalid_json", "the body is not UTF-8", "body", "send UTF-8 JSON"
        ) from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "invalid_json",
            f"the body is not JSON: {exc.msg}",
            f"body, line {exc.lineno} column {exc.colno}",
            "check the JSON syntax (a validator helps)",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ApiError(
            400, "invalid_json", f"the body is not JSON: {exc}", "body", "check the JSON syntax"
        ) from None


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
            f"'{key}' must be {names}, not {value!r:.60}",
            key,
            f"give '{key}' as {names}",
        )
    return value


def int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(
            400,
            "invalid_parameter",
            f"?{name}={raw!r} is not a whole number",
            name,
            f"give {name} as a whole number",
        ) from None
