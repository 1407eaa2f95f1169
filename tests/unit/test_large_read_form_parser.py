"""The evidence request's form parser overrides a private method of Werkzeug's: it must still be
the method Werkzeug calls, with the arguments Werkzeug passes, and parse as Werkzeug does."""

from __future__ import annotations

import io

from werkzeug.datastructures import MultiDict
from werkzeug.formparser import FormDataParser, MultiPartParser

from tracker.items import evidence_forms

BOUNDARY = "----tracker-test-boundary"
BODY = (
    f"--{BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="note"\r\n\r\n'
    "会议纪要\r\n"
    f"--{BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="files"; filename="a.pdf"\r\n'
    "Content-Type: application/pdf\r\n\r\n"
    "%PDF-1.7 small\r\n"
    f"--{BOUNDARY}--\r\n"
).encode()


def _parse(parser: FormDataParser) -> tuple[MultiDict, dict[str, bytes]]:
    _stream, form, files = parser.parse(
        io.BytesIO(BODY), "multipart/form-data", len(BODY), {"boundary": BOUNDARY}
    )
    contents = {}
    for name, part in files.items():
        contents[name] = part.read()
        part.close()
    return form, contents


def test_the_parser_reads_in_its_own_size_and_parses_like_werkzeug(monkeypatch):
    buffer_sizes: list[int] = []

    class RecordingParser(MultiPartParser):
        def __init__(self, *args, buffer_size: int, **kwargs):
            buffer_sizes.append(buffer_size)
            super().__init__(*args, buffer_size=buffer_size, **kwargs)

    monkeypatch.setattr(evidence_forms, "MultiPartParser", RecordingParser)
    ours = _parse(evidence_forms._LargeReadFormDataParser(read_size=4096))
    # Called through Werkzeug's own `parse` with its arguments: a rename or a new signature of
    # the private method fails here, not in an upload.
    assert buffer_sizes == [4096]
    assert ours == _parse(FormDataParser())
    assert ours[0]["note"] == "会议纪要" and ours[1] == {"files": b"%PDF-1.7 small"}
