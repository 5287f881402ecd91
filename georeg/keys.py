"""Secrets the demo generates under the state folder when the environment names none."""

from __future__ import annotations

import secrets
from pathlib import Path

from georeg.config import Settings
from georeg.pii import PiiCipher


def _key_file(path: Path, create: bool) -> str:
    if not path.exists():
        if not create:
            raise RuntimeError(f"缺少密钥文件 {path}：请设置环境变量 GEOREG_PII_KEY，"
                               "或先运行 georeg init（演示：georeg load anxi-2023）")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def pii_cipher(settings: Settings, *, create: bool = False) -> PiiCipher:
    text = settings.pii_key or _key_file(settings.state_dir / "pii.key", create)
    return PiiCipher.from_key_text(text)
