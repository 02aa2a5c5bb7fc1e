"""A fuzz pass generated from the app's OpenAPI document (schemathesis): never a 5xx.

Bounded: a fixed number of generated requests per operation and generation mode (valid and
invalid bodies, path and query parameters), in process against the ASGI app, with a wall-clock
limit. Hypothesis runs derandomized, so a failure reproduces.

The pass runs in a fresh interpreter: a library imported by other tests (compiled with
-ffast-math) can switch the CPU to flush subnormal floats to zero, and Hypothesis then refuses
to generate floats at all ("can't represent subnormal floats").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = 12  # per operation and mode
TIME_LIMIT_S = 300


def fuzz(workspace_root: str) -> dict:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    from arena.serve.app import ServerConfig, create_app
    from games.workspace import Workspace

    app = create_app(ServerConfig(Workspace(Path(workspace_root)), poll_s=0))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    calls: list[tuple[str, int]] = []
    operations = [result.ok() for result in schema.get_all_operations()]
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
    return {"operations": len(operations), "statuses": [status for _, status in calls]}


@pytest.mark.slow
def test_generated_requests_never_get_a_server_error(scripted_workspace):
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, __file__, str(scripted_workspace.root)],
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_S,
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    statuses = summary["statuses"]
    assert summary["operations"] >= 8 and len(statuses) > 8 * EXAMPLES
    assert any(s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses)


if __name__ == "__main__":
    print(json.dumps(fuzz(sys.argv[1])))
