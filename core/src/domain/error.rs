//! Errors of the domain and its rules: a value that breaks a rule, an action not allowed to its
//! actor or in the current state, an unknown record. Pure: no storage or network failure is one of
//! these (the crate's [`Error`](crate::Error) wraps them with those).
//!
//! Messages never carry personal data (names, phone numbers, note text): only field names, ids and limits.

use super::Role;

/// Which rule a value broke. The field it belongs to travels beside it in [`Error::Validation`].
#[derive(Debug, Clone, PartialEq)]
pub enum Invalid {
    /// A required value is empty or only whitespace.
    Empty,
    /// Text longer than `max` characters.
    TooLong { max: usize },
    /// A list with more than `max` entries.
    TooMany { max: usize },
    /// A number outside `min..=max`.
    OutOfRange { min: i64, max: i64 },
    /// A floating-point number outside `min..=max` (or not a number at all).
    OutOfRangeF { min: f64, max: f64 },
    /// The value does not have the expected shape; `expected` names it in English.
    Format { expected: &'static str },
    /// A unified social credit code whose 18th character is not its GB 32100-2015 check digit.
    CheckDigit,
    /// A deadline that is not after the moment the problem was reported.
    DeadlineBeforeReport,
    /// A deadline that is not after the moment it is set (it would be overdue at once).
    DeadlinePassed,
    /// Closing as unconfirmed before the enterprise's time to answer (`days`) has run out.
    AnswerPending { days: u32 },
    /// An answer window shorter than the one the office's settings give (`days`).
    AnswerWindowShort { days: u32 },
    /// A handling level that does not move upwards.
    LevelNotHigher { current: u8 },
    /// A date in the future.
    InFuture,
    /// The same value appears twice where each must be unique.
    Duplicate,
    /// A correction after its time (`days` after the record) has run out.
    CorrectionTooLate { days: u32 },
    /// A file larger than `max_bytes`.
    TooLarge { max_bytes: u64 },
}

/// The kinds of record an id can point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Enterprise,
    Problem,
    TaskNotice,
    Policy,
    Region,
    Department,
    User,
    Visit,
    /// A document of any kind (sync plumbing that does not know which kind it asks for).
    Document,
}

impl Entity {
    pub fn en(self) -> &'static str {
        match self {
            Entity::Enterprise => "enterprise",
            Entity::Problem => "problem",
            Entity::TaskNotice => "task notice",
            Entity::Policy => "policy",
            Entity::Region => "region",
            Entity::Department => "department",
            Entity::User => "user",
            Entity::Visit => "visit",
            Entity::Document => "document",
        }
    }
    pub fn zh(self) -> &'static str {
        match self {
            Entity::Enterprise => "企业",
            Entity::Problem => "问题",
            Entity::TaskNotice => "任务通知",
            Entity::Policy => "政策",
            Entity::Region => "地区",
            Entity::Department => "责任单位",
            Entity::User => "用户",
            Entity::Visit => "走访记录",
            Entity::Document => "数据文档",
        }
    }
}

/// Why an actor may not take an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The actor's role never takes this action.
    Role { role: Role, action: &'static str },
    /// The target lies outside the region the actor manages.
    OutOfRegion,
    /// The cadre is not assigned to this enterprise.
    NotAssigned,
    /// The problem is not routed to the handler's department.
    NotRoutedToDepartment,
    /// The enterprise contact acts on another enterprise.
    OtherEnterprise,
    /// The task notice is not addressed to the actor.
    NotRecipient,
    /// The event names somebody else as its author.
    ForgedAuthor,
    /// Only the campaign office of the problem's handling level (or of the level named) may do this.
    NotOfficeOfLevel { level: u8 },
    /// Only the cadre who recorded a visit corrects it.
    NotTheRecorder,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    #[error("invalid {field}: {kind:?}")]
    Validation { field: &'static str, kind: Invalid },
    #[error("not allowed to {action}: {reason:?}")]
    NotAllowed { action: &'static str, reason: Denied },
    #[error("cannot {action} a problem or notice that is {status}")]
    InvalidTransition { action: &'static str, status: &'static str },
    #[error("unknown {} {id}", .what.en())]
    NotFound { what: Entity, id: String },
}

pub type Result<T, E = DomainError> = std::result::Result<T, E>;

impl DomainError {
    /// The message to show a user, in Chinese. It names the field but never echoes the value.
    pub fn user_message(&self) -> String {
        match self {
            DomainError::Validation { field, kind } => {
                let label = field_label(field);
                match kind {
                    Invalid::Empty => format!("{label}不能为空"),
                    Invalid::TooLong { max } => format!("{label}不能超过{max}个字"),
                    Invalid::TooMany { max } => format!("{label}最多{max}项"),
                    Invalid::OutOfRange { min, max } => format!("{label}应在{min}到{max}之间"),
                    Invalid::OutOfRangeF { min, max } => format!("{label}应在{min}到{max}之间"),
                    Invalid::Format { .. } => format!("{label}格式不正确"),
                    Invalid::CheckDigit => format!("{label}校验位不正确，请核对"),
                    Invalid::DeadlineBeforeReport => format!("{label}不能早于问题上报时间"),
                    Invalid::DeadlinePassed => format!("{label}不能早于当前时间"),
                    Invalid::AnswerPending { days } => format!("企业确认期限（{days}天）未到，不能按超时未确认销号"),
                    Invalid::AnswerWindowShort { days } => format!("{label}不能短于活动办设置的{days}天"),
                    Invalid::LevelNotHigher { current } => {
                        format!("{label}必须高于当前的第{current}级")
                    }
                    Invalid::InFuture => format!("{label}不能晚于今天"),
                    Invalid::Duplicate => format!("{label}有重复"),
                    Invalid::CorrectionTooLate { days } => format!("{label}记录满{days}天后不能再更正"),
                    Invalid::TooLarge { max_bytes } => format!("{label}不能超过{}MB", max_bytes / (1024 * 1024)),
                }
            }
            DomainError::NotAllowed { reason, .. } => match reason {
                Denied::Role { .. } => "您的角色无权进行此操作".into(),
                Denied::OutOfRegion => "该事项不在您负责的地区范围内".into(),
                Denied::NotAssigned => "您未包联该企业，无权操作".into(),
                Denied::NotRoutedToDepartment => "该问题未交办给您所在的责任单位".into(),
                Denied::OtherEnterprise => "只能处理本企业的事项".into(),
                Denied::NotRecipient => "该任务通知未下发给您".into(),
                Denied::ForgedAuthor => "操作人与登录用户不符".into(),
                Denied::NotTheRecorder => "只有记录人可以更正".into(),
                Denied::NotOfficeOfLevel { level } => {
                    format!("须由第{level}级（{}）所在的工作专班办理", super::problem::level_zh(*level))
                }
            },
            DomainError::InvalidTransition { action, status } => {
                format!("当前状态为“{}”，不能{}", status_zh(status), action_zh(action))
            }
            DomainError::NotFound { what, .. } => format!("找不到该{}", what.zh()),
        }
    }

    /// The field a validation error is about, if it is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            DomainError::Validation { field, .. } => Some(field),
            _ => None,
        }
    }

    pub(crate) fn invalid(field: &'static str, kind: Invalid) -> Self {
        DomainError::Validation { field, kind }
    }

    pub(crate) fn not_found(what: Entity, id: impl Into<String>) -> Self {
        DomainError::NotFound { what, id: id.into() }
    }
}

/// The Chinese label of a field, for messages. Unknown fields fall back to a neutral word.
pub fn field_label(field: &str) -> &'static str {
    match field {
        "uscc" => "统一社会信用代码",
        "name" => "名称",
        "industry" => "行业",
        "tags" => "企业标签",
        "address" => "地址",
        "contacts" => "联系人",
        "contact.name" => "联系人姓名",
        "contact.phone" => "联系电话",
        "contact.title" => "联系人职务",
        "user.mobile" => "手机号码",
        "user.position" => "职务",
        "user.unit" => "工作单位",
        "region" => "所属地区",
        "location.lat" => "纬度",
        "location.lon" => "经度",
        "location.accuracy" => "定位精度",
        "visit.date" => "走访日期",
        "visit.people_met" => "走访对象",
        "visit.notes" => "走访记录",
        "visit.policies" => "宣讲政策",
        "visit.policy_ids" => "宣讲政策",
        "photos" => "照片",
        "photo.sha256" => "照片校验值",
        "photo" => "照片",
        "title" => "标题",
        "issuer" => "发文单位",
        "doc_number" => "文号",
        "summary" => "政策摘要",
        "text" => "政策原文",
        "valid_from" => "生效日期",
        "valid_until" => "截止日期",
        "criteria.regions" => "适用地区",
        "criteria.industries" => "适用行业",
        "criteria.tags" => "企业标签",
        "criteria.sizes" => "企业规模",
        "criteria.age_years" => "成立年限",
        "scale.employees" => "从业人员",
        "scale.revenue" => "营业收入",
        "scale.founded" => "成立日期",
        "excludes" => "不可叠加的政策",
        "query" => "搜索内容",
        "description" => "问题描述",
        "category" => "问题类别",
        "note" => "说明",
        "reason" => "原因",
        "resolution" => "办结情况",
        "rating" => "满意度评分",
        "comment" => "评价",
        "deadline" => "办理时限",
        "deadline_days" => "办理时限天数",
        "answer_days" | "settings.answer_days" => "企业确认期限",
        "calendar.date" => "日期",
        "calendar.name" => "节假日名称",
        "level" => "办理层级",
        "department" => "责任单位",
        "recipients" => "接收对象",
        "body" => "通知内容",
        "cadre" => "助企干部",
        "id" => "编号",
        _ => "输入内容",
    }
}

/// A status in Chinese: a problem's as [`ProblemStatus::zh`](super::ProblemStatus::zh) shows it
/// everywhere else, then those of notices, recipients and enterprises.
fn status_zh(status: &str) -> &'static str {
    if let Some(s) = super::ProblemStatus::parse(status) {
        return s.zh();
    }
    match status {
        "issued" => "已下发",
        "acknowledged" => "已签收",
        "completed" => "已完成",
        "new" => "未创建",
        "registered" => "已登记",
        "assigned" => "已包联",
        "unassigned" => "未包联",
        _ => "未知",
    }
}

fn action_zh(action: &str) -> &'static str {
    match action {
        "report" => "上报",
        "accept" => "受理",
        "route" => "交办",
        "add progress to" => "记录进展",
        "escalate" => "提级督办",
        "urge" => "催办",
        "resolve" => "办结",
        "confirm" => "确认",
        "reject" => "退回",
        "close" => "销号",
        "follow up" => "回头看",
        "record a call-back on" => "代企业确认（回访）",
        "close as unconfirmed" => "按超时未确认销号",
        "acknowledge" => "签收",
        "complete" => "完成",
        _ => "进行此操作",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_field_in_chinese_and_english() {
        let e = DomainError::invalid("rating", Invalid::OutOfRange { min: 1, max: 5 });
        assert_eq!(e.user_message(), "满意度评分应在1到5之间");
        assert!(e.to_string().contains("rating"));
        assert_eq!(e.field(), Some("rating"));
        let t = DomainError::InvalidTransition { action: "confirm", status: "routed" };
        assert_eq!(t.user_message(), "当前状态为“办理中”，不能确认");
    }

    #[test]
    fn a_problem_status_reads_as_everywhere_else() {
        for s in super::super::ProblemStatus::ALL {
            let t = DomainError::InvalidTransition { action: "confirm", status: s.as_str() };
            assert_eq!(t.user_message(), format!("当前状态为“{}”，不能确认", s.zh()));
        }
        let t = DomainError::InvalidTransition { action: "issue", status: "issued" };
        assert_eq!(t.user_message(), "当前状态为“已下发”，不能进行此操作");
    }
}
