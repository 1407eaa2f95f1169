"""Forms of the evidence panel: upload files, add a link, record an indicator value; and the
request class that streams uploaded files straight into blob storage.

The rules (required date for count items, URL schemes, lengths, limits) belong to the evidence
service; the forms only parse input and carry the CSRF token. Field ids are distinct because the
forms share one page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any, TypeVar

from flask import Request, current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from werkzeug.formparser import FormDataParser, MultiPartParser
from wtforms import DateField, StringField, SubmitField, TextAreaField
from wtforms.validators import Optional

from tracker.items.files import blob_storage, max_upload_bytes
from tracker.services.uploads import UploadIntake

F = TypeVar("F", bound=Callable[..., Any])

STREAMS_FILES_ATTRIBUTE = "streams_files_to_storage"
# Werkzeug keeps a request body up to this size in memory; a larger one it spools to a temporary
# file (its `default_stream_factory`), which an upload would then copy into blob storage.
IN_MEMORY_BODY = 500 * 1024
# A streamed body is parsed in reads of this size instead of werkzeug's 64 KiB: every read costs
# Python work in the server's body reader and in the multipart decoder, whatever its size.
STREAMED_READ_SIZE = 256 * 1024
WERKZEUG_READ_SIZE = 64 * 1024


class EvidenceUploadForm(FlaskForm):
    files = MultipleFileField(_l("Files"), id="evidence-files")
    note = TextAreaField(_l("Note"), id="evidence-note", validators=[Optional()])
    occurred_on = DateField(
        _l("Date of the occurrence"), id="evidence-occurred-on", validators=[Optional()]
    )
    submit = SubmitField(_l("Upload"), id="evidence-upload")


class EvidenceLinkForm(FlaskForm):
    url = StringField(_l("Address (http:// or https://)"), id="link-url")
    title = StringField(_l("Title"), id="link-title", validators=[Optional()])
    note = TextAreaField(_l("Note"), id="link-note", validators=[Optional()])
    occurred_on = DateField(
        _l("Date of the occurrence"), id="link-occurred-on", validators=[Optional()]
    )
    submit = SubmitField(_l("Add link"), id="link-add")


class IndicatorValueForm(FlaskForm):
    value = StringField(_l("Value"), id="indicator-value")
    submit = SubmitField(_l("Save value"), id="indicator-save")


def streams_files_to_storage(view: F) -> F:
    """Mark an upload view (under its route decorator): its request streams each file part
    straight into blob storage while the body is parsed (see `EvidenceRequest`)."""
    setattr(view, STREAMS_FILES_ATTRIBUTE, True)
    return view


class _LargeReadFormDataParser(FormDataParser):
    """Werkzeug's form parser, reading a multipart body `read_size` bytes at a time (its own
    `_parse_multipart` with the parser's buffer size, which it does not let callers set).

    A private method: Werkzeug is pinned in requirements.txt, and a test checks that an upgrade
    still calls this one with the same arguments and parses alike.
    """

    def __init__(self, *args: Any, read_size: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_size = read_size

    def _parse_multipart(
        self,
        stream: IO[bytes],
        mimetype: str,
        content_length: int | None,
        options: dict[str, str],
    ) -> tuple[IO[bytes], Any, Any]:
        parser = MultiPartParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
            buffer_size=self.read_size,
        )
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files


class EvidenceRequest(Request):
    """The app's request class: evidence uploads write each byte to disk once.

    Werkzeug spools a large file part to a temporary file, which the upload service would then
    read back into blob storage. For a view marked `streams_files_to_storage`, each named file
    part of a body werkzeug would not keep in memory goes into an `UploadIntake` instead (size
    limit, content check, sha256, pending blob) while it is parsed; the service stores that blob
    as it is and reports a refusal where it receives the file, after its own checks. Parts nobody
    stores are discarded when the request is closed, even when parsing failed half-way.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._intakes: list[UploadIntake] = []

    def _streams_to_storage(self) -> bool:
        view = current_app.view_functions.get(self.endpoint or "")
        if not getattr(view, STREAMS_FILES_ATTRIBUTE, False):
            return False
        length = self.content_length
        return length is None or length > IN_MEMORY_BODY

    def _streamed_read_size(self) -> int:
        """STREAMED_READ_SIZE, but at most half of MAX_FORM_MEMORY_SIZE: the multipart decoder
        refuses a read that would take its buffer over that limit."""
        limit = self.max_form_memory_size
        if limit is None:
            return STREAMED_READ_SIZE
        return max(WERKZEUG_READ_SIZE, min(STREAMED_READ_SIZE, limit // 2))

    def make_form_data_parser(self) -> FormDataParser:
        if not self._streams_to_storage():
            return super().make_form_data_parser()
        return _LargeReadFormDataParser(
            stream_factory=self._get_file_stream,
            max_form_memory_size=self.max_form_memory_size,
            max_content_length=self.max_content_length,
            max_form_parts=self.max_form_parts,
            cls=self.parameter_storage_class,
            read_size=self._streamed_read_size(),
        )

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if not filename or not self._streams_to_storage():
            return super()._get_file_stream(
                total_content_length, content_type, filename, content_length
            )
        intake = UploadIntake(
            filename, storage=blob_storage(), max_bytes=max_upload_bytes(), defer_errors=True
        )
        self._intakes.append(intake)
        return intake  # type: ignore[return-value]  (write, seek and close: all werkzeug uses)

    def close(self) -> None:
        try:
            super().close()
        finally:
            for intake in self._intakes:
                intake.close()
