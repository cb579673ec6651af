//! How zhuqi's data sits in Automerge documents.
//!
//! Every document has the same shape:
//!
//! ```text
//! { "schema": 1, "kind": "problem", "id": "<uuid>", "enterprise_id": "<uuid>",   // header, set once
//!   "events": [ "<event JSON>", "<event JSON>", ... ] }                         // append-only
//! ```
//!
//! Each event is one immutable scalar string (JSON of [`crate::domain::Event`]): nobody co-edits an
//! event, so a string costs one operation where a map of fields would cost one per field, and a
//! change that is not "insert strings into `events`" is easy to recognise and refuse.

use crate::domain::{DocKind, Event};
use crate::error::{Error, Result};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, Change, ObjType, ROOT, ReadDoc, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Version of the document layout written by this build. Readers accept this and older versions.
pub const SCHEMA_VERSION: i64 = 1;
const EVENTS: &str = "events";

/// An Automerge document of one of zhuqi's kinds.
#[derive(Debug, Clone)]
pub struct Document {
    doc: Automerge,
}

impl Document {
    /// Starts a document whose first change writes the header and the first event.
    pub fn create<A: Serialize>(
        kind: DocKind,
        id: &str,
        header: &[(&str, &str)],
        actor: ActorId,
        first: &Event<A>,
    ) -> Result<(Self, Change)> {
        let json = encode(first)?;
        let mut doc = Automerge::new().with_actor(actor);
        doc.transact_with(
            |_| CommitOptions::default().with_time(first.at / 1000),
            |tx| {
                tx.put(ROOT, "schema", SCHEMA_VERSION)?;
                tx.put(ROOT, "kind", kind.as_str())?;
                tx.put(ROOT, "id", id)?;
                for (k, v) in header {
                    tx.put(ROOT, *k, *v)?;
                }
                let events = tx.put_object(ROOT, EVENTS, ObjType::List)?;
                tx.insert(&events, 0, json.as_str())?;
                Ok::<_, automerge::AutomergeError>(())
            },
        )
        .map_err(|f| f.error)?;
        let change = doc.get_last_local_change().ok_or_else(|| Error::Corrupt("no change after create".into()))?;
        Ok((Document { doc }, change))
    }

    pub fn from_automerge(doc: Automerge) -> Self {
        Document { doc }
    }

    pub fn into_automerge(self) -> Automerge {
        self.doc
    }

    pub fn automerge(&self) -> &Automerge {
        &self.doc
    }

    pub fn automerge_mut(&mut self) -> &mut Automerge {
        &mut self.doc
    }

    pub fn set_actor(&mut self, actor: ActorId) {
        self.doc.set_actor(actor);
    }

    /// Appends one event at the end of the log, as one Automerge change.
    pub fn append<A: Serialize>(&mut self, event: &Event<A>) -> Result<Change> {
        let json = encode(event)?;
        let events = self.events_obj()?;
        let len = self.doc.length(&events);
        self.doc
            .transact_with(
                |_| CommitOptions::default().with_time(event.at / 1000),
                |tx| tx.insert(&events, len, json.as_str()),
            )
            .map_err(|f| f.error)?;
        self.doc.get_last_local_change().ok_or_else(|| Error::Corrupt("no change after append".into()))
    }

    fn events_obj(&self) -> Result<automerge::ObjId> {
        match self.doc.get(ROOT, EVENTS)? {
            Some((Value::Object(ObjType::List), id)) => Ok(id),
            _ => Err(Error::Corrupt("document has no event list".into())),
        }
    }

    /// A string field of the header, if present.
    pub fn header(&self, key: &str) -> Option<String> {
        header_of(&self.doc, key)
    }

    pub fn kind(&self) -> Option<DocKind> {
        self.header("kind").and_then(|k| DocKind::parse(&k))
    }

    pub fn schema(&self) -> Option<i64> {
        match self.doc.get(ROOT, "schema").ok()?? {
            (Value::Scalar(s), _) => s.as_i64(),
            _ => None,
        }
    }

    /// The raw event strings, in list order.
    pub fn raw_events(&self) -> Vec<String> {
        raw_events_of(&self.doc)
    }

    /// The events, in list order. Entries that are not valid events are skipped: every replica skips
    /// the same ones, so derived states still agree (the relay refuses such entries in the first place).
    pub fn events<A: DeserializeOwned>(&self) -> Vec<Event<A>> {
        parse_events(&self.raw_events())
    }

    pub fn save(&self) -> Vec<u8> {
        self.doc.save()
    }

    pub fn load(bytes: &[u8]) -> Result<Self> {
        Ok(Document { doc: Automerge::load(bytes)? })
    }
}

/// A string field of the header of any Automerge document laid out as above.
pub fn header_of(doc: &Automerge, key: &str) -> Option<String> {
    match doc.get(ROOT, key).ok()?? {
        (Value::Scalar(s), _) => s.as_str().map(str::to_owned),
        _ => None,
    }
}

/// How many events a document laid out as above holds.
pub fn event_count(doc: &Automerge) -> usize {
    match doc.get(ROOT, EVENTS) {
        Ok(Some((Value::Object(ObjType::List), events))) => doc.length(&events),
        _ => 0,
    }
}

/// The raw event strings of any Automerge document laid out as above, in list order.
pub fn raw_events_of(doc: &Automerge) -> Vec<String> {
    let Ok(Some((Value::Object(ObjType::List), events))) = doc.get(ROOT, EVENTS) else { return Vec::new() };
    doc.values(&events)
        .filter_map(|(v, _)| match v {
            Value::Scalar(s) => s.as_str().map(str::to_owned),
            Value::Object(_) => None,
        })
        .collect()
}

/// Parses event strings, skipping those that are not events.
pub fn parse_events<A: DeserializeOwned>(raw: &[String]) -> Vec<Event<A>> {
    raw.iter().filter_map(|s| serde_json::from_str(s).ok()).collect()
}

/// Serialises an event to the JSON string stored in a document.
pub fn encode<A: Serialize>(event: &Event<A>) -> Result<String> {
    serde_json::to_string(event).map_err(|e| Error::Corrupt(format!("cannot encode event: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProblemAction, Role};

    fn ev(id: &str, action: ProblemAction) -> Event<ProblemAction> {
        Event {
            id: id.into(),
            by: "u1".into(),
            role: Role::Cadre,
            device: "d1".into(),
            at: 1_700_000_000_000,
            seen: vec![],
            origin: None,
            action,
        }
    }

    #[test]
    fn create_append_and_reload() {
        let first = ev("e1", ProblemAction::Accepted { note: "好".into() });
        let (mut doc, change) =
            Document::create(DocKind::Problem, "p1", &[("enterprise_id", "x")], ActorId::random(), &first).unwrap();
        assert!(change.raw_bytes().len() < 400, "one small change: {}", change.raw_bytes().len());
        doc.append(&ev("e2", ProblemAction::Urged { note: String::new() })).unwrap();
        let reloaded = Document::load(&doc.save()).unwrap();
        assert_eq!(reloaded.kind(), Some(DocKind::Problem));
        assert_eq!(reloaded.schema(), Some(SCHEMA_VERSION));
        assert_eq!(reloaded.header("enterprise_id").as_deref(), Some("x"));
        let events: Vec<Event<ProblemAction>> = reloaded.events();
        assert_eq!(events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["e1", "e2"]);
    }

    #[test]
    fn unknown_event_types_survive_as_unknown() {
        let json = r#"{"id":"e9","by":"u","role":"cadre","device":"d","at":1,"type":"teleported","where":"moon"}"#;
        let e: Event<ProblemAction> = serde_json::from_str(json).unwrap();
        assert_eq!(e.action, ProblemAction::Unknown);
    }
}
