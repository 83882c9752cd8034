"""schemathesis (from PyPI) against a running `callforce serve` and its own description,
`/openapi.json`: generated requests to every operation, valid and not, must never get a 5xx, and
every answer must match the description (its status codes, content types and bodies).

Environment: CALLFORCE_URL (the running service, `http://127.0.0.1:PORT`) and CALLFORCE_API_KEY.

Left out: `DELETE /v1/keys/{id}` (it would revoke the key the run uses, and every later request
would be a 401) and `POST /v1/connections` (a generated grant makes the service log in to
whatever Salesforce login host it names, outside this machine)."""

import json
import os
import pathlib
import subprocess
import sys
import urllib.request

import jsonschema
from schemathesis.specs.openapi.definitions import OPENAPI_31

URL = os.environ.get("CALLFORCE_URL", "")
KEY = os.environ.get("CALLFORCE_API_KEY", "")

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def description():
    """`/openapi.json`, fetched with no API key."""
    with urllib.request.urlopen(f"{URL}/openapi.json") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        return json.load(resp)


def test_the_description_is_openapi_3_1():
    """Valid against the OpenAPI 3.1 document schema (the one schemathesis ships, from the
    OpenAPI Initiative), and each of its schemas a valid JSON Schema 2020-12."""
    spec = description()
    assert spec["openapi"].startswith("3.1.")
    jsonschema.Draft202012Validator(OPENAPI_31).validate(spec)
    for name, schema in spec["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            raise AssertionError(f"components.schemas.{name}: {e}") from e


def schemathesis():
    """The `schemathesis` command of this Python's environment."""
    return str(pathlib.Path(sys.executable).parent / "schemathesis")


def test_no_5xx_and_every_answer_matches_the_description(tmp_path):
    run = subprocess.run(
        [
            schemathesis(),
            "run",
            f"{URL}/openapi.json",
            "--header",
            f"Authorization: Bearer {KEY}",
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "15",
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            "20",
            "--exclude-operation-id",
            "revoke_key",
            "--exclude-operation-id",
            "create",
            # A path parameter is a string; schemathesis drops the ones a URL path cannot
            # carry (with `/`), which its health check counts as too many.
            "--suppress-health-check",
            "filter_too_much",
            "--workers",
            "2",
            "--no-color",
            "--report-dir",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
