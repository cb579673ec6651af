//! Actions taken from the relay itself — demo data, CSV imports, the managers' web pages — as a
//! named user. They become ordinary Automerge changes under a relay-side actor bound to a relay-side
//! device of that user, and go through exactly the validation and storage path of a phone's push.
//! The history import writes through a device of its own (`import:`), whose events carry their
//! [`Origin`] in a previous platform.

use crate::AppState;
use crate::http::error::ApiError;
use crate::storage::{NewDevice, Session};
use automerge::{ActorId, Automerge};
use serde::Serialize;
use std::collections::HashMap;
use zhuqi_core::document::Document;
use zhuqi_core::domain::event::{Causality, Origin};
use zhuqi_core::domain::{DocKind, Event};
use zhuqi_core::sync::protocol::{DocChanges, Rejection};

/// Stages actions of one user and submits them as one push.
pub struct Author<'a> {
    state: &'a AppState,
    session: Session,
    actor: ActorId,
    staged: Vec<String>,
    docs: HashMap<String, (DocKind, Automerge, Vec<Vec<u8>>)>,
    /// The origin the next staged events carry (history imports only).
    origin: Option<Origin>,
}

/// The device id under which the relay acts for a user.
pub fn relay_device_id(user_id: &str) -> String {
    format!("{RELAY_DEVICE_PREFIX}{user_id}")
}

const RELAY_DEVICE_PREFIX: &str = "relay:";
const IMPORT_DEVICE_PREFIX: &str = "import:";
/// The prefix of the device standing for an enterprise contact's browser in a web session (see
/// `portal`): one per session, named by its user agent.
pub const WEB_DEVICE_PREFIX: &str = "web:";

/// Whether a device is one the relay acts through (for a user, or importing history). Devices
/// signed in from outside get random ids without a colon, so no phone can be one.
pub fn is_relay_device(device_id: &str) -> bool {
    device_id.starts_with(RELAY_DEVICE_PREFIX) || is_import_device(device_id)
}

/// Whether a device is the one the history import writes through: its events are a previous
/// platform's records, each with its [`Origin`], checked as history (values, order, transitions)
/// rather than as its importing user's own actions.
pub fn is_import_device(device_id: &str) -> bool {
    device_id.starts_with(IMPORT_DEVICE_PREFIX)
}

impl<'a> Author<'a> {
    /// Acts as `user_id`, through that user's relay-side device (created on first use).
    pub fn new(state: &'a AppState, user_id: &str) -> Result<Author<'a>, ApiError> {
        Self::on_device(state, user_id, relay_device_id(user_id))
    }

    /// Acts as `user_id` through the `web:` device of one of their web sessions (an enterprise
    /// contact's browser, created when the session began and not revoked): the change is the
    /// user's own, judged as a phone's would be (the user's rights, the time checks of any device),
    /// and the audit trail names the browser.
    pub fn on_web_device(state: &'a AppState, user_id: &str, device_id: &str) -> Result<Author<'a>, ApiError> {
        let live = device_id.starts_with(WEB_DEVICE_PREFIX)
            && state.storage.devices_of(user_id)?.iter().any(|(id, _, _, revoked)| id == device_id && !revoked);
        if !live {
            return Err(ApiError::unauthorized());
        }
        Self::on_device(state, user_id, device_id.to_owned())
    }

    /// Imports history as `user_id`, through that user's import device (created on first use).
    /// Every staged event must be given its origin ([`Author::set_origin`]).
    pub fn importing(state: &'a AppState, user_id: &str) -> Result<Author<'a>, ApiError> {
        Self::on_device(state, user_id, format!("{IMPORT_DEVICE_PREFIX}{user_id}"))
    }

    fn on_device(state: &'a AppState, user_id: &str, device_id: String) -> Result<Author<'a>, ApiError> {
        let storage = state.storage.as_ref();
        let dir = state.directory.get(storage)?;
        let user = dir.users.get(user_id).cloned().ok_or_else(|| ApiError::not_found(format!("no user {user_id}")))?;
        if !storage.devices_of(user_id)?.iter().any(|(id, ..)| id == &device_id) {
            // The token of a relay-side device is never handed out: a random one nobody knows.
            let mut secret = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut secret);
            storage.create_device(&NewDevice {
                id: device_id.clone(),
                user_id: user_id.into(),
                name: "relay".into(),
                token_hash: crate::auth::token_hash(&crate::auth::hex(&secret)),
                created_at: crate::now_ms(),
                expires_at: i64::MAX,
            })?;
        }
        let actor = ActorId::random();
        if !storage.bind_actor(&device_id, actor.to_bytes())? {
            return Err(ApiError::internal("fresh actor id already bound"));
        }
        let session = Session { device_id, user, revoked: false, expires_at: i64::MAX };
        Ok(Author { state, session, actor, staged: Vec::new(), docs: HashMap::new(), origin: None })
    }

    /// The origin the events staged from now on carry.
    pub fn set_origin(&mut self, origin: Option<Origin>) {
        self.origin = origin;
    }

    /// How many documents are staged.
    pub fn staged(&self) -> usize {
        self.staged.len()
    }

    pub fn user_id(&self) -> &str {
        &self.session.user.id
    }

    fn event<A>(&self, action: A, seen: Vec<String>, at: i64) -> Event<A> {
        Event {
            id: uuid::Uuid::now_v7().to_string(),
            by: self.session.user.id.clone(),
            role: self.session.user.role,
            device: self.session.device_id.clone(),
            at,
            seen,
            origin: self.origin.clone(),
            action,
        }
    }

    /// Stages the creation of a document whose first event is `action`.
    pub fn create<A: Serialize>(
        &mut self,
        kind: DocKind,
        id: &str,
        header: &[(&str, &str)],
        action: A,
        at: i64,
    ) -> Result<(), ApiError> {
        let event = self.event(action, Vec::new(), at);
        let (doc, change) = Document::create(kind, id, header, self.actor.clone(), &event)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        self.staged.push(id.to_owned());
        self.docs.insert(id.to_owned(), (kind, doc.into_automerge(), vec![change.raw_bytes().to_vec()]));
        Ok(())
    }

    /// Stages an event appended to an existing document (staged or stored).
    pub fn append<A: Serialize + serde::de::DeserializeOwned>(
        &mut self,
        id: &str,
        action: A,
        at: i64,
    ) -> Result<(), ApiError> {
        if !self.docs.contains_key(id) {
            let (kind, copy) = self
                .state
                .read_doc(id, |c| (c.kind, c.doc.clone()))?
                .ok_or_else(|| ApiError::not_found(format!("no document {id}")))?;
            self.staged.push(id.to_owned());
            self.docs.insert(id.to_owned(), (kind, copy, Vec::new()));
        }
        let (kind, doc, mut changes) = self.docs.remove(id).expect("inserted above");
        let mut document = Document::from_automerge(doc);
        document.set_actor(self.actor.clone());
        let events: Vec<Event<A>> = document.events();
        let seen = Causality::new(&events).heads(&events);
        let event = self.event(action, seen, at);
        let change = document.append(&event).map_err(|e| ApiError::internal(e.to_string()));
        if let Ok(c) = &change {
            changes.push(c.raw_bytes().to_vec());
        }
        self.docs.insert(id.to_owned(), (kind, document.into_automerge(), changes));
        change.map(drop)
    }

    /// Submits everything staged as one push. With `all_or_nothing`, a refused document means
    /// nothing is stored. Returns the refusals.
    pub fn submit(self, all_or_nothing: bool) -> Result<Vec<Rejection>, ApiError> {
        let mut docs = Vec::new();
        let mut by_id = self.docs;
        for id in &self.staged {
            if let Some((kind, _, changes)) = by_id.remove(id)
                && !changes.is_empty()
            {
                docs.push(DocChanges { doc: id.clone(), kind, changes });
            }
        }
        let storage = self.state.storage.as_ref();
        let ctx = storage.sync_context(&self.session.user, &self.session.device_id)?;
        let dir = self.state.directory.at(storage, ctx.directory_version)?;
        let (mut acked, mut rejected) = (Vec::new(), Vec::new());
        crate::sync::push(self.state, &self.session, &ctx, &dir, docs, all_or_nothing, &mut acked, &mut rejected)?;
        Ok(rejected)
    }

    /// Submits and fails on any refusal (nothing is stored then).
    pub fn submit_all(self) -> Result<(), ApiError> {
        let rejected = self.submit(true)?;
        match rejected.first() {
            None => Ok(()),
            Some(r) => Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "rejected",
                format!("document {} refused ({:?}): {}", r.doc, r.code, r.message),
                r.code.message_zh(),
            )),
        }
    }
}
