"""`georeg tls init`: the county-local CA and the server certificate (georeg.tls)."""

from __future__ import annotations

import click

from cli.base import fail, main
from georeg.config import Settings
from georeg.tls import ca_fingerprint, init_tls


@main.group("tls")
def tls() -> None:
    """HTTPS 证书：县级本地根证书与服务器证书。"""


@tls.command("init")
@click.option("--host", "hosts", multiple=True, required=True,
              help="服务器的内网 IP 或域名，可重复：--host 10.1.2.3 --host georeg.local")
@click.pass_obj
def tls_init(settings: Settings, hosts: tuple[str, ...]) -> None:
    """生成（或沿用）本地根证书，并签发新的服务器证书（有效期 2 年）。"""
    existed = (settings.state_dir / "tls" / "ca.key").exists()
    try:
        files = init_tls(settings.state_dir, list(hosts))
    except ValueError as e:
        fail(str(e))
    click.echo(("沿用已有的" if existed else "已生成") + f"本地根证书：{files.ca_cert}", err=True)
    click.echo(f"根证书 SHA-256 指纹：{ca_fingerprint(files.ca_cert)}", err=True)
    click.echo(f"服务器证书：{files.cert}（{'、'.join(hosts)}）", err=True)
    click.echo(f"服务器私钥：{files.key}", err=True)
    click.echo("请在办公电脑和手机上安装根证书（见 README「HTTPS」），然后启动：\n"
               f"  georeg serve --host 0.0.0.0 --port 8443 --tls-cert {files.cert} "
               f"--tls-key {files.key}", err=True)
    click.echo(str(files.ca_cert))  # stdout: the path to install, for scripts
