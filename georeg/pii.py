"""Protection of personal data: resident identity numbers and phone numbers.

Values are stored twice: an HMAC for exact-match lookup and an AES-256-GCM
ciphertext for authorised display. The hash must be keyed: valid ID numbers and
phones form a space small enough (~10^11) to enumerate against a plain hash.

Every full view or export of personal data is recorded in pii_access, only through
`record_pii_access`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import BigInteger, Connection, Text, func, insert, literal, select
from sqlalchemy.dialects.postgresql import ARRAY

from georeg.tables import pii_access

if TYPE_CHECKING:
    from georeg.accounts import Account

__all__ = [
    "KINDS",
    "MIN_KEY_BYTES",
    "PiiCipher",
    "PiiDecryptionError",
    "fingerprint",
    "generate_key_text",
    "mask_phone",
    "mask_resident_id",
    "record_pii_access",
]

KINDS: frozenset[str] = frozenset({"resident_id", "phone"})
MIN_KEY_BYTES = 32
_NONCE_BYTES = 12
_HMAC_INFO = b"georeg-pii-hmac"
_AEAD_INFO = b"georeg-pii-aead"


class PiiDecryptionError(ValueError):
    """Ciphertext is corrupt, was tampered with, or belongs to another key or kind."""


def _check_kind(kind: str) -> bytes:
    # A closed set catches typos that would silently produce unmatchable hashes.
    if kind not in KINDS:
        raise ValueError(f"unknown PII kind: {kind!r}")
    return kind.encode("ascii")


def _derive(master_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master_key)


class PiiCipher:
    """Keyed hashing and authenticated encryption of PII values.

    Separate HKDF sub-keys keep the lookup hash and the ciphertext independent:
    leaking one sub-key does not expose the other.
    """

    __slots__ = ("_aead", "_hmac_key")

    def __init__(self, master_key: bytes) -> None:
        if not isinstance(master_key, bytes | bytearray):
            raise TypeError("master_key must be bytes")
        if len(master_key) < MIN_KEY_BYTES:
            raise ValueError(f"master key must be at least {MIN_KEY_BYTES} bytes")
        key = bytes(master_key)
        self._hmac_key = _derive(key, _HMAC_INFO)
        self._aead = AESGCM(_derive(key, _AEAD_INFO))

    def __repr__(self) -> str:
        # Never let key material reach logs or tracebacks.
        return "PiiCipher(<redacted>)"

    @classmethod
    def from_key_text(cls, text: str) -> PiiCipher:
        """Build from a key given as hex or urlsafe base64 (padding optional)."""
        raw = text.strip()
        if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", raw) and len(raw) >= 2 * MIN_KEY_BYTES:
            return cls(bytes.fromhex(raw))
        if not re.fullmatch(r"[A-Za-z0-9_\-]+={0,2}", raw):
            raise ValueError("key text must be hex or urlsafe base64")
        padded = raw.rstrip("=") + "=" * (-len(raw.rstrip("=")) % 4)
        try:
            key = base64.urlsafe_b64decode(padded)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("key text must be hex or urlsafe base64") from exc
        return cls(key)

    def lookup_hash(self, kind: str, normalized_value: str) -> bytes:
        """HMAC-SHA256 of kind NUL value; equal strings of different kinds differ."""
        message = _check_kind(kind) + b"\x00" + normalized_value.encode("utf-8")
        return hmac.new(self._hmac_key, message, hashlib.sha256).digest()

    def encrypt(self, kind: str, value: str) -> bytes:
        """AES-256-GCM; returns nonce (12 bytes) + ciphertext + tag, kind bound as AAD."""
        aad = _check_kind(kind)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, value.encode("utf-8"), aad)

    def decrypt(self, kind: str, blob: bytes) -> str:
        """Inverse of encrypt; raises PiiDecryptionError on any mismatch."""
        aad = _check_kind(kind)
        if len(blob) < _NONCE_BYTES + 16:
            raise PiiDecryptionError("个人信息密文格式错误")
        nonce, body = bytes(blob[:_NONCE_BYTES]), bytes(blob[_NONCE_BYTES:])
        try:
            plain = self._aead.decrypt(nonce, body, aad)
        except InvalidTag as exc:
            raise PiiDecryptionError("个人信息密文无法解密（密钥错误或数据被篡改）") from exc
        return plain.decode("utf-8")


def generate_key_text() -> str:
    """A fresh 32-byte master key as urlsafe base64, for configuration files."""
    return base64.urlsafe_b64encode(secrets.token_bytes(MIN_KEY_BYTES)).decode("ascii")


def fingerprint(value_hash: bytes) -> str:
    """Short hex tag (12 chars) of a lookup hash, for logs instead of the number."""
    return value_hash.hex()[:12]


def mask_resident_id(value: str) -> str:
    """350524199001011234 -> 350524********1234; 15-digit legacy: 6 + ****** + 3.

    Anything else is fully masked rather than partially leaked.
    """
    text = value.strip()
    if len(text) == 18:
        return text[:6] + "*" * 8 + text[-4:]
    if len(text) == 15:
        return text[:6] + "*" * 6 + text[-3:]
    return "*" * len(text)


def _area_code_length(fixed: str) -> int:
    # 010 and 02x are the only two-digit area codes; the rest have three digits.
    return 3 if fixed.startswith(("01", "02")) else 4


def mask_phone(value: str) -> str:
    """Mobile 13812345678 -> 138****5678; fixed 059523232323 -> 0595******23.

    Expects a normalised number (see georeg.ids.normalize_phone); other input is
    fully masked.
    """
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        return "*" * len(text)
    if len(text) == 11 and text.startswith("1"):
        return text[:3] + "****" + text[-4:]
    if text.startswith("0") and 10 <= len(text) <= 12:
        area = _area_code_length(text)
        return text[:area] + "*" * (len(text) - area - 2) + text[-2:]
    return "*" * len(text)


def record_pii_access(conn: Connection, *, account: Account, entity_ids: Iterable[int],
                      fields: Sequence[str], purpose: str) -> int:
    """Record that `account` saw or exported `fields` of each entity (who, when, what, why).

    One row per distinct entity, in the order given, written by a single INSERT ... SELECT
    over unnest however many entities an export carries. Returns the number of rows written
    (no entities, no statement)."""
    ids = list(dict.fromkeys(entity_ids))
    if not ids:
        return 0
    rows = select(literal(account.id, BigInteger), func.unnest(literal(ids, ARRAY(BigInteger))),
                  literal(list(fields), ARRAY(Text)), literal(purpose, Text))
    conn.execute(insert(pii_access).from_select(
        ["account_id", "entity_id", "fields", "purpose"], rows))
    return len(ids)
