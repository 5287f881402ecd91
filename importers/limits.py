"""Limits on what one file may make the readers do, checked while reading (issue 13, part 6).

The owner of the file-content limits: rows per sheet, members and decompressed size of a zip
(XLSX, KMZ, zipped Shapefiles), elements per XML document. Their values are Settings
(georeg/config.py); the API sets them per request with `use`, and a reader called elsewhere
(CLI, tests) gets the Settings of its environment. A limit hit raises `FileLimitExceeded`
(422) at once, naming the limit, instead of reading on for minutes.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import IO, Any

import defusedxml.ElementTree as safe_et

from georeg.config import Settings
from georeg.errors import FieldError, InvalidInput

MB = 1024 * 1024


class FileLimitExceeded(InvalidInput):
    code = "file_limit_exceeded"
    title = "文件超出处理限制"


def _exceeded(code: str, message: str) -> FileLimitExceeded:
    return FileLimitExceeded(message, [FieldError("file", code, message)])


@dataclass(frozen=True)
class FileLimits:
    sheet_rows: int
    unzipped_bytes: int
    zip_members: int
    xml_elements: int

    @classmethod
    def of(cls, s: Settings) -> FileLimits:
        return cls(sheet_rows=s.sheet_max_rows, unzipped_bytes=s.zip_max_unzipped_mb * MB,
                   zip_members=s.zip_max_members, xml_elements=s.xml_max_elements)


_current: ContextVar[FileLimits | None] = ContextVar("georeg_file_limits", default=None)


@cache
def _from_environment() -> FileLimits:
    return FileLimits.of(Settings())


def current() -> FileLimits:
    return _current.get() or _from_environment()


@contextmanager
def use(limits: FileLimits) -> Iterator[None]:
    """These limits for the code run inside (its threads too: the thread pool copies context)."""
    token = _current.set(limits)
    try:
        yield
    finally:
        _current.reset(token)


# --- rows -------------------------------------------------------------------------------------

def check_row_count(rows_read: int) -> None:
    """Call with the count of rows read so far (blank ones too: padding rows cost as much)."""
    limit = current().sheet_rows
    if rows_read > limit:
        raise _exceeded("too_many_rows", f"表格超过 {limit:,} 行的上限，请分批导入")


# --- zip --------------------------------------------------------------------------------------

def check_zip(zf: zipfile.ZipFile) -> None:
    """Refuse a zip whose directory declares too many members or too many bytes unzipped.

    The directory can lie; Python's zipfile never inflates a member past its declared
    `file_size` (a longer stream then fails its CRC), so the declared total also bounds what
    is actually decompressed. Readers that copy members count the bytes they read as well."""
    limits = current()
    infos = zf.infolist()
    if len(infos) > limits.zip_members:
        raise _exceeded("too_many_members",
                        f"压缩包内文件超过 {limits.zip_members:,} 个的上限")
    if sum(i.file_size for i in infos) > limits.unzipped_bytes:
        raise _exceeded("unzipped_too_large",
                        f"压缩包解压后超过 {limits.unzipped_bytes // MB} MB 的上限")


def check_zip_bytes(data: bytes) -> None:
    """`check_zip` on bytes that may be a zip; anything unreadable is left to the reader."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            check_zip(zf)
    except zipfile.BadZipFile:
        return


def unzipped_too_large() -> FileLimitExceeded:
    return _exceeded("unzipped_too_large",
                     f"压缩包解压后超过 {current().unzipped_bytes // MB} MB 的上限")


# --- XML --------------------------------------------------------------------------------------

def parse_xml(source: bytes | IO[bytes]) -> Any:
    """The root element of an XML document, parsed with defusedxml (entity declarations and
    external references refused) and refused once it holds more elements than the limit,
    counted as they are parsed. ParseError and DefusedXmlException go to the caller."""
    limit = current().xml_elements
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    root = None
    for count, (_, element) in enumerate(safe_et.iterparse(stream, events=("start",)), 1):
        if root is None:
            root = element
        if count > limit:
            raise _exceeded("too_many_elements", f"XML 文件超过 {limit:,} 个元素的上限")
    if root is None:  # iterparse raises on an empty document; kept for the type checker
        error = safe_et.ParseError("no element found")
        error.position = (1, 0)
        raise error
    return root
