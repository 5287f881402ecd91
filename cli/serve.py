"""`georeg serve`: the API and the map pages under uvicorn, over HTTPS given a certificate.

uvicorn and the API app are imported inside the command: building the app loads every router
and the sampling package (numba), seconds that the other commands should not pay.
"""

from __future__ import annotations

from pathlib import Path

import click

from cli.base import fail, main
from georeg.config import Settings
from georeg.logs import server_log_config

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@main.command("serve")
@click.option("--host", default=None, help="默认 127.0.0.1")
@click.option("--port", default=None, type=int, help="默认 8000")
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="服务进程数（默认 1，GEOREG_WORKERS）；多核服务器可设为核数")
@click.option("--tls-cert", default=None, type=_FILE,
              help="HTTPS 证书（PEM，可含证书链；GEOREG_TLS_CERT），见 georeg tls init")
@click.option("--tls-key", default=None, type=_FILE, help="HTTPS 私钥（PEM；GEOREG_TLS_KEY）")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None, workers: int | None,
          tls_cert: Path | None, tls_key: Path | None) -> None:
    """启动 API 与地图服务（给出证书与私钥时为 HTTPS）。"""
    import uvicorn  # lazy: see the module docstring

    from api.app import create_app

    host, port = host or settings.host, port or settings.port
    workers = workers or settings.workers
    cert, key = tls_cert or settings.tls_cert, tls_key or settings.tls_key
    if (cert is None) != (key is None):
        fail("HTTPS 需要同时给出证书与私钥（--tls-cert 与 --tls-key，或 GEOREG_TLS_CERT 与 "
             "GEOREG_TLS_KEY）")
    for path in (cert, key):
        if path is not None and not path.is_file():
            fail(f"找不到文件 {path}")
    scheme = "https" if cert else "http"
    click.echo(f"georeg 服务：{scheme}://{host}:{port}/ （接口文档 /docs）", err=True)
    options = {"host": host, "port": port, "log_level": "info",
               "log_config": server_log_config(),  # personal numbers masked in every log line
               "ssl_certfile": str(cert) if cert else None,
               "ssl_keyfile": str(key) if key else None}
    if workers == 1:
        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
    else:  # each process builds its app from the same GEOREG_* environment
        uvicorn.run("api.app:create_app", factory=True, workers=workers,
                    **options)  # type: ignore[arg-type]
