"""`georeg serve`: the API and the map pages under uvicorn.

uvicorn and the API app are imported inside the command: building the app loads every router
and the sampling package (numba), seconds that the other commands should not pay.
"""

from __future__ import annotations

import click

from cli.base import main
from georeg.config import Settings


@main.command("serve")
@click.option("--host", default=None, help="默认 127.0.0.1")
@click.option("--port", default=None, type=int, help="默认 8000")
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="服务进程数（默认 1，GEOREG_WORKERS）；多核服务器可设为核数")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None,
          workers: int | None) -> None:
    """启动 API 与地图服务。"""
    import uvicorn  # lazy: see the module docstring

    from api.app import create_app

    host, port = host or settings.host, port or settings.port
    workers = workers or settings.workers
    click.echo(f"georeg 服务：http://{host}:{port}/ （接口文档 /docs）", err=True)
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    else:  # each process builds its app from the same GEOREG_* environment
        uvicorn.run("api.app:create_app", factory=True, workers=workers, host=host, port=port,
                    log_level="info")
