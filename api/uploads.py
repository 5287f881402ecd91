"""Uploaded files read whole, within an endpoint's size limit: the one owner of the 413 answer.

Each endpoint names its limit; a file over it is refused before any of it is parsed. Reading
one byte past the limit is enough to know, so an oversized file is never held whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import UploadFile

from georeg.errors import FieldError, PayloadTooLarge

MB = 1024 * 1024


@dataclass(frozen=True)
class SizeLimit:
    megabytes: int
    advice: str  # zh-CN: what to do instead, e.g. 请分批导入

    @property
    def max_bytes(self) -> int:
        return self.megabytes * MB

    def check(self, data: bytes) -> bytes:
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(f"文件超过 {self.megabytes} MB，{self.advice}",
                                  [FieldError("file", "too_large", "文件过大")])
        return data


# Table sheets: credit events, rapid-test results, the MRL table.
SHEET_LIMIT = SizeLimit(10, "请分批导入")
# Field point files (GeoJSON, CSV, XLSX, GPX, KML) for provenance collection.
POINT_FILE_LIMIT = SizeLimit(50, "请分批上传")


def read_upload(file: UploadFile, limit: SizeLimit | None = None) -> bytes:
    """The file's bytes, for a plain-def handler (FastAPI runs it in the thread pool and the
    upload is already spooled to a temporary file). No limit: the whole file, as sent."""
    if limit is None:
        return file.file.read()
    return limit.check(file.file.read(limit.max_bytes + 1))


async def read_upload_async(file: UploadFile, limit: SizeLimit | None = None) -> bytes:
    """The same for an async handler (Starlette reads a file spooled to disk in a thread)."""
    if limit is None:
        return await file.read()
    return limit.check(await file.read(limit.max_bytes + 1))
