"""The OpenAPI document against the real server: schemathesis finds no server error and no response that
breaks its documented schema or media type."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from coachiq.entities.states import device_types
from tests.conftest import ServerProcess

# Emergency stop and raw frames act on the coach: they are tested with chosen bodies, not random ones.
# /api/v2/sim/chassis does not document its 422 answer yet (its router belongs to the simulation).
EXCLUDED = r"emergency-stop|/api/v2/can/send"


def test_openapi_document_and_schemathesis(server_process: ServerProcess, tmp_path: Path) -> None:
    document = httpx.get(server_process.base_url + "/openapi.json").json()
    paths = document["paths"]
    for path, method in (("/api/v2/entities", "get"), ("/api/v2/entities/{entity_id}", "get"),
                         ("/api/v2/entities/{entity_id}/history", "get"),
                         ("/api/v2/entities/{entity_id}/commands", "post"), ("/api/v2/entities/commands", "post"),
                         ("/api/v2/entities/unmapped", "get"), ("/api/v2/safety", "get"),
                         ("/api/v2/safety/emergency-stop", "post"), ("/api/v2/safety/emergency-stop/clear", "post"),
                         ("/api/v2/can/interfaces", "get"), ("/api/v2/can/statistics", "get"),
                         ("/api/v2/can/frames", "get"), ("/api/v2/can/send", "post"), ("/api/v2/system", "get")):
        assert method in paths[path], (path, method)
    refused = paths["/api/v2/entities/{entity_id}/commands"]["post"]["responses"]
    assert set(refused) >= {"200", "404", "409", "422", "504"}
    assert "application/problem+json" in refused["409"]["content"]
    # The entity routes send JSON the entity manager serialised; the document still has their models, one
    # per (type, device family), which schemathesis below holds the answers to.
    kinds = sum(len(types) for types in device_types().values())
    listed = paths["/api/v2/entities"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed == {"$ref": "#/components/schemas/EntityList"}
    assert len(document["components"]["schemas"]["EntityList"]["properties"]["entities"]["items"]["oneOf"]) == kinds
    one = paths["/api/v2/entities/{entity_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert len(one["oneOf"]) == kinds
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [str(st), "run", server_process.base_url + "/openapi.json",
         "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance",
         "--max-examples", "5", "--phases", "examples,fuzzing", "--seed", "1",
         "--exclude-path-regex", EXCLUDED, "--request-timeout", "10",
         "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert httpx.get(server_process.base_url + "/readyz").status_code == 200
