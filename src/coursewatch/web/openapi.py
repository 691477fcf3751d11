"""The OpenAPI 3.1 document, built from the endpoint table and a few schemas."""

from __future__ import annotations

import re
from typing import Any

from coursewatch import __version__

_NUM = {"type": "number"}
_STR = {"type": "string"}
_FINISH = {
    "type": ["string", "number", "null"],
    "description": "the finish race HQ records "
    "(a timing mat): ISO 8601 (the race's clock without a zone), HH:MM (its latest "
    "time), epoch s; null takes it back",
}
_OPT_NUM = {"type": ["number", "null"]}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "description": "The one error shape of the API.",
        "properties": {"error": {"type": "object", "required": ["status", "code", "message"],
            "properties": {"status": {"type": "integer"}, "code": _STR, "message": _STR,
                           "where": _STR, "hint": _STR}}},
    },
    "RaceCreate": {
        "type": "object", "required": ["id", "course_file"],
        "description": "A race file plus its course file, or a course file plus name and start.",
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"},
            "race_file": {"$ref": "#/components/schemas/File"},
            "course_file": {"$ref": "#/components/schemas/File"},
            "name": _STR, "start": {"type": "string", "format": "date-time"},
            "public": {"type": "boolean"},
        },
    },
    "File": {"type": "object", "description": "A file as text or base64, with its suffix.",
             "properties": {"text": _STR, "base64": _STR, "suffix": _STR}},
    "RacePatch": {"type": "object", "properties": {"public": {"type": "boolean"},
        "public_view": {"type": "object", "description": "what the public sees",
            "properties": {"positions": {"type": "boolean"}, "tracks": {"type": "boolean"},
                           "delay_min": _NUM, "round_m": _NUM, "incidents": {"type": "boolean",
                           "description": "race HQ's incidents and the runners' flags public"}}}}},
    "RunnerCreate": {"type": "object", "description": "One runner, or {runners: [...]}.",
        "properties": {"bib": _STR, "name": _STR, "devices": {"type": "array", "items": _STR},
                       "start": {"type": "string", "format": "date-time"},
                       "dnf": {"type": "boolean"}, "finish": _FINISH,
                       "runners": {"type": "array", "items": {"type": "object"}}}},
    "RunnerPatch": {"type": "object", "properties": {"name": _STR, "dnf": {"type": "boolean"},
        "finish": _FINISH,
        "devices": {"type": "array", "items": _STR}, "start": _STR,
        "hidden": {"type": "boolean", "description": "out of every public view"}}},
    "FixBatch": {"type": "object", "required": ["fixes"], "properties": {"fixes": {
        "type": "array", "items": {"type": "object", "required": ["time", "lat", "lon"],
            "properties": {"bib": _STR, "device": _STR,
                           "time": {"description": "epoch s or ms, or ISO 8601"},
                           "lat": _NUM, "lon": _NUM, "accuracy_m": _OPT_NUM,
                           "speed_mps": _OPT_NUM, "bearing_deg": _OPT_NUM,
                           "altitude_m": _OPT_NUM, "battery_pct": _OPT_NUM}}}}},
    "IngestReport": {"type": "object", "properties": {
        "accepted": {"type": "integer"}, "duplicates": {"type": "integer"},
        "dropped": {"type": "object", "additionalProperties": {"type": "integer"}},
        "errors": {"type": "array", "items": {"type": "object"}},
        "alerts": {"type": "array", "items": {"type": "integer"},
                   "description": "ids of race HQ's incidents this request opened or updated"},
        "flags": {"type": "array", "items": {"type": "integer"},
                  "description": "ids of the runners' flags (incidents not confirmed)"}}},
    "Ack": {"type": "object", "properties": {"by": _STR}},
    "SpotCheck": {"type": "object", "required": ["course_m"],
                  "properties": {"course_m": {"type": "number"}, "by": _STR}},
    "Webhook": {"type": "object", "required": ["url"], "properties": {"url": _STR, "secret": _STR}},
    "Feed": {"type": "object", "required": ["kind", "id"], "properties": {
        "kind": {"enum": ["mapshare", "spot"]}, "id": _STR, "password": _STR}},
    "RunnerContacts": {"type": "object", "properties": {
        "runner": {"type": "array", "items": _STR}, "crew": {"type": "array", "items": _STR}}},
    "RaceContacts": {"type": "object", "required": ["hq"], "properties": {"hq": {
        "type": "array", "items": {"type": "object", "required": ["url"], "properties": {
            "url": _STR, "priority": {"type": "integer", "minimum": 0, "maximum": 2}}}}}},
    "ContactsTest": {"type": "object", "properties": {"bib": {
        "type": "string", "description": "the runner's and their crew's addresses; none: HQ's"}}},
    "Roster": {"type": "string", "description": "CSV, one row per runner, a header line."},
    "History": {"type": "object", "required": ["editions"], "properties": {"editions": {
        "type": "array", "items": {"type": "object", "required": ["text"], "properties": {
            "edition": _STR, "text": {"type": "string", "description": "a split table (CSV)"},
            "changed": {"type": "array", "items": _STR}}}},
        "replace": {"type": "boolean", "description": "false: add these editions"}}},
}  # fmt: skip
_CONTENT = {"Roster": "text/csv"}  # bodies that are not JSON

_AUTH: dict[str, list[dict[str, list[str]]]] = {
    "none": [],
    "device": [],
    "read": [{}, {"bearer": []}],
    "admin": [{"bearer": []}],
    "ingest": [{"bearer": []}, {"basic": []}, {"query": []}],
}


def document() -> dict[str, Any]:
    from coursewatch.web.routes import ENDPOINTS

    paths: dict[str, Any] = {}
    for ep in ENDPOINTS:
        params = [
            {"name": n, "in": "path", "required": True, "schema": _STR}
            for n in re.findall(r"{(\w+)}", ep.path)
        ]
        for method in ep.methods:
            op: dict[str, Any] = {
                "summary": ep.summary,
                "operationId": f"{method.lower()}_{ep.handler.__name__}",
                "parameters": params,
                "security": _AUTH[ep.auth],
                "responses": {
                    "200": {"description": "OK"},
                    "default": {
                        "description": "An error",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                },
            }
            if ep.body:
                op["requestBody"] = {
                    "required": True,
                    "content": {
                        _CONTENT.get(ep.body, "application/json"): {
                            "schema": {"$ref": f"#/components/schemas/{ep.body}"}
                        }
                    },
                }
            paths.setdefault(ep.path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "coursewatch race HQ",
            "version": __version__,
            "description": "Live race tracking. See docs/server.md.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
                "query": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
    }
