"""The production topology on loopback under a short load: `make load` in miniature.

`python -m ops.topology` brings up PostgreSQL (a throwaway database), moto's S3 server, an SMTP
server, gunicorn with several workers and no scheduler, and one `tracker scheduler` process; runs
5 users for 5 seconds (chiefs browsing, uploading and submitting; inspectors reviewing); and
checks zero errors, no lost or duplicated data or email, and `tracker verify`. It needs a
PostgreSQL server, so it runs in the PostgreSQL pass of `make test` (which CI always runs).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import sqlalchemy as sa

from tests.ops.support import PROJECT_ROOT, postgres_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def postgres_server() -> str:
    url = postgres_url()
    if url is None:
        if os.environ.get("CI") and os.environ.get("TRACKER_REQUIRE_POSTGRES", "1") == "1":
            pytest.fail("CI run without PostgreSQL: the topology test cannot be skipped.")
        pytest.skip("needs PostgreSQL: runs in the PostgreSQL pass of `make test`")
    return sa.engine.make_url(url).set(database="postgres").render_as_string(hide_password=False)


def test_topology_under_a_short_load(postgres_server, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ops.topology",
            "--users=5",
            "--duration=5",
            "--workers=2",
            "--emails=50",
            f"--postgres={postgres_server}",
            f"--logs={tmp_path}",
        ],
        cwd=PROJECT_ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    logs = "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in tmp_path.glob("*.log")
    )
    assert result.returncode == 0, output + logs
    assert "RESULT: PASS" in result.stdout
    assert "errors 0" in result.stdout
    # Every queued email arrived once (else no PASS); the scheduler's daily reminder pass adds
    # its own when the run falls after 09:00 Beijing time.
    emails = re.search(r"emails: 50 queued, (\d+) received by SMTP, (\d+) marked sent", output)
    assert emails is not None, output
    received, marked_sent = map(int, emails.groups())
    assert received == marked_sent >= 50
    assert "Verification passed." in result.stdout
    assert "gunicorn: 2 workers" in result.stdout and "one `tracker scheduler` process" in output
