"""File types are decided from the content; the name must agree; unwanted content is refused."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable

import pytest
from flask_babel import force_locale

from tracker.services import filetypes
from tracker.services.filetypes import (
    SNIFF_BYTES,
    ContentInspector,
    EmptyFile,
    ExtensionMismatch,
    FileRefused,
    UnsupportedFileType,
    extension_of,
    human_size,
    identify,
    identify_content,
    sniff,
)

# --- Sample builders (also used by the upload and storage tests) ------------------------------


def pdf_bytes() -> bytes:
    """A tiny but well-formed PDF."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def png_bytes() -> bytes:
    """A 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def jpeg_bytes() -> bytes:
    """A JFIF header, an empty scan and the end marker."""
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def gif_bytes() -> bytes:
    """A 1x1 GIF."""
    palette = b"\x00\x00\x00\xff\xff\xff"
    image = b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    return b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + palette + image


def mp3_bytes(*, id3: bool) -> bytes:
    """An MPEG-1 layer III frame header, optionally after an empty ID3v2.4 tag."""
    frame = b"\xff\xfb\x90\x64" + b"\0" * 64
    return (b"ID3\x04\x00\x00\x00\x00\x00\x00" + frame) if id3 else frame


def webp_bytes() -> bytes:
    body = b"WEBPVP8 " + struct.pack("<I", 10) + b"\x00" * 10
    return b"RIFF" + struct.pack("<I", len(body)) + body


def bmp_bytes() -> bytes:
    pixels = b"\x00\x00\xff\x00"
    header = b"BM" + struct.pack("<IHHI", 14 + 40 + len(pixels), 0, 0, 54)
    dib = struct.pack("<IiiHHIIiiII", 40, 1, 1, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + dib + pixels


def tiff_bytes() -> bytes:
    return b"II*\x00\x08\x00\x00\x00" + b"\x00\x00"


def ftyp_bytes(major: bytes, *compatible: bytes) -> bytes:
    """An ISO base media file start: an ftyp box, then an empty mdat box."""
    brands = b"".join(compatible)
    box = struct.pack(">I", 16 + len(brands)) + b"ftyp" + major + b"\x00\x00\x02\x00" + brands
    return box + struct.pack(">I", 8) + b"mdat"


def riff_bytes(form: bytes) -> bytes:
    body = form + b"LIST" + struct.pack("<I", 4) + b"hdrl"
    return b"RIFF" + struct.pack("<I", len(body)) + body


def ebml_bytes(doc_type: bytes) -> bytes:
    """The EBML header of a Matroska or WebM file."""
    doc = b"\x42\x82" + bytes([0x80 | len(doc_type)]) + doc_type
    body = b"\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08" + doc
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(body)]) + body + b"\x18\x53\x80\x67"


def zip_bytes(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A ZIP with these entries, in this order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


CONTENT_TYPES = b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'


def docx_bytes() -> bytes:
    return zip_bytes(
        {
            "[Content_Types].xml": CONTENT_TYPES,
            "_rels/.rels": b"<Relationships/>",
            "word/document.xml": b"<w:document/>",
        }
    )


def xlsx_bytes() -> bytes:
    return zip_bytes(
        {
            "[Content_Types].xml": CONTENT_TYPES,
            "_rels/.rels": b"<Relationships/>",
            "xl/workbook.xml": b"<workbook/>",
            "xl/worksheets/sheet1.xml": b"<worksheet/>",
        }
    )


def pptx_bytes() -> bytes:
    return zip_bytes(
        {"[Content_Types].xml": CONTENT_TYPES, "ppt/presentation.xml": b"<p:presentation/>"}
    )


def ofd_bytes() -> bytes:
    return zip_bytes(
        {"OFD.xml": b"<ofd:OFD DocType='OFD'/>", "Doc_0/Document.xml": b"<ofd:Document/>"}
    )


def ole2_bytes(*streams: str) -> bytes:
    """A minimal OLE2 compound file (512-byte sectors) holding empty streams with these names."""
    free, end, fat_marker = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
    names = ["Root Entry", *streams]
    directory_sectors = (len(names) + 3) // 4  # four 128-byte entries per sector
    header = bytearray(512)
    header[:8] = filetypes.OLE2_MAGIC
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", header, 0x2C, 1, 1, 0, 4096, end, 0, end, 0, 0)
    struct.pack_into("<109I", header, 0x4C, 0, *([free] * 108))
    # Sector 0 is the FAT; the directory runs from sector 1 as one chain.
    fat = [fat_marker] + [n + 1 for n in range(1, directory_sectors)] + [end]
    fat += [free] * (128 - len(fat))
    entries = bytearray()
    for index, name in enumerate(names):
        entry = bytearray(128)
        raw = name.encode("utf-16-le") + b"\0\0"
        entry[: len(raw)] = raw
        kind = 5 if index == 0 else 2
        child = 1 if index == 0 and len(names) > 1 else free
        right = index + 1 if 0 < index < len(names) - 1 else free
        struct.pack_into("<HBBIII", entry, 0x40, len(raw), kind, 1, free, right, child)
        struct.pack_into("<IQ", entry, 0x74, end, 0)
        entries += entry
    entries += b"\0" * (directory_sectors * 512 - len(entries))
    return bytes(header) + struct.pack("<128I", *fat) + bytes(entries)


def text_bytes(encoding: str, size: int = 100) -> bytes:
    line = "合规台账：执法公示、执法全过程记录、重大执法决定法制审核。\n"
    text = (line * (size // len(line.encode(encoding)) + 1)).encode(encoding)
    return text[: len(text) - len(text) % len(line.encode(encoding))] or line.encode(encoding)


def english(error: FileRefused) -> str:
    """The refusal message in English (tests run inside an app context whose default is zh_CN)."""
    with force_locale("en"):
        return str(error.message)


# --- Accepted types ---------------------------------------------------------------------------

ACCEPTED: list[tuple[str, Callable[[], bytes], str, str]] = [
    ("整改报告.pdf", pdf_bytes, "pdf", "application/pdf"),
    ("签章文件.ofd", ofd_bytes, "ofd", "application/ofd"),
    ("现场照片.JPG", jpeg_bytes, "jpeg", "image/jpeg"),
    ("photo.jpeg", jpeg_bytes, "jpeg", "image/jpeg"),
    ("截图.png", png_bytes, "png", "image/png"),
    ("anim.gif", gif_bytes, "gif", "image/gif"),
    ("pic.webp", webp_bytes, "webp", "image/webp"),
    ("scan.bmp", bmp_bytes, "bmp", "image/bmp"),
    ("scan.tif", tiff_bytes, "tiff", "image/tiff"),
    ("iphone.heic", lambda: ftyp_bytes(b"heic", b"mif1", b"heic"), "heic", "image/heic"),
    ("通知.docx", docx_bytes, "docx", filetypes.DOCX.content_type),
    ("台账.xlsx", xlsx_bytes, "xlsx", filetypes.XLSX.content_type),
    ("培训.pptx", pptx_bytes, "pptx", filetypes.PPTX.content_type),
    ("旧文件.doc", lambda: ole2_bytes("WordDocument", "1Table"), "doc", "application/msword"),
    ("旧台账.xls", lambda: ole2_bytes("Workbook"), "xls", "application/vnd.ms-excel"),
    ("旧课件.ppt", lambda: ole2_bytes("PowerPoint Document"), "ppt", filetypes.PPT.content_type),
    ("金山文字.wps", lambda: ole2_bytes("WordDocument"), "wps", "application/wps-office.wps"),
    ("金山表格.et", lambda: ole2_bytes("Workbook"), "et", "application/wps-office.et"),
    ("金山演示.dps", lambda: ole2_bytes("PowerPoint Document"), "dps", filetypes.DPS.content_type),
    (
        "old.mov",
        lambda: b"\x00\x00\x00\x08wide" + b"\x00\x00\x10\x00mdat",
        "mov",
        "video/quicktime",
    ),
    ("加密.docx", lambda: ole2_bytes("EncryptedPackage"), "docx", filetypes.DOCX.content_type),
    ("执法记录仪.mp4", lambda: ftyp_bytes(b"isom", b"isom", b"avc1"), "mp4", "video/mp4"),
    ("phone.mp4", lambda: ftyp_bytes(b"mp42", b"mp41"), "mp4", "video/mp4"),
    ("voice.m4a", lambda: ftyp_bytes(b"M4A ", b"isom"), "m4a", "audio/mp4"),
    ("iphone.mov", lambda: ftyp_bytes(b"qt  ", b"qt  "), "mov", "video/quicktime"),
    ("old.3gp", lambda: ftyp_bytes(b"3gp4", b"isom"), "3gp", "video/3gpp"),
    ("clip.avi", lambda: riff_bytes(b"AVI "), "avi", "video/x-msvideo"),
    ("录音.wav", lambda: riff_bytes(b"WAVE"), "wav", "audio/wav"),
    ("录音.mp3", lambda: mp3_bytes(id3=True), "mp3", "audio/mpeg"),
    ("bare.mp3", lambda: mp3_bytes(id3=False), "mp3", "audio/mpeg"),
    ("clip.webm", lambda: ebml_bytes(b"webm"), "webm", "video/webm"),
    ("clip.mkv", lambda: ebml_bytes(b"matroska"), "mkv", "video/x-matroska"),
    ("clip.flv", lambda: b"FLV\x01\x05\x00\x00\x00\x09" + b"\0" * 8, "flv", "video/x-flv"),
    ("clip.wmv", lambda: filetypes.ASF_GUID + b"\0" * 14, "wmv", "video/x-ms-wmv"),
    ("audio.wma", lambda: filetypes.ASF_GUID + b"\0" * 14, "wma", "audio/x-ms-wma"),
    ("voice.amr", lambda: b"#!AMR\n" + b"\x3c" * 32, "amr", "audio/amr"),
    ("材料.zip", lambda: zip_bytes({"a.pdf": pdf_bytes()}), "zip", "application/zip"),
    ("说明.txt", lambda: text_bytes("utf-8"), "text", "text/plain; charset=utf-8"),
    ("说明.txt", lambda: text_bytes("gb18030"), "text", "text/plain; charset=gb18030"),
    ("清单.csv", lambda: "\ufeff编号,名称\n1,培训\n".encode(), "csv", "text/csv; charset=utf-8"),
    ("清单.csv", lambda: "编号,名称\n".encode("gb18030"), "csv", "text/csv; charset=gb18030"),
]


@pytest.mark.parametrize(("filename", "make", "key", "content_type"), ACCEPTED)
def test_accepted_types_are_identified(filename, make, key, content_type):
    data = make()
    found = identify_content(io.BytesIO(data), filename)
    assert found.file_type.key == key
    assert found.content_type == content_type
    assert extension_of(filename) in found.file_type.extensions


@pytest.mark.parametrize(("filename", "make", "key", "content_type"), ACCEPTED)
def test_streaming_inspection_agrees_with_identify(filename, make, key, content_type):
    data = make()
    # Small chunks: the head is assembled from several reads, multi-byte text is split.
    with ContentInspector(filename, spool_memory=64) as inspector:
        for start in range(0, len(data), 7):
            inspector.feed(data[start : start + 7])
        found = inspector.finish()
    assert (found.file_type.key, found.content_type) == (key, content_type)


def test_identify_accepts_a_path_and_restores_the_position(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(png_bytes())
    assert identify(path, "a.png").key == "png"
    handle = io.BytesIO(png_bytes())
    handle.seek(5)
    assert identify(handle, "a.png").key == "png"
    assert handle.tell() == 5


def test_inline_preview_only_for_pdf_and_browser_images():
    inline = {t.key for t in filetypes.FILE_TYPES.values() if t.previewable_inline}
    assert inline == {"pdf", "jpeg", "png", "gif", "webp", "bmp"}
    assert ".pdf" in filetypes.ACCEPTED_EXTENSIONS
    assert ".html" not in filetypes.ACCEPTED_EXTENSIONS


def test_sniff_settles_simple_types_and_defers_containers():
    assert sniff(png_bytes(), "a.png").final
    zipped = sniff(docx_bytes()[:SNIFF_BYTES], "a.docx")
    assert zipped.check == "zip"
    assert not zipped.final
    assert zipped.file_type is filetypes.DOCX  # provisional: the directory decides
    assert sniff(ole2_bytes("WordDocument")[:SNIFF_BYTES], "a.doc").check == "ole2"
    assert sniff("正文".encode(), "a.txt", complete=True).check == "text"


def test_ole2_directory_spanning_several_sectors():
    streams = ["SummaryInformation", "DocumentSummaryInformation", "1Table", "Data", "CompObj"]
    data = ole2_bytes(*streams, "ObjectPool", "WordDocument")
    assert "worddocument" in filetypes.ole2_entry_names(io.BytesIO(data))
    assert identify(io.BytesIO(data), "a.doc").key == "doc"


def test_large_zip_central_directory_is_read_without_loading_the_file():
    # 70,000 entries need the ZIP64 end record; OFD.xml is the last entry, far from the head.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(70_000):
            archive.writestr(f"Res/{number}.txt", b"")
        archive.writestr("OFD.xml", b"<ofd:OFD/>")
    assert identify(io.BytesIO(buffer.getvalue()), "big.ofd").key == "ofd"


def test_a_docx_may_be_kept_as_a_zip():
    assert identify(io.BytesIO(docx_bytes()), "打包.zip").key == "zip"


def test_human_size():
    assert human_size(100 * 1024 * 1024) == "100 MB"
    assert human_size(1536 * 1024 * 1024) == "1.5 GB"
    assert human_size(512 * 1024) == "512 KB"
    assert human_size(10) == "10 bytes"


@pytest.mark.parametrize(
    ("filename", "extension"),
    [
        ("a.PDF", "pdf"),
        ("报告.final.docx", "docx"),
        ("../../etc/passwd", ""),
        (".bashrc", ""),
        ("C:\\dir\\scan.tif", "tif"),
        ("a.pdf\u202e", "pdf"),
        ("a.pd\u200bf", "pdf"),
        ("noext", ""),
    ],
)
def test_extension_of(filename, extension):
    assert extension_of(filename) == extension


# --- Refusals ---------------------------------------------------------------------------------


def refusal(data: bytes, filename: str) -> FileRefused:
    with pytest.raises(FileRefused) as caught:
        identify(io.BytesIO(data), filename)
    return caught.value


def test_windows_program_renamed_pdf_is_refused():
    error = refusal(b"MZ\x90\x00\x03\x00\x00\x00" + b"\0" * 200 + b"PE\0\0", "发票.pdf")
    assert isinstance(error, UnsupportedFileType)
    assert error.http_status == 415
    assert error.field == "file"
    assert english(error) == (
        '"发票.pdf" was refused: its content is a Windows program, which is not accepted.'
    )


def test_png_named_pdf_is_refused_naming_both():
    error = refusal(png_bytes(), "scan.pdf")
    assert isinstance(error, ExtensionMismatch)
    assert error.detected is filetypes.PNG
    assert error.extension == "pdf"
    assert english(error) == (
        '"scan.pdf" was refused: the content is a PNG image but the name says .pdf (expected .png).'
    )


def test_empty_file_is_refused():
    error = refusal(b"", "空白.pdf")
    assert isinstance(error, EmptyFile)
    assert english(error) == '"空白.pdf" is empty.'


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"<!DOCTYPE html><html><body>hi</body></html>", "page.html"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "page.txt"),
        (b"\xef\xbb\xbf  <html>\n<script>alert(1)</script>", "notes.txt"),
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "logo.svg"),
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "logo.txt"),
        (b"<?xml version='1.0'?><root/>", "data.txt"),
        (b"plain words then <script>alert(1)</script>", "notes.txt"),
        (b"#!/bin/sh\nrm -rf /\n", "run.txt"),
        (pdf_bytes(), "doc.js"),
    ],
)
def test_markup_and_scripts_are_never_accepted(data, filename):
    error = refusal(data, filename)
    assert isinstance(error, UnsupportedFileType)
    assert "HTML, SVG, XML and script files are never accepted" in english(error)


def test_zip_named_docx_without_word_content_is_refused():
    data = zip_bytes({"[Content_Types].xml": CONTENT_TYPES, "notes.txt": b"hello"})
    error = refusal(data, "伪装.docx")
    assert isinstance(error, ExtensionMismatch)
    assert error.detected is filetypes.ZIP
    assert "the content is a ZIP archive but the name says .docx" in english(error)


def test_docx_named_xlsx_is_refused():
    error = refusal(docx_bytes(), "table.xlsx")
    assert isinstance(error, ExtensionMismatch)
    assert error.detected is filetypes.DOCX


def test_binary_junk_named_txt_is_refused():
    junk = bytes((n * 7919 + 13) % 256 for n in range(4096))
    error = refusal(junk, "junk.txt")
    assert isinstance(error, UnsupportedFileType)
    assert "its content is not an accepted type" in english(error)


def test_text_that_turns_binary_after_the_head_is_refused():
    data = text_bytes("utf-8", 3 * SNIFF_BYTES) + b"\x00\x01\x02binary"
    error = refusal(data, "log.txt")
    assert "is not plain text in UTF-8 or GB18030" in english(error)
    with ContentInspector("log.txt") as inspector, pytest.raises(UnsupportedFileType):
        inspector.feed(data)
        inspector.finish()


def test_utf16_text_is_refused():
    error = refusal("编号,名称\n".encode("utf-16"), "export.csv")
    assert isinstance(error, UnsupportedFileType)


def test_text_without_extension_is_refused():
    error = refusal(b"root:x:0:0:root:/root:/bin/bash\n", "../../etc/passwd")
    assert isinstance(error, ExtensionMismatch)
    assert english(error) == (
        '"../../etc/passwd" was refused: the name has no extension; the content is plain text '
        "(expected .txt)."
    )


@pytest.mark.parametrize(
    ("data", "filename", "detected"),
    [
        (b"Rar!\x1a\x07\x01\x00" + b"\0" * 20, "材料.zip", "a RAR archive"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\0" * 20, "材料.zip", "a 7-Zip archive"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 20, "tool.pdf", "a Linux program"),
        (b"{\\rtf1\\ansi hello}", "letter.doc", "an RTF document"),
        (ole2_bytes("SummaryInformation", "Property"), "setup.doc", "a compound file that is"),
    ],
)
def test_known_unwanted_content_is_named(data, filename, detected):
    error = refusal(data, filename)
    assert isinstance(error, UnsupportedFileType)
    assert detected in english(error)


def test_damaged_zip_is_refused():
    data = docx_bytes()[:-30]
    error = refusal(data, "broken.docx")
    assert isinstance(error, UnsupportedFileType)
    assert "it looks like a ZIP archive but is damaged or incomplete" in english(error)


@pytest.mark.parametrize(
    "start", [b"BMW inspection notes", b"carefree moods", b"GIF is a format", b"RIFF raff"]
)
def test_text_resembling_a_signature_stays_text(start):
    # "BM" without a bitmap header, "free" where a QuickTime atom name would be...
    assert identify(io.BytesIO(start + b"\n"), "note.txt").key == "text"


def test_refusal_happens_on_the_first_bytes_when_streaming():
    inspector = ContentInspector("setup.pdf")
    with pytest.raises(UnsupportedFileType):
        inspector.feed(b"MZ" + b"\0" * SNIFF_BYTES)
    inspector.close()


def test_long_names_are_shortened_in_messages():
    error = refusal(b"", "长" * 500 + ".pdf")
    message = english(error)
    assert "…" in message
    assert len(message) < 120
