"""The API against its own OpenAPI document: schemathesis sends generated requests (valid and
invalid) to every operation of a real `coursewatch serve` on loopback, as admin. No answer may
be a 500, and every answer must match the document (errors: the one error shape)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from coursewatch.sim.field import write_race
from coursewatch.sim.hq import free_port, start_serve
from coursewatch.sim.simulate import trail_course

ADMIN = "schema-admin"
HEADERS = {"Authorization": f"Bearer {ADMIN}"}
REAL = {"race": "demo", "bib": "7"}
REMOVING = {("DELETE", "/api/races/{race}"), ("DELETE", "/api/races/{race}/runners/{bib}")}


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("schema")
    race_file = write_race(folder / "files", trail_course(8_000.0), 1_780_000_000.0)
    port = free_port()
    # no rate limit in the way: the generated requests come fast from one address
    proc = start_serve(folder, port, ADMIN, tick_s="0", ingest_rate_per_ip="1000000")
    url = f"http://127.0.0.1:{port}"
    try:
        gpx = base64.b64encode((race_file.parent / "course.gpx").read_bytes()).decode()
        body = {"id": "demo", "race_file": {"text": race_file.read_text(), "suffix": ".yaml"},
                "course_file": {"suffix": ".gpx", "base64": gpx}}  # fmt: skip
        assert httpx.post(f"{url}/api/races", json=body, headers=HEADERS, timeout=60).is_success
        runner = {"bib": "7", "devices": ["dev-7"]}
        assert httpx.post(f"{url}/api/races/demo/runners", json=runner, headers=HEADERS).is_success
        yield url
    finally:
        proc.kill()
        proc.wait(10)


def test_every_operation_answers_within_its_document(api_url: str) -> None:
    # (schemathesis' pytest plugin does not run under pytest 9: its strategies, driven here)
    api = schemathesis.openapi.from_url(f"{api_url}/api/openapi.json")
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    tried = []
    for result in api.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/events"):  # an event stream never ends: read elsewhere
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)  # fmt: skip
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=HEADERS, timeout=20, checks=checks)
            # again at the real race and runner (not taking them out: later operations need them)
            if case.path_parameters and (case.method.upper(), case.path) not in REMOVING:
                case.path_parameters = {k: REAL.get(k, v) for k, v in case.path_parameters.items()}
                case.call_and_validate(headers=HEADERS, timeout=20, checks=checks)

        call()
        tried.append(operation.label)
    assert len(tried) >= 20, tried
    assert httpx.get(f"{api_url}/api/races/demo/runners/7", headers=HEADERS).is_success
