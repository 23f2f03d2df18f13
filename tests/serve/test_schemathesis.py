"""schemathesis (PyPI) against /api/openapi.json of a running `mida serve`
on the fixture store: generated requests, valid and invalid, to every
operation but the endless event stream; no answer may be a 5xx, and every
answer must match the document (status code, content type, schema). The
number of examples per operation is bounded to keep the suite's time."""

import os
import pathlib
import shutil
import subprocess

import pytest

EXAMPLES = os.environ.get("MIDA_SCHEMATHESIS_EXAMPLES", "25")


def test_api_conforms_to_its_openapi_document(serve, lite, tmp_path):
    exe = pathlib.Path(os.sys.executable).parent / "schemathesis"
    if not exe.exists() and shutil.which("schemathesis") is None:
        pytest.skip("schemathesis is not installed "
                    "(tests/requirements-serve.txt)")
    s = serve(lite)
    r = subprocess.run(
        [str(exe) if exe.exists() else "schemathesis", "run",
         f"{s.url}/api/openapi.json",
         "--checks", "not_a_server_error,status_code_conformance,"
         "content_type_conformance,response_schema_conformance",
         "--exclude-path", "/api/events",
         "--max-examples", EXAMPLES, "--generation-deterministic",
         "--phases", "examples,coverage,fuzzing", "--request-timeout", "30",
         "--workers", "1"],
        capture_output=True, text=True, timeout=600, cwd=str(tmp_path),
        env=dict(os.environ, SCHEMATHESIS_HOOKS=""))
    print(r.stdout[-4000:])
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert s.alive()
