"""Validation errors in zh-CN: pydantic's error types -> `FieldError`s, one table for every caller.

The HTTP API (api/errors.py, FastAPI's request validation) and the sampling plan request read
on the command line (georeg.sampling.plans.parse_request) both translate here. Messages never
quote the input: pydantic's English text may echo an ID or phone number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from georeg.errors import FieldError, InvalidInput

# The detail of a 422 whose errors are pydantic's.
REQUEST_INVALID = "请求参数或内容不符合要求"
FALLBACK = "取值无效"

# pydantic error types -> zh-CN messages.
MESSAGES: dict[str, str] = {
    "missing": "缺少必填字段",
    "string_type": "应为文本",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内",
    "string_pattern_mismatch": "格式不正确",
    "string_too_short": "内容太短",
    "string_too_long": "内容太长",
    "greater_than_equal": "数值太小",
    "less_than_equal": "数值太大",
    "greater_than": "数值太小",
    "less_than": "数值太大",
    "extra_forbidden": "不允许的字段",
    "json_invalid": "不是有效的 JSON",
    # a model given a non-object: FastAPI validates from attributes, a plain model_validate not
    "model_attributes_type": "应为对象",
    "model_type": "应为对象",
    "dict_type": "应为对象",
    "list_type": "应为数组",
    "too_short": "元素太少",
    "too_long": "元素太多",
    "value_error": "取值无效",
    "nul_character": "不能包含空字符（NUL）",
    "blank": "不能为空白",
    "null_not_allowed": "不能为 null（不修改请不传此字段）",
    "finite_number": "应为有限的数字",
    "union_tag_invalid": "几何类型不被接受",
    "union_tag_not_found": "缺少几何类型 type",
}

# Location parts FastAPI puts before a field: where in the request it came from.
REQUEST_PARTS = frozenset({"body", "query", "path", "form"})
# Location parts pydantic adds for the member of a union or a validator, not a field.
UNION_TAGS = ("function-", "literal[")


def message_of(error_type: str) -> str:
    """The zh-CN message for a pydantic error type."""
    return MESSAGES.get(error_type, FALLBACK)


def field_errors(errors: Iterable[Mapping[str, Any]], *,
                 drop: frozenset[str] = frozenset(), drop_prefixes: tuple[str, ...] = ()
                 ) -> list[FieldError]:
    """pydantic's error dicts (`ValidationError.errors()`, `RequestValidationError.errors()`)
    as `FieldError`s: the location joined with dots ("body" when nothing is left) without the
    parts named in `drop` or starting with one of `drop_prefixes`, and the zh-CN message."""
    out = []
    for e in errors:
        parts = [str(p) for p in e.get("loc", ())
                 if str(p) not in drop and not str(p).startswith(drop_prefixes)]
        error_type = e.get("type", "invalid")
        out.append(FieldError(".".join(parts) or "body", error_type, message_of(error_type)))
    return out


def invalid(field: str, code: str, message: str) -> InvalidInput:
    """A refusal with one field error whose message is also the detail."""
    return InvalidInput(message, [FieldError(field, code, message)])
