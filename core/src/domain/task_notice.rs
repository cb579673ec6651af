//! Task notices (任务通知): sent down by a campaign office to departments or cadres with a deadline;
//! each recipient acknowledges (签收) and completes it.

use super::event::{Event, Fold};
use super::text::{self, LONG, MEDIUM, SHORT};
use crate::domain::error::{DomainError, Invalid, Result};
use serde::{Deserialize, Serialize};

/// Who a notice is addressed to. Written as `{"kind": "department" | "cadre", "id": …}`; a kind
/// written by a newer version reads as [`Recipient::Unknown`], keeping both values, so the notice
/// still reads on an older phone (see [`super::open_enum`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Recipient {
    Department(String),
    Cadre(String),
    /// A kind of recipient of a newer version, kept as written.
    Unknown {
        kind: String,
        id: String,
    },
}

/// A recipient as written in an event.
#[derive(Serialize, Deserialize)]
struct RecipientJson<'a> {
    kind: std::borrow::Cow<'a, str>,
    id: std::borrow::Cow<'a, str>,
}

impl Serialize for Recipient {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let (kind, id) = self.parts();
        RecipientJson { kind: kind.into(), id: id.into() }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Recipient {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let RecipientJson { kind, id } = RecipientJson::deserialize(deserializer)?;
        Ok(Recipient::of(&kind, id.into_owned()))
    }
}

impl Recipient {
    fn of(kind: &str, id: String) -> Self {
        match kind {
            "department" => Recipient::Department(id),
            "cadre" => Recipient::Cadre(id),
            _ => Recipient::Unknown { kind: kind.to_owned(), id },
        }
    }

    /// The kind as written, and the id.
    pub fn parts(&self) -> (&str, &str) {
        match self {
            Recipient::Department(id) => ("department", id),
            Recipient::Cadre(id) => ("cadre", id),
            Recipient::Unknown { kind, id } => (kind, id),
        }
    }

    /// Whether this version knows the kind of recipient.
    pub fn is_known(&self) -> bool {
        !matches!(self, Recipient::Unknown { .. })
    }

    /// `department:ID` or `cadre:ID`, as stored in index tables.
    pub fn key(&self) -> String {
        let (kind, id) = self.parts();
        format!("{kind}:{id}")
    }
    pub fn from_key(key: &str) -> Option<Self> {
        let (kind, id) = key.split_once(':')?;
        Some(Recipient::of(kind, id.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskNoticeAction {
    Issued {
        region_id: String,
        title: String,
        body: String,
        deadline: i64,
        recipients: Vec<Recipient>,
    },
    Acknowledged {
        recipient: Recipient,
    },
    Completed {
        recipient: Recipient,
        #[serde(default)]
        note: String,
    },
    #[serde(other)]
    Unknown,
}

impl TaskNoticeAction {
    pub fn verb(&self) -> &'static str {
        match self {
            TaskNoticeAction::Issued { .. } => "issue",
            TaskNoticeAction::Acknowledged { .. } => "acknowledge",
            TaskNoticeAction::Completed { .. } => "complete",
            TaskNoticeAction::Unknown => "unknown",
        }
    }

    /// Checks the values; `now` is the device time.
    pub fn validate(self, now: i64) -> Result<Self> {
        use TaskNoticeAction::*;
        Ok(match self {
            Issued { region_id, title, body, deadline, recipients } => {
                // `now` is the issue's own time (an imported notice's is historical): a deadline
                // not after it would be overdue from the start.
                if deadline <= now {
                    return Err(DomainError::invalid("deadline", Invalid::DeadlinePassed));
                }
                if recipients.is_empty() {
                    return Err(DomainError::invalid("recipients", Invalid::Empty));
                }
                if recipients.len() > 500 {
                    return Err(DomainError::invalid("recipients", Invalid::TooMany { max: 500 }));
                }
                let mut sorted = recipients.clone();
                sorted.sort();
                sorted.dedup();
                if sorted.len() != recipients.len() {
                    return Err(DomainError::invalid("recipients", Invalid::Duplicate));
                }
                Issued {
                    region_id,
                    title: text::required("title", &title, SHORT)?,
                    body: text::required("body", &body, LONG)?,
                    deadline,
                    recipients,
                }
            }
            Completed { recipient, note } => Completed { recipient, note: text::optional("note", &note, MEDIUM)? },
            other => other,
        })
    }
}

/// One recipient's progress on a notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientState {
    pub recipient: Recipient,
    pub acknowledged_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub completed_by: Option<String>,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TaskNoticeState {
    pub issued: bool,
    pub issued_by: String,
    pub issued_at: i64,
    pub region_id: String,
    pub title: String,
    pub body: String,
    pub deadline: i64,
    pub recipients: Vec<RecipientState>,
    pub updated_at: i64,
}

impl TaskNoticeState {
    pub fn recipient(&self, r: &Recipient) -> Option<&RecipientState> {
        self.recipients.iter().find(|s| &s.recipient == r)
    }
    /// `issued` until every recipient has completed it, then `completed`.
    pub fn status(&self) -> &'static str {
        if !self.issued {
            "new"
        } else if self.recipients.iter().all(|r| r.completed_at.is_some()) {
            "completed"
        } else {
            "issued"
        }
    }
}

impl Fold for TaskNoticeState {
    type Action = TaskNoticeAction;

    fn is_known(action: &TaskNoticeAction) -> bool {
        !matches!(action, TaskNoticeAction::Unknown)
    }

    fn check(&self, event: &Event<TaskNoticeAction>) -> Result<()> {
        use TaskNoticeAction::*;
        let verb = event.action.verb();
        let wrong = |status| Err(DomainError::InvalidTransition { action: verb, status });
        match &event.action {
            Issued { .. } if self.issued => wrong("issued"),
            Issued { .. } | Unknown => Ok(()),
            Acknowledged { recipient } | Completed { recipient, .. } => {
                if !self.issued {
                    return wrong("new");
                }
                let Some(r) = self.recipient(recipient) else {
                    return Err(DomainError::invalid(
                        "recipients",
                        Invalid::Format { expected: "a recipient of the notice" },
                    ));
                };
                match &event.action {
                    Acknowledged { .. } if r.acknowledged_at.is_some() => wrong("acknowledged"),
                    Completed { .. } if r.completed_at.is_some() => wrong("completed"),
                    _ => Ok(()),
                }
            }
        }
    }

    fn mutate(&mut self, event: &Event<TaskNoticeAction>) {
        use TaskNoticeAction::*;
        match &event.action {
            Issued { region_id, title, body, deadline, recipients } => {
                self.issued = true;
                self.issued_by = event.by.clone();
                self.issued_at = event.at;
                self.region_id = region_id.clone();
                self.title = title.clone();
                self.body = body.clone();
                self.deadline = *deadline;
                self.recipients = recipients
                    .iter()
                    .map(|r| RecipientState {
                        recipient: r.clone(),
                        acknowledged_at: None,
                        completed_at: None,
                        completed_by: None,
                        note: String::new(),
                    })
                    .collect();
            }
            Acknowledged { recipient } | Completed { recipient, .. } => {
                let Some(r) = self.recipients.iter_mut().find(|s| &s.recipient == recipient) else { return };
                match &event.action {
                    Completed { note, .. } => {
                        r.acknowledged_at.get_or_insert(event.at);
                        r.completed_at = Some(event.at);
                        r.completed_by = Some(event.actor_id().to_owned());
                        r.note = note.clone();
                    }
                    _ => r.acknowledged_at = Some(event.at),
                }
            }
            Unknown => {}
        }
        self.updated_at = self.updated_at.max(event.at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(deadline: i64) -> TaskNoticeAction {
        TaskNoticeAction::Issued {
            region_id: "410102".into(),
            title: "报送一季度走访台账".into(),
            body: "请于期限前报送".into(),
            deadline,
            recipients: vec![Recipient::Department("dept-finance".into())],
        }
    }

    #[test]
    fn a_deadline_that_has_passed_is_refused_as_passed() {
        let now = 1_772_409_600_000;
        for deadline in [now - 86_400_000, now] {
            let e = issued(deadline).validate(now).unwrap_err();
            assert_eq!(e, DomainError::invalid("deadline", Invalid::DeadlinePassed));
            assert_eq!(e.user_message(), "办理时限不能早于当前时间");
            assert!(!e.user_message().contains("晚于"), "{}", e.user_message());
        }
        assert!(issued(now + 1).validate(now).is_ok());
    }
}
