"""The `georeg` command line: an interface over the kernel, the grids, the importers and the API.

One module per command group (`accounts` with `init`, `audit`, `backup`, `db`, `load`, `imports`,
`grids`, `reports`, `credit`, `sampling`, `maps`, `serve`, `tls`); `base` holds the `main` group
and what the commands share. The command line holds no SQL: it calls domain functions. It may
import every layer, and nothing imports it. Modules that take long to load (numpy, shapely,
openpyxl, numba, the API app) are imported inside the commands that need them, so `georeg --help`
stays quick.
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

# Each command module registers its commands on `main` when imported.
from cli import (
    accounts,
    audit,
    backup,
    credit,
    db,
    grids,
    imports,
    load,
    maps,
    reports,
    sampling,
    serve,
    tls,
)
from cli.base import fail, main, step
from georeg.database import MigrationChanged
from georeg.errors import GeoregError

__all__ = ["accounts", "audit", "backup", "credit", "db", "fail", "grids", "imports", "load",
           "main", "maps", "reports", "run", "sampling", "serve", "step", "tls"]


def run() -> None:
    """Entry point: known failures end with a readable message and a non-zero exit."""
    try:
        main(standalone_mode=True)
    except MigrationChanged as e:
        fail(str(e))
    except GeoregError as e:
        details = "；".join(f"{x.field}：{x.message}" for x in e.errors)
        fail(e.detail + (f"（{details}）" if details else ""))
    except OperationalError:
        fail("无法连接数据库：请先运行 georeg db up，或检查 GEOREG_DATABASE_URL")
