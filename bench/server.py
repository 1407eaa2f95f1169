"""A real gunicorn server on loopback for the page measurements, and its workers' memory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A running gunicorn: its port and the pids of its workers."""

    def __init__(self, process: subprocess.Popen, port: int) -> None:
        self.process = process
        self.port = port

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def reset_peak_memory(self) -> dict[int, int]:
        """Reset each worker's peak RSS to its current RSS; returns the current RSS (KiB)."""
        current = {}
        for pid in self.worker_pids():
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # 5: reset the peak RSS (VmHWM)
            current[pid] = _status_kib(pid, "VmRSS")
        return current

    def peak_memory(self) -> dict[int, int]:
        """Each worker's peak RSS (KiB) since the last reset."""
        return {pid: _status_kib(pid, "VmHWM") for pid in self.worker_pids()}


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@contextmanager
def gunicorn(app: str, env: dict[str, str], *, check_path: str = "/") -> Iterator[Server]:
    """Serve `app` (module:object) with WORKERS sync workers until the block ends.

    The server's log goes to gunicorn.log in the app's instance folder.
    """
    port = free_port()
    binary = Path(sys.executable).with_name("gunicorn")
    command = [
        str(binary),
        "--workers",
        str(WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "900",  # the 1 GB upload and a cold dashboard must not be killed mid-request
        "--log-level",
        "warning",
        "--chdir",
        str(ROOT),
        app,
    ]
    log_path = Path(env["TRACKER_INSTANCE_PATH"]) / "gunicorn.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        server = Server(process, port)
        try:
            _wait_ready(server, check_path)
            yield server
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(server: Server, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5):
                pass
            if len(server.worker_pids()) == WORKERS:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer in time")


def environment(base: dict[str, str], **extra: str) -> dict[str, str]:
    """The server's environment: the bench app settings plus limits raised for measuring."""
    return {**os.environ, **base, **extra}
