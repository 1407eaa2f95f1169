"""Uploading a large file through the API against plain Python reading, hashing and writing it."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import time
import uuid
from pathlib import Path

from bench.server import Server

CHUNK = 1 << 20


PDF_HEAD = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"  # the upload pipeline accepts files by content


def make_file(path: Path, megabytes: int) -> Path:
    """A PDF-headed file of `megabytes` MiB of incompressible bytes (one random MiB, numbered)."""
    block = bytearray(os.urandom(CHUNK))
    block[: len(PDF_HEAD)] = PDF_HEAD
    with path.open("wb") as out:
        for n in range(megabytes):
            block[64:72] = n.to_bytes(8, "little")
            out.write(block)
    return path


def baseline(source: Path, target_dir: Path) -> float:
    """Seconds to read the file, sha256 it and write a copy to the same disk (fsynced)."""
    target = target_dir / f"baseline-{uuid.uuid4().hex}"
    started = time.perf_counter()
    digest = hashlib.sha256()
    with source.open("rb") as src, target.open("wb") as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def upload(server: Server, token: str, item_id: int, source: Path) -> dict:
    """POST the file to /api/v1/items/<id>/evidence, streamed; time and workers' peak RSS."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{source.name}.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + source.stat().st_size + len(tail)
    before = server.reset_peak_memory()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=900)
    started = time.perf_counter()
    connection.putrequest("POST", f"/api/v1/items/{item_id}/evidence")
    connection.putheader("Authorization", f"Bearer {token}")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(length))
    connection.endheaders()
    connection.send(head)
    with source.open("rb") as src:
        while chunk := src.read(CHUNK):
            connection.send(chunk)
    connection.send(tail)
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    peaks = server.peak_memory()
    growth_kib = max(peaks[pid] - before.get(pid, peaks[pid]) for pid in peaks)
    if response.status != 201:
        raise RuntimeError(f"upload answered {response.status}: {body[:300]!r}")
    return {
        "status": response.status,
        "seconds": elapsed,
        "rss_growth_mb": growth_kib / 1024,
        "evidence": json.loads(body),
    }
