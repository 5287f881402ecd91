"""Tests for georeg.ids.

Published codes and their sources:
- 11010519491231002X, 440524188001010014: the worked examples in GB 11643-1999.
- 360426199101010071, 44011320141005001X: python-stdnum tests/test_cn_ric.doctest.
- 914403001922038216 (华为技术有限公司) and 9144030071526726XG (深圳市腾讯计算机系统
  有限公司), as widely published for those companies; Tencent's is also in
  python-stdnum tests/test_cn_uscc.doctest, which lists 91110000600037341L,
  121200004013590816, 91620105L015101280 and 92340621MA2UK3PJXE as real codes found online.
- 91350100M000100Y4Z: the check-digit worked example reproduced in many write-ups of
  GB 32100 (sum 1640, mod 31 = 28, check "3"; not confirmed against the standard's own
  text), so ...Y43 is valid and ...Y4Z is not.
- 93350524593466059U: a 93 (farmers' cooperative) code with Anxi's division 350524,
  a valid fixture in a public JS validator's test suite.
Every valid code above was re-checked by hand with the GB 32100 / ISO 7064 algorithm.
"""

from __future__ import annotations

from datetime import date

import pytest

from georeg.ids import (
    IdentifierError,
    normalize_phone,
    normalize_resident_id,
    normalize_uscc,
    resident_id_check_char,
    uscc_check_char,
)

TODAY = date(2024, 6, 1)


# --- USCC ----------------------------------------------------------------------

PUBLISHED_USCC = [
    "914403001922038216",
    "9144030071526726XG",
    "91110000600037341L",
    "121200004013590816",
    "91620105L015101280",
    "92340621MA2UK3PJXE",
    "91350100M000100Y43",
    "93350524593466059U",
]


@pytest.mark.parametrize("code", PUBLISHED_USCC)
def test_published_uscc_valid(code: str) -> None:
    assert normalize_uscc(code) == code
    assert uscc_check_char(code[:17]) == code[17]


def test_gb32100_worked_example() -> None:
    # The widely reproduced worked example: weighted sum 1640, 1640 mod 31 = 28, 31 - 28 = 3.
    assert uscc_check_char("91350100M000100Y4") == "3"
    with pytest.raises(IdentifierError) as exc:
        normalize_uscc("91350100M000100Y4Z")
    # Z is outside the alphabet, so the charset rule fires before the check.
    assert exc.value.code == "uscc_charset"


@pytest.mark.parametrize(
    "first17",
    [
        "93350524MA2Y0Q1K8",  # farmers' cooperative in Anxi
        "N2350524MA2Y0Q1K8",  # rural collective economic organisation (股份经济合作社)
        "N1350524MA2Y0Q1K8",
        "Y1350524MA2Y0Q1K8",
        "A1110000MA2Y0Q1K8",
        "51350524MA2Y0Q1K8",
    ],
)
def test_generated_codes_roundtrip(first17: str) -> None:
    code = first17 + uscc_check_char(first17)
    assert normalize_uscc(code) == code


def test_uscc_normalisation() -> None:
    assert normalize_uscc("  9144030071526726xg ") == "9144030071526726XG"
    assert normalize_uscc("91 110000 600037341L") == "91110000600037341L"
    # Full-width input from a Chinese IME.
    assert normalize_uscc("９１４４０３００１９２２０３８２１６") == "914403001922038216"


@pytest.mark.parametrize(
    ("code", "error_code"),
    [
        ("914403001922038217", "uscc_check"),
        ("9144030071526726XH", "uscc_check"),
        ("91110000600037341N", "uscc_check"),
        ("93350524593466059X", "uscc_check"),
        ("9111000060003IOZSV", "uscc_charset"),
        ("91440300192203821I", "uscc_charset"),
        ("914403001922O38216", "uscc_charset"),
        ("9144030019220382Z6", "uscc_charset"),
        ("914403001922038S16", "uscc_charset"),
        ("91440300192203V216", "uscc_charset"),
        ("94440300192203821X", "uscc_authority"),  # 工商 has no category 4
        ("22440300192203821X", "uscc_authority"),  # 外交 has only 1 and 9
        ("Y9440300192203821X", "uscc_authority"),
        ("B1440300192203821X", "uscc_authority"),  # no such authority
        ("01440300192203821X", "uscc_authority"),
        ("9144A3001922038216", "uscc_region"),
        ("91440300192203821", "uscc_length"),
        ("9144030019220382160", "uscc_length"),
        ("", "uscc_length"),
    ],
)
def test_invalid_uscc(code: str, error_code: str) -> None:
    with pytest.raises(IdentifierError) as exc:
        normalize_uscc(code)
    assert exc.value.code == error_code
    assert exc.value.message
    if code:
        assert code not in str(exc.value)


def test_uscc_check_char_rejects_bad_input() -> None:
    with pytest.raises(IdentifierError):
        uscc_check_char("9144030019220382")
    with pytest.raises(IdentifierError):
        uscc_check_char("91440300192203O21")


# --- Resident ID ---------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    ["11010519491231002X", "360426199101010071", "44011320141005001X"],
)
def test_published_resident_ids_valid(number: str) -> None:
    assert normalize_resident_id(number, today=TODAY) == number
    assert resident_id_check_char(number[:17]) == number[17]


def test_gb11643_example_born_1880() -> None:
    # GB 11643's second example is born 1880-01-01: its check digit is right, but
    # the registry's 1900 lower bound rejects it unless the bound is lowered.
    number = "440524188001010014"
    assert resident_id_check_char(number[:17]) == "4"
    with pytest.raises(IdentifierError) as exc:
        normalize_resident_id(number, today=TODAY)
    assert exc.value.code == "resident_id_birth_date"
    assert normalize_resident_id(number, today=TODAY, earliest=date(1880, 1, 1)) == number


def test_resident_id_lower_case_x() -> None:
    assert normalize_resident_id(" 11010519491231002x ", today=TODAY) == "11010519491231002X"


def test_resident_id_default_today() -> None:
    assert normalize_resident_id("11010519491231002X") == "11010519491231002X"


def _with_check(first17: str) -> str:
    return first17 + resident_id_check_char(first17)


@pytest.mark.parametrize(
    ("number", "error_code"),
    [
        ("110105194912310021", "resident_id_check"),  # flipped check digit of ...002X
        ("440113201410050019", "resident_id_check"),  # ...001X with a digit
        ("360426199101010072", "resident_id_check"),
        ("36042619910102009X", "resident_id_check"),  # python-stdnum invalid example
        (_with_check("35052419000231001"), "resident_id_birth_date"),  # 1900-02-31
        (_with_check("35052419010229001"), "resident_id_birth_date"),  # not a leap year
        (_with_check("36042619911301007"), "resident_id_birth_date"),  # month 13
        (_with_check("35052420240602001"), "resident_id_birth_date"),  # after TODAY
        (_with_check("35052418991231001"), "resident_id_birth_date"),  # before 1900
        (_with_check("99042619910101007"), "resident_id_region"),
        (_with_check("10052419910101007"), "resident_id_region"),
        (_with_check("83052419910101007"), "resident_id_region"),
        ("T60426199101010078", "resident_id_format"),
        ("3604261991010100X1", "resident_id_format"),
        ("36042619910101007", "resident_id_length"),
        ("360426910101007", "resident_id_length"),  # 15-digit legacy number
    ],
)
def test_invalid_resident_ids(number: str, error_code: str) -> None:
    with pytest.raises(IdentifierError) as exc:
        normalize_resident_id(number, today=TODAY)
    assert exc.value.code == error_code
    # Personal data must never be echoed back.
    assert number not in exc.value.message
    assert number not in str(exc.value)
    assert number not in repr(exc.value)


def test_leap_day_birth_date_valid() -> None:
    number = _with_check("35052420000229001")
    assert normalize_resident_id(number, today=TODAY) == number


def test_birth_date_today_is_valid() -> None:
    number = _with_check("35052420240601001")
    assert normalize_resident_id(number, today=TODAY) == number


def test_resident_id_check_char_rejects_bad_input() -> None:
    with pytest.raises(IdentifierError):
        resident_id_check_char("1101051949123100")
    with pytest.raises(IdentifierError):
        resident_id_check_char("1101051949123100X")


def test_identifier_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="校验位"):
        normalize_resident_id("110105194912310021", today=TODAY)


# --- Phones --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("008613812345678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("19912345678", "19912345678"),
        ("0595-23232323", "059523232323"),
        ("(0595) 2323 2323", "059523232323"),
        ("0595-2323232", "05952323232"),
        ("010-62345678", "01062345678"),
        ("021 5432 1234", "02154321234"),
        ("+86 595 2323 2323", "059523232323"),
        ("+86-10-62345678", "01062345678"),
        ("１３８１２３４５６７８", "13812345678"),
    ],
)
def test_valid_phones(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12812345678",  # no 12x mobile prefix
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "23232323",  # local number without area code
        "0595-0232323",  # local number cannot start with 0
        "05952323232323",  # too long
        "0595-232323",  # too short
        "abc13812345678",
        "+1 415 555 0100",
        "8623232323",
    ],
)
def test_invalid_phones(raw: str) -> None:
    with pytest.raises(IdentifierError) as exc:
        normalize_phone(raw)
    assert exc.value.code == "phone_format"
    if raw:
        assert raw not in exc.value.message
