"""Tests for georeg.pii."""

from __future__ import annotations

import base64

import pytest

from georeg.pii import (
    PiiCipher,
    PiiDecryptionError,
    fingerprint,
    generate_key_text,
    mask_phone,
    mask_resident_id,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
RID = "11010519491231002X"  # GB 11643-1999 example, not a real person's number
PHONE = "13812345678"


@pytest.fixture
def cipher() -> PiiCipher:
    return PiiCipher(KEY)


# --- lookup hashes -------------------------------------------------------------


def test_hash_is_deterministic(cipher: PiiCipher) -> None:
    first = cipher.lookup_hash("resident_id", RID)
    assert first == cipher.lookup_hash("resident_id", RID)
    assert first == PiiCipher(KEY).lookup_hash("resident_id", RID)
    assert len(first) == 32


def test_hash_depends_on_key(cipher: PiiCipher) -> None:
    assert cipher.lookup_hash("phone", PHONE) != PiiCipher(OTHER_KEY).lookup_hash("phone", PHONE)


def test_hash_depends_on_kind(cipher: PiiCipher) -> None:
    assert cipher.lookup_hash("phone", PHONE) != cipher.lookup_hash("resident_id", PHONE)


def test_hash_depends_on_value(cipher: PiiCipher) -> None:
    assert cipher.lookup_hash("phone", PHONE) != cipher.lookup_hash("phone", "13812345679")


def test_unknown_kind_rejected(cipher: PiiCipher) -> None:
    with pytest.raises(ValueError):
        cipher.lookup_hash("name", "张三")
    with pytest.raises(ValueError):
        cipher.encrypt("resident", RID)


# --- encryption ----------------------------------------------------------------


@pytest.mark.parametrize(("kind", "value"), [("resident_id", RID), ("phone", PHONE)])
def test_roundtrip(cipher: PiiCipher, kind: str, value: str) -> None:
    assert cipher.decrypt(kind, cipher.encrypt(kind, value)) == value


def test_roundtrip_non_ascii(cipher: PiiCipher) -> None:
    assert cipher.decrypt("phone", cipher.encrypt("phone", "０５９５")) == "０５９５"


def test_ciphertext_randomised_and_opaque(cipher: PiiCipher) -> None:
    a = cipher.encrypt("resident_id", RID)
    b = cipher.encrypt("resident_id", RID)
    assert a != b
    assert a[:12] != b[:12]  # fresh nonce each time
    assert len(a) == 12 + len(RID) + 16
    for blob in (a, b):
        assert RID.encode() not in blob
        assert RID[-8:].encode() not in blob


def test_tampered_ciphertext_rejected(cipher: PiiCipher) -> None:
    blob = bytearray(cipher.encrypt("resident_id", RID))
    for index in (0, 12, len(blob) - 1):  # nonce, body, tag
        tampered = bytearray(blob)
        tampered[index] ^= 0x01
        with pytest.raises(PiiDecryptionError):
            cipher.decrypt("resident_id", bytes(tampered))


def test_truncated_ciphertext_rejected(cipher: PiiCipher) -> None:
    blob = cipher.encrypt("phone", PHONE)
    with pytest.raises(PiiDecryptionError):
        cipher.decrypt("phone", blob[:20])
    with pytest.raises(PiiDecryptionError):
        cipher.decrypt("phone", b"")


def test_wrong_kind_rejected(cipher: PiiCipher) -> None:
    blob = cipher.encrypt("phone", PHONE)
    with pytest.raises(PiiDecryptionError):
        cipher.decrypt("resident_id", blob)


def test_wrong_key_rejected(cipher: PiiCipher) -> None:
    blob = cipher.encrypt("phone", PHONE)
    with pytest.raises(PiiDecryptionError):
        PiiCipher(OTHER_KEY).decrypt("phone", blob)


def test_decryption_error_is_value_error(cipher: PiiCipher) -> None:
    with pytest.raises(ValueError):
        cipher.decrypt("phone", bytes(40))


# --- keys ----------------------------------------------------------------------


def test_short_key_rejected() -> None:
    with pytest.raises(ValueError):
        PiiCipher(bytes(31))


def test_key_not_in_repr(cipher: PiiCipher) -> None:
    assert KEY.hex() not in repr(cipher)
    assert "redacted" in repr(cipher)


def test_generate_key_text() -> None:
    text = generate_key_text()
    assert len(base64.urlsafe_b64decode(text)) == 32
    assert text != generate_key_text()
    PiiCipher.from_key_text(text)


@pytest.mark.parametrize(
    "text",
    [
        KEY.hex(),
        KEY.hex().upper(),
        base64.urlsafe_b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode().rstrip("="),
        "  " + base64.urlsafe_b64encode(KEY).decode() + "\n",
    ],
)
def test_from_key_text_formats(cipher: PiiCipher, text: str) -> None:
    expected = cipher.lookup_hash("phone", PHONE)
    assert PiiCipher.from_key_text(text).lookup_hash("phone", PHONE) == expected


def test_from_key_text_urlsafe_alphabet() -> None:
    key = bytes([0xFB, 0xFF] * 16)  # encodes to "-" and "_" in urlsafe base64
    text = base64.urlsafe_b64encode(key).decode()
    assert "-" in text or "_" in text
    expected = PiiCipher(key).lookup_hash("phone", PHONE)
    assert PiiCipher.from_key_text(text).lookup_hash("phone", PHONE) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a key!",
        bytes(16).hex(),  # too short
        base64.urlsafe_b64encode(bytes(16)).decode(),  # too short
        "A",  # impossible base64 length
    ],
)
def test_from_key_text_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        PiiCipher.from_key_text(text)


# --- fingerprint and masking -----------------------------------------------------


def test_fingerprint(cipher: PiiCipher) -> None:
    digest = cipher.lookup_hash("resident_id", RID)
    fp = fingerprint(digest)
    assert fp == digest.hex()[:12]
    assert len(fp) == 12
    assert fingerprint(bytes.fromhex("0123456789abcdef")) == "0123456789ab"


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("350524199001011234", "350524********1234"),
        ("11010519491231002X", "110105********002X"),
        ("350524900101123", "350524******123"),  # 15-digit legacy number
        ("12345", "*****"),
        ("", ""),
    ],
)
def test_mask_resident_id(value: str, masked: str) -> None:
    assert mask_resident_id(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13812345678", "138****5678"),
        ("059523232323", "0595******23"),
        ("05952323232", "0595*****32"),
        ("01062345678", "010******78"),
        ("02154321234", "021******34"),
        ("12345", "*****"),
        ("138-1234-5678", "*************"),
    ],
)
def test_mask_phone(value: str, masked: str) -> None:
    assert mask_phone(value) == masked
