"""Uploaded files read whole, within their route's size limit (api/limits.py).

The body limit middleware has already cut off a body far over the limit while it was sent;
this checks the file itself exactly, reading one byte past the limit, never the whole of an
oversized file.
"""


from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, File, Request, UploadFile

from api.limits import SizeLimit
from georeg.config import Settings
from georeg.errors import FieldError, GeoregError, PayloadTooLarge

T = TypeVar("T")


def _check(data: bytes, limit: SizeLimit, settings: Settings) -> bytes:
    if len(data) > limit.max_bytes(settings):
        message = limit.message(settings)
        raise PayloadTooLarge(message, [FieldError("file", "too_large", message)])
    return data


def read_upload(file: UploadFile, limit: SizeLimit, settings: Settings) -> bytes:
    """The file's bytes, for a plain def (run in the thread pool; the upload is spooled)."""
    return _check(file.file.read(limit.max_bytes(settings) + 1), limit, settings)


async def read_upload_async(file: UploadFile, limit: SizeLimit, settings: Settings) -> bytes:
    """The same for an async handler (Starlette reads a file spooled to disk in a thread)."""
    return _check(await file.read(limit.max_bytes(settings) + 1), limit, settings)


# --- parsed before the transaction --------------------------------------------------------------

@dataclass(frozen=True)
class Parsed(Generic[T]):
    """An upload read and parsed by a dependency solved before the request's transaction opens
    (no pool connection is held while a file is parsed). A file error is kept, not raised,
    so that the handler checks the account first: a refused account learns nothing of it."""

    filename: str
    value: T | None = None
    error: GeoregError | None = None

    def get(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def parsed_upload(limit: SizeLimit, parse: Callable[[bytes, str], T], description: str = ""
                  ) -> Any:
    """A dependency: the route's file read within `limit`, then `parse(data, filename)`.

    A plain def: FastAPI runs it in the thread pool, off the event loop. Declare it before
    the Db and CurrentAccount parameters, which FastAPI then solves after it."""

    def dependency(request: Request,
                   file: Annotated[UploadFile, File(description=description)]) -> Parsed[T]:
        name = file.filename or ""
        settings = request.app.state.settings
        try:
            return Parsed(name, value=parse(read_upload(file, limit, settings), name))
        except GeoregError as e:
            return Parsed(name, error=e)

    return Depends(dependency)
