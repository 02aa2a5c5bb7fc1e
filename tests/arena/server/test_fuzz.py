"""A fuzz pass generated from the app's OpenAPI document (schemathesis): never a 5xx.

Bounded: a fixed number of generated requests per operation and generation mode (valid and
invalid bodies, path and query parameters), in process, against a workspace with real match
logs. Hypothesis runs derandomized, so a failure reproduces.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from arena.server.app import ServerConfig, create_app

EXAMPLES = 12  # per operation and mode


@pytest.mark.slow
def test_generated_requests_never_get_a_server_error(scripted_workspace):
    app = create_app(ServerConfig(scripted_workspace, poll_s=0))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    calls: list[tuple[str, int]] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def check(case):
                response = case.call()
                calls.append((case.path, response.status_code))
                assert response.status_code < 500, (
                    f"{case.method} {case.formatted_path}: {response.text[:300]}"
                )
                if response.status_code >= 400:
                    assert response.json().get("error"), "errors carry a one-line message"

            try:
                check()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                if mode is GenerationMode.POSITIVE:
                    raise
    assert len(calls) > 8 * EXAMPLES
    assert any(status < 300 for _, status in calls) and any(status >= 400 for _, status in calls)
