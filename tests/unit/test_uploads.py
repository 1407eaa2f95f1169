"""The upload pipeline: streamed in chunks, hashed, checked, stored once; refusals leave nothing."""

from __future__ import annotations

import gc
import hashlib
import io
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from functools import lru_cache
from pathlib import Path

import pytest

from tests.unit.test_filetypes import docx_bytes, english, ftyp_bytes, text_bytes, zip_bytes
from tracker.config import PROJECT_ROOT
from tracker.services.filetypes import SNIFF_BYTES
from tracker.services.uploads import (
    EmptyFile,
    ExtensionMismatch,
    FileTooLarge,
    StoredUpload,
    UnsupportedFileType,
    display_filename,
    receive_upload,
    sanitize_filename,
)
from tracker.storage.local import LocalBlobStorage

MIB = 1 << 20
BLOCK = MIB
MP4_HEAD = ftyp_bytes(b"isom", b"isom", b"avc1")


@lru_cache(maxsize=4)
def _block(index: int) -> bytes:
    return hashlib.sha256(index.to_bytes(8, "big")).digest() * (BLOCK // 32)


class GeneratedStream(io.RawIOBase):
    """`total` bytes made on the fly (`head`, then deterministic blocks); never held whole."""

    def __init__(self, total: int, *, head: bytes = MP4_HEAD, fail_at: int | None = None) -> None:
        super().__init__()
        self.total = total
        self.head = head
        self.fail_at = fail_at  # raise once this many bytes were handed out: a dropped client
        self.position = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert size > 0, "the pipeline must read in bounded chunks"
        if self.fail_at is not None and self.position >= self.fail_at:
            raise ConnectionResetError("client disconnected in the middle of the upload")
        size = min(size, self.total - self.position)
        out = bytearray()
        while len(out) < size:
            at = self.position + len(out)
            want = size - len(out)
            if at < len(self.head):
                out += self.head[at : at + want]
            else:
                index, offset = divmod(at - len(self.head), BLOCK)
                out += _block(index)[offset : offset + want]
        self.position += size
        return bytes(out)


def expected_sha256(total: int, head: bytes = MP4_HEAD) -> str:
    """The sha256 of the stream's content, computed independently of the pipeline."""
    digest = hashlib.sha256()
    stream = GeneratedStream(total, head=head)
    while chunk := stream.read(4 * MIB):
        digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture
def storage(tmp_path: Path) -> LocalBlobStorage:
    return LocalBlobStorage(tmp_path / "blobs")


def assert_nothing_left(storage: LocalBlobStorage) -> None:
    assert list(storage.iter_hashes()) == []
    assert storage.temp_files() == []


def upload(data: bytes, filename: str, storage, *, max_bytes: int = 100 * MIB, chunk_size=MIB):
    return receive_upload(
        io.BytesIO(data),
        filename=filename,
        storage=storage,
        max_bytes=max_bytes,
        chunk_size=chunk_size,
    )


# --- Size and memory --------------------------------------------------------------------------


def test_300_mb_upload_streams_with_bounded_memory(storage):
    total = 300 * MIB
    stream = GeneratedStream(total)
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    try:
        stored = receive_upload(
            stream, filename="执法记录仪.mp4", storage=storage, max_bytes=400 * MIB
        )
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024
    print(
        f"\n300 MiB upload: {elapsed:.1f} s, traced peak {traced_peak / MIB:.1f} MiB, "
        f"max RSS growth {rss_growth / MIB:.1f} MiB"
    )
    assert traced_peak < 50 * MIB
    assert rss_growth < 50 * MIB
    assert stored.size == total
    assert stored.sha256 == expected_sha256(total)
    assert stored.file_type.key == "mp4"
    assert storage.size(stored.sha256) == total
    assert storage.hash_of(stored.sha256) == stored.sha256
    assert storage.temp_files() == []


RSS_SCRIPT = """
import json, resource, sys, time
from tests.unit.test_uploads import GeneratedStream
from tracker.services.uploads import receive_upload
from tracker.storage.local import LocalBlobStorage

storage = LocalBlobStorage(sys.argv[1])
total = int(sys.argv[2])
# Warm up first, so that imports and first-use allocations are not counted as growth.
receive_upload(GeneratedStream(4 << 20), filename="warm.mp4", storage=storage, max_bytes=total)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
stored = receive_upload(GeneratedStream(total), filename="a.mp4", storage=storage, max_bytes=total)
elapsed = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kib": before, "after_kib": after, "seconds": elapsed,
                  "sha256": stored.sha256}))
"""


def test_300_mb_upload_peak_rss_in_a_fresh_process(tmp_path):
    # ru_maxrss is a high-water mark: only a fresh process gives a meaningful growth figure.
    total = 300 * MIB
    done = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, str(tmp_path / "blobs"), str(total)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    growth = (figures["after_kib"] - figures["before_kib"]) * 1024
    print(
        f"\nfresh process: RSS {figures['before_kib'] / 1024:.1f} -> "
        f"{figures['after_kib'] / 1024:.1f} MiB (growth {growth / MIB:.1f} MiB) "
        f"in {figures['seconds']:.1f} s"
    )
    assert growth < 50 * MIB
    assert figures["sha256"] == expected_sha256(total)


def test_too_large_is_refused_early_and_leaves_nothing(storage):
    stream = GeneratedStream(50 * MIB)
    with pytest.raises(FileTooLarge) as caught:
        receive_upload(stream, filename="长视频.mp4", storage=storage, max_bytes=5 * MIB)
    assert caught.value.http_status == 413
    assert english(caught.value) == '"长视频.mp4" is too large: the limit is 5 MB.'
    assert stream.position <= 6 * MIB  # stopped reading at the limit, not at the end
    assert_nothing_left(storage)


def test_exactly_the_limit_is_accepted(storage):
    stored = receive_upload(
        GeneratedStream(3 * MIB), filename="a.mp4", storage=storage, max_bytes=3 * MIB
    )
    assert stored.size == 3 * MIB


# --- Hash, dedup, crash -----------------------------------------------------------------------


def test_stored_hash_matches_and_bytes_read_back(storage):
    total = 5 * MIB + 123
    stored = receive_upload(
        GeneratedStream(total), filename="a.mp4", storage=storage, max_bytes=total
    )
    assert stored.sha256 == expected_sha256(total)
    digest = hashlib.sha256()
    with storage.open(stored.sha256) as reader:
        while chunk := reader.read(MIB):
            digest.update(chunk)
    assert digest.hexdigest() == stored.sha256
    assert stored.deduplicated is False


def test_same_file_twice_is_stored_once(storage):
    first = receive_upload(
        GeneratedStream(3 * MIB), filename="a.mp4", storage=storage, max_bytes=10 * MIB
    )
    second = receive_upload(
        GeneratedStream(3 * MIB), filename="copy of a.mp4", storage=storage, max_bytes=10 * MIB
    )
    assert (first.deduplicated, second.deduplicated) == (False, True)
    assert first.sha256 == second.sha256
    assert second.original_filename == "copy of a.mp4"
    assert list(storage.iter_hashes()) == [first.sha256]
    assert storage.temp_files() == []


def test_crash_in_the_middle_leaves_no_blob_and_no_temporary_file(storage):
    total = 20 * MIB
    stream = GeneratedStream(total, fail_at=total // 2)  # after half of the 1 MiB chunks
    with pytest.raises(ConnectionResetError):
        receive_upload(stream, filename="现场.mp4", storage=storage, max_bytes=100 * MIB)
    assert stream.position == total // 2
    assert_nothing_left(storage)


def test_crash_while_spooling_a_container_leaves_nothing(storage):
    data = zip_bytes({f"f{n}.bin": bytes(range(256)) * 8192 for n in range(4)}, compression=0)

    class Failing(io.BytesIO):
        def read(self, size=-1):
            if self.tell() > len(data) // 2:
                raise OSError("disk full")
            return super().read(size)

    with pytest.raises(OSError, match="disk full"):
        receive_upload(
            Failing(data),
            filename="a.zip",
            storage=storage,
            max_bytes=100 * MIB,
            chunk_size=MIB // 4,
        )
    assert_nothing_left(storage)


# --- Refusals leave nothing -------------------------------------------------------------------


def test_exe_renamed_pdf_is_refused_after_the_first_chunk(storage):
    stream = GeneratedStream(50 * MIB, head=b"MZ\x90\x00\x03\x00\x00\x00")
    with pytest.raises(UnsupportedFileType) as caught:
        receive_upload(stream, filename="发票.pdf", storage=storage, max_bytes=100 * MIB)
    assert "a Windows program" in english(caught.value)
    assert stream.position == MIB
    assert_nothing_left(storage)


def test_empty_file_is_refused(storage):
    with pytest.raises(EmptyFile):
        upload(b"", "空.pdf", storage)
    assert_nothing_left(storage)


def test_path_traversal_name_is_refused(storage):
    with pytest.raises(ExtensionMismatch) as caught:
        upload(b"root:x:0:0:root:/root:/bin/bash\n", "../../etc/passwd", storage)
    assert "the name has no extension" in english(caught.value)
    assert_nothing_left(storage)
    assert not (storage.root.parent / "etc").exists()


def test_container_mismatch_is_refused_after_reading_its_directory(storage):
    with pytest.raises(ExtensionMismatch) as caught:
        upload(docx_bytes(), "report.pdf", storage, chunk_size=512)
    assert "a Word document (DOCX)" in english(caught.value)
    assert_nothing_left(storage)


def test_text_turning_binary_late_is_refused(storage):
    data = text_bytes("utf-8", 2 * MIB) + b"\x00\x00binary"
    with pytest.raises(UnsupportedFileType):
        upload(data, "notes.txt", storage, chunk_size=64 * 1024)
    assert_nothing_left(storage)


# --- Accepted uploads -------------------------------------------------------------------------


def test_docx_in_small_chunks_spills_to_disk_and_is_identified(storage):
    # Larger than the in-memory spool: the container check reads the directory from disk.
    padding = {f"word/media/image{n}.png": bytes(range(256)) * 4096 for n in range(3)}
    data = zip_bytes(
        {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>", **padding},
        compression=0,
    )
    assert len(data) > 2 * MIB
    stored = upload(data, "整改通知书.docx", storage, chunk_size=4096)
    assert stored.file_type.key == "docx"
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert storage.temp_files() == []


def test_gb18030_text_split_across_chunks(storage):
    data = text_bytes("gb18030", 3 * SNIFF_BYTES)
    stored = upload(data, "说明.txt", storage, chunk_size=333)
    assert stored.content_type == "text/plain; charset=gb18030"
    assert stored.size == len(data)


def test_stored_upload_fields(storage):
    stored = upload(b"%PDF-1.7\n%%EOF\n", "C:\\扫描件\\整改\u202e报告.pdf", storage)
    assert isinstance(stored, StoredUpload)
    assert stored.content_type == "application/pdf"
    assert stored.file_type.previewable_inline
    assert stored.safe_filename == "整改报告.pdf"
    assert stored.original_filename == "C:\\扫描件\\整改报告.pdf"
    assert storage.exists(stored.sha256)


def test_bad_arguments(storage):
    with pytest.raises(ValueError):
        receive_upload(io.BytesIO(b"x"), filename="a.txt", storage=storage, max_bytes=0)
    assert_nothing_left(storage)


# --- File names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("整改报告.pdf", "整改报告.pdf"),
        ("a\x00b.pdf", "ab.pdf"),
        ("evil\x00.pdf\x00.exe", "evil.pdf.exe"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("a\u2066b\u2069c\u200f.pdf", "abc.pdf"),
        ("zero\u200bwidth.pd\u200bf", "zerowidth.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("/abs/path/photo.jpg", "photo.jpg"),
        ("..", "file"),
        ("", "file"),
        ("\x00\x01\x1f", "file"),
        ("...hidden.txt", "hidden.txt"),
        ("trailing. . ", "trailing"),
        ('quote"d<name>|?*:.pdf', "quote_d_name_____.pdf"),
        ("CON.txt", "_CON.txt"),
        ("line\nbreak\r.txt", "linebreak.txt"),
        ("e\u0301te\u0301.pdf", "été.pdf"),  # macOS sends decomposed accents
    ],
)
def test_sanitize_filename(raw, safe):
    assert sanitize_filename(raw) == safe


def test_sanitize_filename_limits_length_and_keeps_the_extension():
    name = sanitize_filename("a" * 1000 + ".pdf")
    assert len(name) == 200
    assert name.endswith("a.pdf")
    chinese = sanitize_filename("整改" * 500 + ".docx")
    assert chinese.endswith(".docx")
    assert len(chinese.encode()) <= 240
    assert len(sanitize_filename("x" * 1000)) == 200


def test_display_name_keeps_what_the_user_sees():
    assert display_filename("整改 报告（第2版）.pdf") == "整改 报告（第2版）.pdf"
    assert display_filename("a\x00b\u202e.pdf") == "ab.pdf"
    assert len(display_filename("名" * 1000 + ".pdf")) == 255
    assert display_filename("名" * 1000 + ".pdf").endswith(".pdf")
    assert display_filename("\x00") == "file"
