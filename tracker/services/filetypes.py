"""Which uploaded files are accepted: the type is decided from the content, and the name must agree.

How a type is decided, without ever holding a whole file in memory:

1. `sniff(head, filename)` looks at the first `SNIFF_BYTES` bytes. Most formats are settled there by
   their signature (PDF, images, audio and video, ...). Known dangerous or unwanted content
   (programs, HTML/SVG/XML, scripts, RAR/7z...) is refused with a message that says what it is.
2. Two container formats need the rest of the file:
   - ZIP (OOXML docx/xlsx/pptx, OFD and plain ZIP): the central directory at the END of the file is
     the only reliable list of entries (local headers may carry no sizes, and the interesting
     entries are not always first), so it is read from a seekable copy: `identify()` on a file,
     or, while streaming, a `SpooledTemporaryFile` that `ContentInspector` fills as the bytes pass
     (in memory up to `SPOOL_MEMORY`, then on disk; deleted on close, even after a kill -9 since
     the temporary file is unlinked at creation). Only the directory is read, entry by entry.
   - OLE2 compound files (doc/xls/ppt, WPS wps/et/dps, password-protected OOXML): the directory
     sectors may be anywhere, so they are read the same way, following the FAT chain.
   Only these containers are spooled; other types cost no extra copy.
3. Plain text (.txt, .csv) must be UTF-8 or GB18030 without NUL bytes in the WHOLE file, checked by
   incremental decoders fed chunk by chunk (`TextCheck`).

Limits: a ZIP is only listed, not decompressed (a docx with a broken part still passes); the OOXML
kind is taken from the `word/`, `xl/` or `ppt/` folder next to `[Content_Types].xml`, the OLE2 kind
from its stream names; MP3 is recognised by an ID3 tag or an MPEG layer III frame header at the
start; UTF-16 text is refused (it contains NUL bytes); formats that are not listed (RTF, ODF, RAR,
7z, AVIF...) are refused.
"""

from __future__ import annotations

import codecs
import os
import re
import struct
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from tempfile import SpooledTemporaryFile
from types import TracebackType
from typing import IO, BinaryIO, Literal, Self

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from tracker.services.errors import ValidationFailed

SNIFF_BYTES = 8192
SPOOL_MEMORY = 1 << 20  # a container smaller than this is inspected without touching the disk
READ_CHUNK = 1 << 20
MAX_ZIP_ENTRIES = 200_000  # enough to decide; bounds the work a crafted directory can cause
MAX_OLE2_DIRECTORY_SECTORS = 4096

Check = Literal["none", "zip", "ole2", "text"]


@dataclass(frozen=True, eq=False)
class FileType:
    """An accepted kind of file: how it is served and which names it may have."""

    key: str
    label: LazyString = field(repr=False)  # a lazy string such as "a PNG image", used in messages
    content_type: str
    extensions: tuple[str, ...]  # lower case, no dot; the first is the usual one
    kind: str  # document, image, audio, video, archive or text
    previewable_inline: bool = False

    @property
    def expected(self) -> str:
        """The accepted extensions as written in messages: ".jpg, .jpeg"."""
        return ", ".join(f".{ext}" for ext in self.extensions)


def _t(
    key: str, label: LazyString, content_type: str, exts: str, kind: str, inline: bool = False
) -> FileType:
    """Shorthand for the table below (extensions as one space-separated string)."""
    return FileType(key, label, content_type, tuple(exts.split()), kind, inline)


PDF = _t("pdf", _l("a PDF document"), "application/pdf", "pdf", "document", True)
OFD = _t("ofd", _l("an OFD document"), "application/ofd", "ofd", "document")
JPEG = _t("jpeg", _l("a JPEG image"), "image/jpeg", "jpg jpeg jfif", "image", True)
PNG = _t("png", _l("a PNG image"), "image/png", "png", "image", True)
GIF = _t("gif", _l("a GIF image"), "image/gif", "gif", "image", True)
WEBP = _t("webp", _l("a WebP image"), "image/webp", "webp", "image", True)
BMP = _t("bmp", _l("a BMP image"), "image/bmp", "bmp", "image", True)
TIFF = _t("tiff", _l("a TIFF image"), "image/tiff", "tif tiff", "image")
HEIC = _t("heic", _l("a HEIC/HEIF image"), "image/heic", "heic heif", "image")
_OOXML = "application/vnd.openxmlformats-officedocument."
DOCX = _t(
    "docx", _l("a Word document (DOCX)"), _OOXML + "wordprocessingml.document", "docx", "document"
)
XLSX = _t(
    "xlsx", _l("an Excel workbook (XLSX)"), _OOXML + "spreadsheetml.sheet", "xlsx", "document"
)
PPTX = _t(
    "pptx",
    _l("a PowerPoint presentation (PPTX)"),
    _OOXML + "presentationml.presentation",
    "pptx",
    "document",
)
DOC = _t("doc", _l("a Word 97-2003 document (DOC)"), "application/msword", "doc", "document")
XLS = _t(
    "xls", _l("an Excel 97-2003 workbook (XLS)"), "application/vnd.ms-excel", "xls", "document"
)
PPT = _t(
    "ppt",
    _l("a PowerPoint 97-2003 presentation (PPT)"),
    "application/vnd.ms-powerpoint",
    "ppt",
    "document",
)
WPS = _t("wps", _l("a WPS Writer document (WPS)"), "application/wps-office.wps", "wps", "document")
ET = _t("et", _l("a WPS Spreadsheets workbook (ET)"), "application/wps-office.et", "et", "document")
DPS = _t("dps", _l("a WPS Presentation (DPS)"), "application/wps-office.dps", "dps", "document")
MP4 = _t("mp4", _l("an MP4 video"), "video/mp4", "mp4 m4v", "video")
M4A = _t("m4a", _l("an M4A audio recording"), "audio/mp4", "m4a", "audio")
MOV = _t("mov", _l("a QuickTime video (MOV)"), "video/quicktime", "mov", "video")
THREE_GP = _t("3gp", _l("a 3GP video"), "video/3gpp", "3gp 3g2", "video")
AVI = _t("avi", _l("an AVI video"), "video/x-msvideo", "avi", "video")
WAV = _t("wav", _l("a WAV audio recording"), "audio/wav", "wav", "audio")
MP3 = _t("mp3", _l("an MP3 audio recording"), "audio/mpeg", "mp3", "audio")
MKV = _t("mkv", _l("a Matroska video (MKV)"), "video/x-matroska", "mkv", "video")
WEBM = _t("webm", _l("a WebM video"), "video/webm", "webm", "video")
FLV = _t("flv", _l("a Flash video (FLV)"), "video/x-flv", "flv", "video")
WMV = _t("wmv", _l("a Windows Media video (WMV)"), "video/x-ms-wmv", "wmv", "video")
WMA = _t("wma", _l("a Windows Media audio recording (WMA)"), "audio/x-ms-wma", "wma", "audio")
ASF = _t("asf", _l("a Windows Media file (ASF)"), "video/x-ms-asf", "asf", "video")
AMR = _t("amr", _l("an AMR audio recording"), "audio/amr", "amr", "audio")
ZIP = _t("zip", _l("a ZIP archive"), "application/zip", "zip", "archive")
TEXT = _t("text", _l("plain text"), "text/plain", "txt", "text")
CSV = _t("csv", _l("plain text (CSV)"), "text/csv", "csv", "text")

FILE_TYPES: dict[str, FileType] = {
    t.key: t
    for t in (
        PDF, OFD, JPEG, PNG, GIF, WEBP, BMP, TIFF, HEIC, DOCX, XLSX, PPTX, DOC, XLS, PPT, WPS, ET,
        DPS, MP4, M4A, MOV, THREE_GP, AVI, WAV, MP3, MKV, WEBM, FLV, WMV, WMA, ASF, AMR, ZIP, TEXT,
        CSV,
    )
}  # fmt: skip
ACCEPTED_EXTENSIONS: tuple[str, ...] = tuple(
    sorted({f".{ext}" for t in FILE_TYPES.values() for ext in t.extensions})
)

ZIP_CANDIDATES = (DOCX, XLSX, PPTX, OFD, ZIP)
OLE2_CANDIDATES = (DOC, XLS, PPT, WPS, ET, DPS, DOCX, XLSX, PPTX)
TEXT_CANDIDATES = (TEXT, CSV)

# Never accepted, whatever the content: active content a browser or a desktop would run.
MARKUP_AND_SCRIPT_EXTENSIONS = frozenset(
    {"htm", "html", "xhtml", "shtml", "mht", "mhtml", "svg", "svgz", "xml", "xsl", "xslt", "js"}
    | {"mjs", "vbs", "vbe", "wsf", "hta", "ps1", "bat", "cmd", "sh", "php", "asp", "aspx", "jsp"}
)


# --- Refusals --------------------------------------------------------------------------------


class FileRefused(ValidationFailed):
    """An uploaded file was refused; `code` and `http_status` serve the JSON API."""

    code = "file_refused"
    http_status = 422

    def __init__(self, message: LazyString | str, *, filename: str) -> None:
        super().__init__(message, field="file")  # type: ignore[arg-type]  # lazy, as elsewhere
        self.filename = filename


class EmptyFile(FileRefused):
    """The file has no bytes."""

    code = "empty_file"
    http_status = 422

    def __init__(self, filename: str) -> None:
        super().__init__(_l('"%(name)s" is empty.', name=short_name(filename)), filename=filename)


class FileTooLarge(FileRefused):
    """The file is over the configured size limit."""

    code = "file_too_large"
    http_status = 413

    def __init__(self, filename: str, *, limit: int) -> None:
        message = _l(
            '"%(name)s" is too large: the limit is %(limit)s.',
            name=short_name(filename),
            limit=human_size(limit),
        )
        super().__init__(message, filename=filename)
        self.limit = limit


class UnsupportedFileType(FileRefused):
    """The content is not one of the accepted types (or is damaged, or is markup or a script)."""

    code = "unsupported_file_type"
    http_status = 415


class ExtensionMismatch(FileRefused):
    """The content is an accepted type but the file name says something else."""

    code = "extension_mismatch"
    http_status = 415

    def __init__(self, filename: str, *, detected: FileType, extension: str) -> None:
        name = short_name(filename)
        if extension:
            message = _l(
                '"%(name)s" was refused: the content is %(detected)s but the name says '
                ".%(extension)s (expected %(expected)s).",
                name=name,
                detected=detected.label,
                extension=extension,
                expected=detected.expected,
            )
        else:
            message = _l(
                '"%(name)s" was refused: the name has no extension; the content is %(detected)s '
                "(expected %(expected)s).",
                name=name,
                detected=detected.label,
                expected=detected.expected,
            )
        super().__init__(message, filename=filename)
        self.detected = detected
        self.extension = extension


def _unsupported(filename: str) -> UnsupportedFileType:
    return UnsupportedFileType(
        _l(
            '"%(name)s" was refused: its content is not an accepted type (PDF, OFD, images, '
            "Office documents, audio and video recordings, ZIP archives, plain text).",
            name=short_name(filename),
        ),
        filename=filename,
    )


def _refused_content(filename: str, what: LazyString) -> UnsupportedFileType:
    return UnsupportedFileType(
        _l(
            '"%(name)s" was refused: its content is %(detected)s, which is not accepted.',
            name=short_name(filename),
            detected=what,
        ),
        filename=filename,
    )


def _markup(filename: str) -> UnsupportedFileType:
    return UnsupportedFileType(
        _l(
            '"%(name)s" was refused: HTML, SVG, XML and script files are never accepted.',
            name=short_name(filename),
        ),
        filename=filename,
    )


def _damaged(filename: str, what: LazyString) -> UnsupportedFileType:
    return UnsupportedFileType(
        _l(
            '"%(name)s" was refused: it looks like %(detected)s but is damaged or incomplete.',
            name=short_name(filename),
            detected=what,
        ),
        filename=filename,
    )


def _not_text(filename: str) -> UnsupportedFileType:
    return UnsupportedFileType(
        _l(
            '"%(name)s" was refused: it is not plain text in UTF-8 or GB18030 '
            "(binary content or another encoding).",
            name=short_name(filename),
        ),
        filename=filename,
    )


# --- Names -----------------------------------------------------------------------------------

# Controls (Cc), invisible formatting such as the bidi overrides and isolates U+202A-U+202E and
# U+2066-U+2069 and zero-width characters (Cf), lone surrogates (Cs), line/paragraph separators.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def printable_name(name: str) -> str:
    """The name without NUL, controls, bidi reordering and other invisible characters."""
    return "".join(
        ch for ch in name if unicodedata.category(ch) not in INVISIBLE_CATEGORIES
    ).strip()


def short_name(name: str, limit: int = 80) -> str:
    """A printable name short enough for a message (the middle replaced by an ellipsis)."""
    name = printable_name(name) or "?"
    if len(name) <= limit:
        return name
    keep = (limit - 1) // 2
    return f"{name[:keep]}…{name[-keep:]}"


def extension_of(filename: str) -> str:
    """The extension of the name's last path component, lower case, without the dot ("" if none)."""
    base = re.split(r"[\\/]", printable_name(filename))[-1].strip().rstrip(". ")
    stem, dot, ext = base.lstrip(".").rpartition(".")
    return ext.lower() if dot and stem else ""


def human_size(size: int) -> str:
    """A size for messages: 100 MB, 1.5 GB, 512 KB."""
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= factor:
            value = size / factor
            text = f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
            return f"{text} {unit}"
    return f"{size} bytes"


# --- Signatures ------------------------------------------------------------------------------

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_BMP_DIB_SIZES = {12, 40, 52, 56, 64, 108, 124}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_GENERIC = {b"mif1", b"msf1"}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}

_REFUSED_SIGNATURES: tuple[tuple[bytes, LazyString], ...] = (
    (b"MZ", _l("a Windows program")),
    (b"\x7fELF", _l("a Linux program")),
    (b"\xca\xfe\xba\xbe", _l("a program")),
    (b"\xfe\xed\xfa\xce", _l("a program")),
    (b"\xfe\xed\xfa\xcf", _l("a program")),
    (b"\xce\xfa\xed\xfe", _l("a program")),
    (b"\xcf\xfa\xed\xfe", _l("a program")),
    (b"Rar!\x1a\x07", _l("a RAR archive")),
    (b"7z\xbc\xaf\x27\x1c", _l("a 7-Zip archive")),
    (b"\x1f\x8b", _l("a gzip archive")),
    (b"BZh", _l("a bzip2 archive")),
    (b"\xfd7zXZ\x00", _l("an XZ archive")),
    (b"{\\rtf", _l("an RTF document")),
    (b"%!PS", _l("a PostScript file")),
)
# Tags whose presence at the start makes a browser treat text as HTML (after the WHATWG sniffing
# rules), plus XML and SVG.
_MARKUP_START = re.compile(
    rb"\s*(<\?xml|<!doctype|<!--|<(html|head|body|script|iframe|svg|style|title|div|table|a|p|b|br"
    rb"|h1|font|img|meta|link|object|embed|form|math|xsl:stylesheet)[\s/>])",
    re.IGNORECASE,
)
_MARKUP_ANYWHERE = re.compile(rb"<(script|html|svg|iframe)[\s/>]", re.IGNORECASE)


def _ftyp_candidates(head: bytes) -> tuple[FileType, ...] | None:
    """ISO base media (MP4, MOV, M4A, 3GP, HEIC) from the `ftyp` box."""
    box_size = int.from_bytes(head[:4], "big")
    if head[4:8] != b"ftyp" or not 16 <= box_size < 1 << 16:
        return None
    major = head[8:12]
    brands = {major} | {head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)}
    if major in _HEIF_BRANDS or (major in _HEIF_GENERIC and b"avif" not in brands):
        return (HEIC,)
    if major in {b"avif", b"avis"}:
        return ()  # AVIF: recognised, not on the list
    if major.startswith((b"3gp", b"3ge", b"3gg", b"3gr", b"3gs", b"3g2")):
        return (THREE_GP, MP4)
    if major == b"qt  ":
        return (MOV, MP4)
    if major in {b"M4A ", b"M4B ", b"M4P "}:
        return (M4A, MP4)
    # isom, mp41, mp42, avc1, dash, M4V... and the many camera and phone brands: the same
    # container; the extension says which of the usual names it carries.
    return (MP4, M4A, MOV, THREE_GP)


def _is_mp3_frame(head: bytes) -> bool:
    """An MPEG audio layer III frame header (sync word, valid version, bitrate, sample rate)."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0b11
    layer = (head[1] >> 1) & 0b11
    bitrate = head[2] >> 4
    rate = (head[2] >> 2) & 0b11
    return version != 0b01 and layer == 0b01 and bitrate not in {0, 15} and rate != 0b11


def _is_pdf(head: bytes) -> bool:
    # Some producers put a BOM or line breaks before the header; nothing else is tolerated.
    start = head[:1024].removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n\f")
    return start.startswith(b"%PDF-")


def _binary_candidates(head: bytes) -> tuple[Check, tuple[FileType, ...]] | None:
    """Candidates from a binary signature, or None when no signature matched."""
    if _is_pdf(head):
        return "none", (PDF,)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "zip", ZIP_CANDIDATES
    if head.startswith(OLE2_MAGIC):
        return "ole2", OLE2_CANDIDATES
    if head.startswith(b"\xff\xd8\xff"):
        return "none", (JPEG,)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "none", (PNG,)
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "none", (GIF,)
    if head.startswith(b"RIFF") and len(head) >= 12:
        form = head[8:12]
        found = {b"WEBP": (WEBP,), b"AVI ": (AVI,), b"WAVE": (WAV,)}.get(form, ())
        return "none", found
    if (
        head.startswith(b"BM")
        and len(head) >= 18
        and head[6:10] == b"\0\0\0\0"
        and int.from_bytes(head[14:18], "little") in _BMP_DIB_SIZES
    ):
        return "none", (BMP,)
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "none", (TIFF,)
    ftyp = _ftyp_candidates(head)
    if ftyp is not None:
        return "none", ftyp
    # Old QuickTime files start with an atom instead of ftyp. Its size's first byte is 0 for any
    # atom under 16 MiB (or size 1, "64-bit size follows"): text never starts with NUL, so a note
    # beginning "carefree..." is not taken for a video.
    if head[4:8] in _QUICKTIME_ATOMS and head[0] == 0 and int.from_bytes(head[:4], "big") >= 1:
        return "none", (MOV,)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        doc_type = head[:64]
        if b"webm" in doc_type:
            return "none", (WEBM, MKV)
        if b"matroska" in doc_type:
            return "none", (MKV, WEBM)
        return "none", ()
    if head.startswith(b"FLV\x01"):
        return "none", (FLV,)
    if head.startswith(ASF_GUID):
        return "none", (WMV, WMA, ASF)
    if head.startswith((b"#!AMR\n", b"#!AMR-WB\n", b"#!AMR_MC1.0\n", b"#!AMR-WB_MC1.0\n")):
        return "none", (AMR,)
    if (head.startswith(b"ID3") and len(head) >= 10 and head[3] in {2, 3, 4}) or _is_mp3_frame(
        head
    ):
        return "none", (MP3,)
    return None


def _is_text(data: bytes, *, final: bool) -> bool:
    """Whether the bytes decode as UTF-8 or GB18030 and hold no NUL byte."""
    if b"\0" in data:
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(data, final=final)
        except UnicodeDecodeError:
            continue
        return True
    return False


def _is_markup(head: bytes) -> bool:
    start = head.removeprefix(b"\xef\xbb\xbf")
    return bool(_MARKUP_START.match(start) or _MARKUP_ANYWHERE.search(start))


def _select(candidates: tuple[FileType, ...], extension: str, filename: str) -> FileType:
    """The candidate the extension names; ExtensionMismatch naming the likeliest one otherwise."""
    for candidate in candidates:
        if extension in candidate.extensions:
            return candidate
    raise ExtensionMismatch(filename, detected=candidates[0], extension=extension)


@dataclass(frozen=True)
class SniffResult:
    """What the first bytes say: the possible types and which deeper check is still needed."""

    candidates: tuple[FileType, ...]
    check: Check
    # The candidate the extension selects; None for a container whose name does not match any
    # candidate yet (the container's contents decide, and give the precise message).
    file_type: FileType | None

    @property
    def final(self) -> bool:
        """Whether the first bytes were enough to decide."""
        return self.check == "none"


def sniff(head: bytes, filename: str, *, complete: bool = False) -> SniffResult:
    """Decide what the first bytes of a file can be; raise a FileRefused when nothing fits.

    `head` is the first SNIFF_BYTES bytes (fewer only when the file is shorter: say so with
    `complete=True`).
    """
    if not head:
        raise EmptyFile(filename)
    extension = extension_of(filename)
    if extension in MARKUP_AND_SCRIPT_EXTENSIONS:
        raise _markup(filename)
    found = _binary_candidates(head)
    if found is None:
        for signature, what in _REFUSED_SIGNATURES:
            if head.startswith(signature):
                raise _refused_content(filename, what)
        if head.startswith(b"#!") or _is_markup(head[:SNIFF_BYTES]):
            raise _markup(filename)
        if not _is_text(head, final=complete):
            raise _unsupported(filename)
        found = ("text", TEXT_CANDIDATES)
    check, candidates = found
    if not candidates:
        raise _unsupported(filename)
    if check in {"zip", "ole2"}:
        chosen = next((c for c in candidates if extension in c.extensions), None)
        return SniffResult(candidates, check, chosen)
    return SniffResult(candidates, check, _select(candidates, extension, filename))


# --- Plain text ------------------------------------------------------------------------------


class TextCheck:
    """Checks, chunk by chunk, that a whole file is UTF-8 or GB18030 text without NUL bytes."""

    ENCODINGS = ("utf-8", "gb18030")

    def __init__(self) -> None:
        self._decoders = {e: codecs.getincrementaldecoder(e)() for e in self.ENCODINGS}

    def feed(self, chunk: bytes) -> None:
        """Decode the next chunk with every encoding still possible."""
        if b"\0" in chunk:
            self._decoders.clear()
            return
        # Both are fed: a file valid as UTF-8 so far may still turn out to be GB18030.
        for encoding, decoder in list(self._decoders.items()):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                del self._decoders[encoding]

    def finish(self) -> str | None:
        """The encoding the whole file is valid in (UTF-8 preferred), or None."""
        for encoding, decoder in list(self._decoders.items()):
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                del self._decoders[encoding]
        return next(iter(self._decoders), None)


# --- ZIP -------------------------------------------------------------------------------------

_EOCD = struct.Struct("<4sHHHHIIH")
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_CENTRAL_ENTRY = struct.Struct("<4s24xHHH12x")


class _Damaged(Exception):
    """The container's structure is inconsistent."""


def _read_exact(f: IO[bytes], size: int) -> bytes:
    data = f.read(size)
    if len(data) != size:
        raise _Damaged("truncated")
    return data


def zip_entry_names(f: IO[bytes], *, limit: int = MAX_ZIP_ENTRIES) -> Iterator[str]:
    """The names in a ZIP's central directory, read entry by entry from a seekable file."""
    f.seek(0, os.SEEK_END)
    size = f.tell()
    tail_size = min(size, _EOCD.size + 0xFFFF + _ZIP64_LOCATOR.size)
    f.seek(size - tail_size)
    tail = f.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        raise _Damaged("no end of central directory")
    _, disk, cd_disk, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    if count == 0xFFFF or 0xFFFFFFFF in (cd_size, cd_offset):
        locator = at - _ZIP64_LOCATOR.size
        if locator < 0 or tail[locator : locator + 4] != b"PK\x06\x07":
            raise _Damaged("no zip64 locator")
        _, _, record_offset, _ = _ZIP64_LOCATOR.unpack_from(tail, locator)
        f.seek(record_offset)
        record = _read_exact(f, 56)
        if record[:4] != b"PK\x06\x06":
            raise _Damaged("no zip64 end record")
        count, cd_size, cd_offset = struct.unpack_from("<QQQ", record, 32)
    if disk or cd_disk:
        raise _Damaged("multi-volume archive")
    if cd_offset + cd_size > size:
        raise _Damaged("central directory outside the file")
    f.seek(cd_offset)
    for _ in range(min(count, limit)):
        signature, name_len, extra_len, comment_len = _CENTRAL_ENTRY.unpack(
            _read_exact(f, _CENTRAL_ENTRY.size)
        )
        if signature != b"PK\x01\x02":
            raise _Damaged("bad central directory entry")
        name = _read_exact(f, name_len).decode("utf-8", "replace")
        f.seek(extra_len + comment_len, os.SEEK_CUR)
        yield name


def _zip_candidates(f: IO[bytes]) -> tuple[FileType, ...]:
    content_types = ofd = False
    folders: set[str] = set()
    for name in zip_entry_names(f):
        if name == "[Content_Types].xml":
            content_types = True
        elif name.lower() == "ofd.xml":
            ofd = True
        elif "/" in name:
            folders.add(name.split("/", 1)[0])
    if ofd:
        return (OFD, ZIP)
    if content_types:
        # The main part's folder says which Office application wrote the package.
        for folder, file_type in (("word", DOCX), ("xl", XLSX), ("ppt", PPTX)):
            if folder in folders:
                return (file_type, ZIP)
    return (ZIP,)


# --- OLE2 compound files ---------------------------------------------------------------------

_END_OF_CHAIN = 0xFFFFFFFE
_FREE = 0xFFFFFFFF


def ole2_entry_names(f: IO[bytes]) -> set[str]:
    """The names of the storages and streams of an OLE2 compound file (lower case)."""
    f.seek(0)
    header = _read_exact(f, 512)
    if not header.startswith(OLE2_MAGIC):
        raise _Damaged("not OLE2")
    shift = struct.unpack_from("<H", header, 0x1E)[0]
    if shift not in {9, 12}:
        raise _Damaged("bad sector size")
    sector = 1 << shift
    per_sector = sector // 4
    directory_start = struct.unpack_from("<I", header, 0x30)[0]
    difat_next = struct.unpack_from("<I", header, 0x44)[0]
    difat = list(struct.unpack_from("<109I", header, 0x4C))
    visited: set[int] = set()

    def read_sector(number: int) -> bytes:
        if number in visited or len(visited) > MAX_OLE2_DIRECTORY_SECTORS * 2:
            raise _Damaged("sector loop")
        visited.add(number)
        f.seek((number + 1) * sector)  # sector 0 follows the header, which fills one sector
        return _read_exact(f, sector)

    def fat_sector(index: int) -> int:
        nonlocal difat_next
        while index >= len(difat):  # the DIFAT continues in its own chain of sectors
            if difat_next in {_END_OF_CHAIN, _FREE}:
                raise _Damaged("FAT sector missing")
            values = struct.unpack(f"<{per_sector}I", read_sector(difat_next))
            difat.extend(values[:-1])
            difat_next = values[-1]
        return difat[index]

    def next_sector(number: int) -> int:
        f.seek((fat_sector(number // per_sector) + 1) * sector + (number % per_sector) * 4)
        return struct.unpack("<I", _read_exact(f, 4))[0]

    names: set[str] = set()
    current = directory_start
    for _ in range(MAX_OLE2_DIRECTORY_SECTORS):
        if current in {_END_OF_CHAIN, _FREE}:
            break
        data = read_sector(current)
        for offset in range(0, sector, 128):
            name_len = struct.unpack_from("<H", data, offset + 0x40)[0]
            if data[offset + 0x42] in {1, 2, 5} and 2 <= name_len <= 64:
                raw = data[offset : offset + name_len - 2]
                names.add(raw.decode("utf-16-le", "replace").lower())
        current = next_sector(current)
    return names


def _ole2_candidates(f: IO[bytes], filename: str) -> tuple[FileType, ...]:
    names = ole2_entry_names(f)
    if "worddocument" in names:
        return (DOC, WPS)
    if "workbook" in names or "book" in names:
        return (XLS, ET)
    if "powerpoint document" in names:
        return (PPT, DPS)
    if "encryptedpackage" in names:  # a password-protected docx/xlsx/pptx
        return (DOCX, XLSX, PPTX)
    raise _refused_content(filename, _l("a compound file that is not an Office document"))


def _container_type(f: IO[bytes], result: SniffResult, filename: str) -> FileType:
    try:
        zip_based = result.check == "zip"
        candidates = _zip_candidates(f) if zip_based else _ole2_candidates(f, filename)
    except (_Damaged, struct.error, OSError, ValueError):
        label = ZIP.label if result.check == "zip" else _l("an Office 97-2003 document")
        raise _damaged(filename, label) from None
    return _select(candidates, extension_of(filename), filename)


# --- Whole files -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Identification:
    """The accepted type of a file and the Content-Type to serve it with."""

    file_type: FileType
    content_type: str  # text types carry their charset


def _text_identification(result: SniffResult, check: TextCheck, filename: str) -> Identification:
    encoding = check.finish()
    if encoding is None or result.file_type is None:
        raise _not_text(filename)
    charset = "utf-8" if encoding == "utf-8" else "gb18030"
    return Identification(result.file_type, f"{result.file_type.content_type}; charset={charset}")


class ContentInspector:
    """Identifies a file from its bytes as they stream past, chunk by chunk.

    Refuses as early as the content allows (an .exe after its first bytes). Spools ZIP and OLE2
    containers to a temporary file, since their directories are read from the end (see the
    module docstring). Use as a context manager so that the spool is always removed.
    """

    def __init__(self, filename: str, *, spool_memory: int = SPOOL_MEMORY) -> None:
        self.filename = filename
        self._spool_memory = spool_memory
        self._head = bytearray()
        self._result: SniffResult | None = None
        self._spool: SpooledTemporaryFile[bytes] | None = None
        self._text: TextCheck | None = None

    @property
    def result(self) -> SniffResult | None:
        """The sniffing result once SNIFF_BYTES bytes have been seen."""
        return self._result

    def feed(self, chunk: bytes) -> None:
        """Inspect the next chunk; raises FileRefused as soon as the content is refused."""
        if self._result is None:
            self._head += chunk
            if len(self._head) >= SNIFF_BYTES:
                self._decide(complete=False)
        else:
            self._route(chunk)

    def _decide(self, *, complete: bool) -> None:
        seen = bytes(self._head)
        self._head = bytearray()
        self._result = sniff(seen[:SNIFF_BYTES], self.filename, complete=complete)
        if self._result.check in {"zip", "ole2"}:
            # Closed by close(), which the context manager guarantees.
            self._spool = SpooledTemporaryFile(max_size=self._spool_memory)  # noqa: SIM115
        elif self._result.check == "text":
            self._text = TextCheck()
        self._route(seen)

    def _route(self, chunk: bytes) -> None:
        if self._spool is not None:
            self._spool.write(chunk)
        elif self._text is not None:
            self._text.feed(chunk)

    def finish(self) -> Identification:
        """The file's type once every chunk was fed; raises FileRefused."""
        if self._result is None:
            self._decide(complete=True)
        result = self._result
        assert result is not None
        if self._spool is not None:
            self._spool.flush()
            file_type = _container_type(self._spool, result, self.filename)
            return Identification(file_type, file_type.content_type)
        if self._text is not None:
            return _text_identification(result, self._text, self.filename)
        assert result.file_type is not None
        return Identification(result.file_type, result.file_type.content_type)

    def close(self) -> None:
        """Remove the spool, if any."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def _seekable(source: str | os.PathLike[str] | BinaryIO) -> Iterator[BinaryIO]:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as f:
            yield f
        return
    if not source.seekable():
        raise ValueError("identify() needs a seekable file")
    position = source.tell()
    try:
        yield source
    finally:
        source.seek(position)


def identify_content(source: str | os.PathLike[str] | BinaryIO, filename: str) -> Identification:
    """Identify a whole seekable file (or a path) without reading it into memory."""
    with _seekable(source) as f:
        f.seek(0)
        head = f.read(SNIFF_BYTES)
        complete = len(head) < SNIFF_BYTES or not f.read(1)
        result = sniff(head, filename, complete=complete)
        if result.check in {"zip", "ole2"}:
            file_type = _container_type(f, result, filename)
            return Identification(file_type, file_type.content_type)
        if result.check == "text":
            check = TextCheck()
            f.seek(0)
            while chunk := f.read(READ_CHUNK):
                check.feed(chunk)
            return _text_identification(result, check, filename)
        assert result.file_type is not None
        return Identification(result.file_type, result.file_type.content_type)


def identify(source: str | os.PathLike[str] | BinaryIO, filename: str) -> FileType:
    """The accepted type of a seekable file or path; raises FileRefused."""
    return identify_content(source, filename).file_type


__all__ = [
    "ACCEPTED_EXTENSIONS",
    "FILE_TYPES",
    "SNIFF_BYTES",
    "ContentInspector",
    "EmptyFile",
    "ExtensionMismatch",
    "FileRefused",
    "FileTooLarge",
    "FileType",
    "Identification",
    "SniffResult",
    "TextCheck",
    "UnsupportedFileType",
    "extension_of",
    "human_size",
    "identify",
    "identify_content",
    "printable_name",
    "short_name",
    "sniff",
]
