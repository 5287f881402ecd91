"""Domain errors. The API maps each class to an HTTP status in one table (api/errors.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str  # zh-CN; never echoes a submitted ID or phone number


class GeoregError(Exception):
    code = "error"
    title = "请求无法处理"

    def __init__(self, detail: str | None = None, errors: list[FieldError] | None = None,
                 *, retry_after: int | None = None) -> None:
        self.detail = detail or self.title
        self.errors = errors or []
        # seconds; the API answers it as a Retry-After header
        self.retry_after = retry_after
        super().__init__(self.detail)


class InvalidInput(GeoregError):
    code = "invalid_input"
    title = "提交的数据有误"


class OutsideTownship(InvalidInput):
    code = "outside_township"
    title = "位置超出所属乡镇范围"


class MalformedRequest(GeoregError):
    code = "malformed_request"
    title = "请求内容无法解析"


class UnsupportedMediaType(GeoregError):
    code = "unsupported_media_type"
    title = "内容类型不受支持"


class PayloadTooLarge(GeoregError):
    code = "payload_too_large"
    title = "提交的内容过大"


class NotFound(GeoregError):
    code = "not_found"
    title = "未找到"


class Conflict(GeoregError):
    code = "conflict"
    title = "与已有记录冲突"


class Unauthorized(GeoregError):
    code = "unauthorized"
    title = "未登录或登录已过期"


class Forbidden(GeoregError):
    code = "forbidden"
    title = "无权操作"


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"
    title = "请先修改初始密码"


class TooManyAttempts(GeoregError):
    code = "too_many_attempts"
    title = "登录尝试过于频繁"


class DatabaseUnavailable(GeoregError):
    code = "database_unavailable"
    title = "数据库暂时不可用"


class ServerBusy(DatabaseUnavailable):
    """Every pooled connection is in use: the client should come back shortly."""
    code = "server_busy"
    title = "服务器繁忙，请稍后重试"


class StatementTimeout(DatabaseUnavailable):
    """A statement ran past the interactive statement timeout (SQLSTATE 57014)."""
    code = "statement_timeout"
    title = "查询超时"

    def __init__(self, detail: str | None = None, errors: list[FieldError] | None = None
                 ) -> None:
        # 30 s: by then the load that slowed it has usually passed
        super().__init__(detail or "查询超时，请缩小查询范围或稍后重试", errors, retry_after=30)


class DatabaseFault(GeoregError):
    code = "internal_error"
    title = "服务器内部错误"


# Database constraint name -> (error class, field, code, zh-CN message). Constraints live in
# sql/; this table turns their violations into answers a user can act on.
CONSTRAINT_ERRORS: dict[str, tuple[type[GeoregError], str, str, str]] = {
    "entity_within_township": (OutsideTownship, "location", "outside_township",
                               "主体位置不在所属乡镇范围内"),
    "entity_in_some_township": (OutsideTownship, "location", "outside_all_townships",
                                "位置不在任何已登记乡镇范围内"),
    "plot_within_township": (OutsideTownship, "geometry", "outside_township",
                             "地块超出所属乡镇范围"),
    "plot_geom_valid": (InvalidInput, "geometry", "invalid_geometry", "几何图形无效（如自相交）"),
    "plot_geom_type": (InvalidInput, "geometry", "geometry_type", "地块只能是点或面"),
    "plot_commodity_fkey": (InvalidInput, "commodity", "unknown_commodity", "未知的农产品品种"),
    "plot_entity_id_fkey": (NotFound, "entity_id", "unknown_entity", "主体不存在"),
    "entity_township_code_fkey": (InvalidInput, "township_code", "unknown_township",
                                  "未知的乡镇代码"),
    "entity_uscc_key": (Conflict, "uscc", "duplicate", "该统一社会信用代码已登记"),
    "entity_resident_id_hash_key": (Conflict, "resident_id", "duplicate", "该身份证号已登记"),
    "entity_smallholder_is_person": (InvalidInput, "uscc", "not_allowed",
                                     "农户为自然人，不填写统一社会信用代码"),
    "entity_resident_id_person": (InvalidInput, "resident_id", "not_allowed",
                                  "只有农户登记身份证号"),
    "account_username_key": (Conflict, "username", "duplicate", "账号已存在"),
    "account_username_check": (InvalidInput, "username", "invalid_username",
                               "账号只能由 2-64 位小写字母、数字、下划线、点或连字符组成"),
    "account_role_check": (InvalidInput, "role", "invalid_role", "未知的角色"),
    "account_scope": (InvalidInput, "township_code", "scope",
                      "采集员和乡镇监管员须属于一个乡镇；县级角色不属于乡镇"),
    "account_township_code_fkey": (InvalidInput, "township_code", "unknown_township",
                                   "未知的乡镇代码"),
    "account_scopes": (InvalidInput, "scopes", "invalid_scope", "未知的接口权限"),
    "account_service_scopes": (InvalidInput, "scopes", "not_allowed", "只有服务账号设置接口权限"),
    "account_collector_grids": (InvalidInput, "grids", "not_allowed", "只有采集员指定网格"),
    "grid_one_version_at_a_time": (Conflict, "valid_from", "overlapping_version",
                                   "同一网格编码的有效期重叠"),
    "patrol_not_in_future": (InvalidInput, "patrolled_at", "in_future", "巡查时间不能晚于今天"),
    "patrol_entity_id_fkey": (InvalidInput, "entity_id", "unknown_entity", "主体不存在"),
    "patrol_problem_has_findings": (InvalidInput, "findings", "required",
                                    "发现问题时须填写问题描述"),
    "certificate_not_in_future": (InvalidInput, "issued_on", "in_future",
                                  "开证日期不能晚于今天"),
    "certificate_entity_id_fkey": (InvalidInput, "entity_id", "unknown_entity", "主体不存在"),
    "certificate_entity_id_batch_no_key": (Conflict, "batch_no", "duplicate",
                                           "该主体的批次号已登记"),
    "certificate_trace_code_key": (Conflict, "trace_code", "duplicate", "追溯码已被使用"),
    "certificate_commodity_fkey": (InvalidInput, "commodity", "unknown_commodity",
                                   "未知的农产品品种"),
    "certificate_quantity_check": (InvalidInput, "quantity", "too_small",
                                   "数量须大于 0（保留两位小数）"),
    # credit records (sql/008_credit.sql)
    "credit_event_not_in_future": (InvalidInput, "occurred_on", "in_future",
                                   "事件日期不能晚于今天"),
    "credit_event_corrects_fkey": (InvalidInput, "corrects", "unknown_event",
                                   "要更正的信用事件不存在"),
    "credit_event_corrects_same_entity": (InvalidInput, "corrects", "other_entity",
                                          "要更正的信用事件属于其他主体"),
    "credit_event_append_only": (Conflict, "event", "append_only",
                                 "信用记录只能追加，不能修改或删除；请登记更正"),
    # Inserts check the entity first, so in practice this is an entity being deleted.
    "credit_event_entity_id_fkey": (Conflict, "entity_id", "has_credit_record",
                                    "该主体已有信用档案，不能删除；请改为注销"),
    # deregistration (sql/020_deregistration.sql)
    "entity_deregistration_complete": (InvalidInput, "reason", "required", "须填写注销原因"),
    "entity_deregistered_after_registration": (InvalidInput, "on", "before_registration",
                                               "注销日期不能早于登记日期"),
    "plot_retirement_complete": (InvalidInput, "reason", "required", "须填写停用原因"),
    "patrol_after_deregistration": (InvalidInput, "patrolled_at", "entity_deregistered",
                                    "该主体在巡查日期之前已注销"),
    "certificate_after_deregistration": (InvalidInput, "issued_on", "entity_deregistered",
                                         "该主体在开证日期之前已注销"),
    "rapid_test_after_deregistration": (InvalidInput, "sampled_on", "entity_deregistered",
                                        "该主体在抽样日期之前已注销"),
    "lab_sample_after_deregistration": (InvalidInput, "sampled_on", "entity_deregistered",
                                        "该主体在抽样日期之前已注销"),
    "site_point_after_deregistration": (InvalidInput, "collected_at", "entity_deregistered",
                                        "该主体在采集日期之前已注销"),
    # audit trail (sql/021_audit.sql)
    "audit_event_append_only": (Conflict, "audit_event", "append_only", "审计记录只能追加"),
    "audit_no_truncate": (Conflict, "table", "truncate_refused", "受审计的表不能整表清空"),
    "credit_event_kind_check": (InvalidInput, "kind", "invalid_kind", "未知的信用事件类型"),
    "credit_event_outcome": (InvalidInput, "outcome", "invalid_outcome", "结果与事件类型不符"),
    "credit_event_summary_check": (InvalidInput, "summary", "required", "摘要不能为空"),
    "credit_event_correction": (InvalidInput, "reason", "required", "更正或作废须注明原因"),
    "key_supervision_one_open": (Conflict, "entity_id", "already_listed",
                                 "该主体已因同一原因列入重点监管名单"),
    "key_supervision_manual_reason": (InvalidInput, "reason", "required",
                                      "人工列入重点监管名单须注明原因"),
    "key_supervision_listing_entity_id_fkey": (NotFound, "entity_id", "unknown_entity",
                                               "主体不存在"),
    # testing (sql/009_testing.sql)
    "rapid_test_not_in_future": (InvalidInput, "sampled_on", "in_future",
                                 "抽样日期不能晚于今天"),
    "lab_sample_not_in_future": (InvalidInput, "sampled_on", "in_future",
                                 "抽样日期不能晚于今天"),
    "rapid_test_unit_township_fkey": (InvalidInput, "unit", "unknown_unit", "未知的检测单位"),
    "lab_sample_unit_township_fkey": (InvalidInput, "unit", "unknown_unit", "未知的检测单位"),
    "rapid_test_plan_target_fkey": (InvalidInput, "target_no", "unknown_target",
                                    "抽样计划中没有这个目标"),
    "lab_sample_plan_target_fkey": (InvalidInput, "target_no", "unknown_target",
                                    "抽样计划中没有这个目标"),
    "mrl_current": (Conflict, "substance", "duplicate", "该物质与食品已有现行限量"),
}


def from_constraint(name: str | None) -> GeoregError | None:
    if name is None or name not in CONSTRAINT_ERRORS:
        return None
    cls, field, code, message = CONSTRAINT_ERRORS[name]
    return cls(message, [FieldError(field, code, message)])
