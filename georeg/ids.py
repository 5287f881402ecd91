"""Validation and normalisation of Chinese identifiers.

Covers the unified social credit code (统一社会信用代码, GB 32100-2015), the
resident identity number (公民身份号码, GB 11643-1999) and mainland phone numbers.

Error messages are shown to users and may end up in logs, so they never contain
the submitted value: a resident ID number or phone is personal data.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

__all__ = [
    "EARLIEST_BIRTH_DATE",
    "IdentifierError",
    "normalize_phone",
    "normalize_resident_id",
    "normalize_uscc",
    "resident_id_check_char",
    "uscc_check_char",
]


class IdentifierError(ValueError):
    """An identifier failed validation.

    `code` is a stable machine-readable reason; `message` is zh-CN text for the user.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"IdentifierError(code={self.code!r}, message={self.message!r})"


def _clean(value: str) -> str:
    # NFKC folds full-width digits/letters typed with a Chinese IME (e.g. "９１３５")
    # to ASCII; inner spaces and dashes are common when codes are copied from PDFs.
    text = unicodedata.normalize("NFKC", value)
    return re.sub(r"[\s\-]", "", text).upper()


# --- Unified social credit code (GB 32100-2015) ---------------------------------

# 31 characters: digits and upper-case letters without I, O, S, V, Z.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
# Weight of position i (0-based) is 3**i mod 31.
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))

# GB 32100-2015 Annex A: registration authority (position 1) -> allowed organisation
# categories (position 2).
USCC_AUTHORITY_CATEGORIES: dict[str, frozenset[str]] = {
    "1": frozenset("1239"),  # 机构编制
    "2": frozenset("19"),  # 外交
    "3": frozenset("123459"),  # 司法行政
    "4": frozenset("19"),  # 文化
    "5": frozenset("1239"),  # 民政
    "6": frozenset("129"),  # 旅游
    "7": frozenset("129"),  # 宗教
    "8": frozenset("19"),  # 工会
    "9": frozenset("123"),  # 工商 (93 = 农民专业合作社)
    "A": frozenset("19"),  # 中央军委改革和编制办公室
    "N": frozenset("1239"),  # 农业 (农村集体经济组织)
    "Y": frozenset("1"),  # 其他
}


def _uscc_check_value(first17: str) -> str:
    total = sum(_USCC_VALUES[ch] * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    c = 31 - total % 31
    return USCC_ALPHABET[0 if c == 31 else c]


def uscc_check_char(first17: str) -> str:
    """Return the check character (position 18) for the first 17 characters of a USCC."""
    text = _clean(first17)
    if len(text) != 17:
        raise IdentifierError("uscc_length", "统一社会信用代码前17位长度错误")
    if any(ch not in _USCC_VALUES for ch in text):
        raise IdentifierError("uscc_charset", "统一社会信用代码含有不允许的字符")
    return _uscc_check_value(text)


def normalize_uscc(value: str) -> str:
    """Validate a unified social credit code and return it in canonical upper-case form.

    Raises IdentifierError with code uscc_length, uscc_charset, uscc_authority,
    uscc_region or uscc_check.
    """
    text = _clean(value)
    if len(text) != 18:
        raise IdentifierError("uscc_length", "统一社会信用代码应为18位")
    if any(ch not in _USCC_VALUES for ch in text):
        raise IdentifierError(
            "uscc_charset", "统一社会信用代码只能包含数字和大写字母（不含I、O、Z、S、V）"
        )
    categories = USCC_AUTHORITY_CATEGORIES.get(text[0])
    if categories is None or text[1] not in categories:
        raise IdentifierError(
            "uscc_authority", "统一社会信用代码的登记管理部门代码或机构类别代码无效"
        )
    if not text[2:8].isdigit():
        raise IdentifierError("uscc_region", "统一社会信用代码第3-8位应为行政区划代码")
    # Positions 9-17 carry the GB 11714 organisation code, which has its own check
    # character. It is deliberately NOT verified: many codes issued in practice
    # (e.g. by market regulators assigning "MA..." subject codes) do not satisfy it,
    # and GB 32100 only mandates the position-18 check.
    if text[17] != _uscc_check_value(text[:17]):
        raise IdentifierError("uscc_check", "统一社会信用代码校验位错误")
    return text


# --- Resident identity number (GB 11643-1999) -----------------------------------

# Province-level codes of GB/T 2260 (71 Taiwan, 81 Hong Kong, 82 Macao).
PROVINCE_CODES: frozenset[str] = frozenset(
    [str(n) for n in range(11, 16)]
    + [str(n) for n in range(21, 24)]
    + [str(n) for n in range(31, 38)]
    + [str(n) for n in range(41, 47)]
    + [str(n) for n in range(50, 55)]
    + [str(n) for n in range(61, 66)]
    + ["71", "81", "82"]
)
# Catches typos such as 1099 for 1990; the registry has no owners born earlier.
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
# ISO 7064 MOD 11-2: weight of position i (0-based) is 2**(17-i) mod 11.
_RID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_RID_CHECK = "10X98765432"
_RID_RE = re.compile(r"[0-9]{17}[0-9X]")


def _rid_check_value(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _RID_WEIGHTS, strict=True))
    return _RID_CHECK[total % 11]


def resident_id_check_char(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character for the first 17 digits."""
    text = _clean(first17)
    if len(text) != 17:
        raise IdentifierError("resident_id_length", "公民身份号码前17位长度错误")
    if not re.fullmatch(r"[0-9]{17}", text):
        raise IdentifierError("resident_id_format", "公民身份号码前17位应为数字")
    return _rid_check_value(text)


def normalize_resident_id(
    value: str,
    today: date | None = None,
    *,
    earliest: date = EARLIEST_BIRTH_DATE,
) -> str:
    """Validate an 18-digit resident identity number and return it (trailing X upper-case).

    The birth date must lie between `earliest` and `today` (default: the current date).
    Raises IdentifierError with code resident_id_length, resident_id_format,
    resident_id_region, resident_id_birth_date or resident_id_check.
    """
    text = _clean(value)
    if len(text) != 18:
        raise IdentifierError("resident_id_length", "公民身份号码应为18位")
    if not _RID_RE.fullmatch(text):
        raise IdentifierError(
            "resident_id_format", "公民身份号码格式错误：前17位应为数字，末位为数字或X"
        )
    if text[:2] not in PROVINCE_CODES:
        raise IdentifierError("resident_id_region", "公民身份号码的地址码无效")
    try:
        birth = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        birth = None
    upper = today if today is not None else date.today()
    if birth is None or not earliest <= birth <= upper:
        raise IdentifierError("resident_id_birth_date", "公民身份号码中的出生日期无效")
    if text[17] != _rid_check_value(text[:17]):
        raise IdentifierError("resident_id_check", "公民身份号码校验位错误")
    return text


# --- Phone numbers --------------------------------------------------------------

_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")
# Two-digit area codes are 10 and 2x; all others have three digits and start 3-9.
# Local numbers are 7-8 digits and do not start with 0 or 1.
_FIXED_RE = re.compile(r"0(?:10|2[0-9]|[3-9][0-9]{2})[2-9][0-9]{6,7}")
_PHONE_ERROR = "电话号码格式错误：应为11位手机号码或带区号的固定电话号码"


def normalize_phone(value: str) -> str:
    """Validate a mainland phone number and return its digits.

    Mobile: 11 digits starting 13-19, optionally with +86 / 0086 / 86 prefix.
    Fixed line: 0 + area code + local number, e.g. "0595-23232323" -> "059523232323";
    with an international prefix the trunk 0 is restored ("+86 595 2323 2323").
    Raises IdentifierError with code phone_format.
    """
    text = re.sub(r"[()（）.]", "", _clean(value))
    international = False
    if text.startswith("+86"):
        text, international = text[3:], True
    elif text.startswith("0086"):
        text, international = text[4:], True
    elif len(text) == 13 and text.startswith("861"):
        # Bare country code only for mobiles: "86..." could otherwise be a local number.
        text = text[2:]
    if not text.isascii() or not text.isdigit():
        raise IdentifierError("phone_format", _PHONE_ERROR)
    if _MOBILE_RE.fullmatch(text):
        return text
    if international and not text.startswith("0"):
        text = "0" + text
    if _FIXED_RE.fullmatch(text):
        return text
    raise IdentifierError("phone_format", _PHONE_ERROR)
