//! The append-only event log that every document carries, and the deterministic fold that derives a
//! document's current state from it.
//!
//! Each event records who (user, role), from which device, at what device time, and which events its
//! author had already seen (`seen`: the heads of the event graph on the author's replica). Automerge
//! keeps the list in one order on every replica, and that order always puts an event after everything
//! its author had seen. Folding the list in that order therefore gives every replica the same state.
//! An event that no longer fits the state it meets (the enterprise rejects while the campaign office
//! closes) is kept and marked as a conflict with the concurrent event that got there first: nothing is
//! dropped, nothing silently overwritten.

use crate::domain::Role;
use crate::domain::error::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How far ahead of the relay's clock an event's own time may be when the relay receives it (phones'
/// clocks drift); also the tolerance between the clocks of two devices.
pub const CLOCK_SKEW_MS: i64 = 10 * 60_000;
/// The relay's default offline window: an event that reaches the relay within this time of its own
/// time counts, in the campaign's figures, at its own time (a cadre may sync days after a visit);
/// one that arrives later counts at its arrival and shows as 补录 (entered late).
pub const OFFLINE_WINDOW_MS: i64 = 7 * 86_400_000;

/// Whether an event that the relay received at `received_at` was entered late: more than
/// `window_ms` after the time it claims.
pub fn is_late_entry(at: i64, received_at: Option<i64>, window_ms: i64) -> bool {
    // `at` is a device's claim, any i64: the delay saturates.
    received_at.is_some_and(|r| r.saturating_sub(at) > window_ms)
}

/// The time the campaign's figures judge an event by: its own time, or its arrival when it was
/// entered late (see [`is_late_entry`]).
pub fn judged_time(at: i64, received_at: Option<i64>, window_ms: i64) -> i64 {
    match received_at {
        Some(r) if is_late_entry(at, received_at, window_ms) => r,
        _ => at,
    }
}

/// One entry of a document's event log, as stored (JSON) in the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event<A> {
    /// Unique id (UUID v7: sorts by creation time).
    pub id: String,
    /// The user who took the action.
    pub by: String,
    /// The user's role when they took it.
    pub role: Role,
    /// The device it was taken on.
    pub device: String,
    /// Device clock, milliseconds since the epoch. Phones' clocks drift: never used for ordering.
    pub at: i64,
    /// Ids of the events that were the heads of the log on the author's replica.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<String>,
    /// Set only on an event imported from a previous platform's history (see [`Origin`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    #[serde(flatten)]
    pub action: A,
}

/// Where an imported event comes from: the record of the previous platform it was read from (its
/// number there) and the person that platform names for the step, who may have no account here.
/// Only the relay's history import writes it (its events come from an `import:` device, dated with
/// the historical times); timelines show such events as 导入 (imported).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The record's number on the previous platform.
    pub record: String,
    /// The person the record names for this step, as written there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// That person's account here, when the record names one the directory knows: the step is then
    /// theirs where the fold records who did it (an imported visit counts for its cadre).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl<A> Event<A> {
    /// Who did it: the account an imported step names ([`Origin::user`]), else the author.
    pub fn actor_id(&self) -> &str {
        self.origin.as_ref().and_then(|o| o.user.as_deref()).unwrap_or(&self.by)
    }
}

/// What the fold made of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The event took effect.
    Applied,
    /// The event did not fit the state left by `with`, a concurrent event ordered before it.
    Conflict { with: String, reason: String },
    /// The event does not fit the state its own author saw (a client that skipped the rules).
    Rejected { reason: String },
    /// An event type this version does not know (written by a newer app); kept, not interpreted.
    Unknown,
}

/// A state derived from an event log.
pub trait Fold: Default {
    type Action;
    /// Checks that `event` is a valid transition from the current state.
    fn check(&self, event: &Event<Self::Action>) -> Result<(), DomainError>;
    /// Applies an event that passed [`Fold::check`].
    fn mutate(&mut self, event: &Event<Self::Action>);
    /// Checks, then applies; a refused event leaves the state as it was.
    fn apply(&mut self, event: &Event<Self::Action>) -> Result<(), DomainError> {
        self.check(event)?;
        self.mutate(event);
        Ok(())
    }
    /// Whether the action is of a type this version knows.
    fn is_known(action: &Self::Action) -> bool;
}

/// The causal relation between the events of one log, from their `seen` fields.
pub struct Causality {
    index: HashMap<String, usize>,
    /// `past[i]` is a bitset of the events in the causal past of event `i`.
    past: Vec<Vec<u64>>,
    referenced: Vec<bool>,
}

impl Causality {
    pub fn new<A>(events: &[Event<A>]) -> Self {
        let n = events.len();
        let words = n.div_ceil(64);
        let mut index = HashMap::with_capacity(n);
        let mut past: Vec<Vec<u64>> = Vec::with_capacity(n);
        let mut referenced = vec![false; n];
        for (i, e) in events.iter().enumerate() {
            let mut bits = vec![0u64; words];
            for s in &e.seen {
                // Only earlier events can be in the past; a reference to anything else is ignored.
                if let Some(&j) = index.get(s.as_str()) {
                    bits[j / 64] |= 1u64 << (j % 64);
                    for (w, pw) in bits.iter_mut().zip(&past[j]) {
                        *w |= pw;
                    }
                    referenced[j] = true;
                }
            }
            past.push(bits);
            index.entry(e.id.clone()).or_insert(i);
        }
        Causality { index, past, referenced }
    }

    /// Whether event `j` is in the causal past of event `i`.
    pub fn precedes(&self, j: usize, i: usize) -> bool {
        self.past[i].get(j / 64).is_some_and(|w| w & (1u64 << (j % 64)) != 0)
    }

    /// The ids of the events nobody has seen yet: what a new event's `seen` must list.
    pub fn heads<A>(&self, events: &[Event<A>]) -> Vec<String> {
        events.iter().enumerate().filter(|(i, _)| !self.referenced[*i]).map(|(_, e)| e.id.clone()).collect()
    }

    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }
}

/// One event of a timeline with what the fold made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded<A> {
    pub event: Event<A>,
    pub outcome: Outcome,
    /// Earlier events (by id) that this one's author had not seen: it was concurrent with them.
    pub concurrent_with: Vec<String>,
}

/// Folds an event log in list order. Returns the state and, for every event, its outcome.
pub fn fold<S: Fold>(events: Vec<Event<S::Action>>) -> (S, Vec<Folded<S::Action>>) {
    let causality = Causality::new(&events);
    let mut state = S::default();
    let mut seen_ids = std::collections::HashSet::new();
    let mut last_applied: Vec<usize> = Vec::new();
    let mut out: Vec<Folded<S::Action>> = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let concurrent_with: Vec<String> =
            (0..i).filter(|&j| !causality.precedes(j, i)).map(|j| out[j].event.id.clone()).collect();
        let outcome = if !seen_ids.insert(event.id.clone()) {
            Outcome::Rejected { reason: "duplicate event id".into() }
        } else if !S::is_known(&event.action) {
            Outcome::Unknown
        } else {
            match state.apply(&event) {
                Ok(()) => {
                    last_applied.push(i);
                    Outcome::Applied
                }
                Err(e) => {
                    let reason = e.to_string();
                    match last_applied.iter().rev().find(|&&j| !causality.precedes(j, i)) {
                        Some(&j) => Outcome::Conflict { with: out[j].event.id.clone(), reason },
                        None => Outcome::Rejected { reason },
                    }
                }
            }
        };
        out.push(Folded { event, outcome, concurrent_with });
    }
    (state, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_claiming_the_start_of_time_was_entered_late() {
        // The delay between a claim and its arrival saturates instead of wrapping to "on time".
        assert!(is_late_entry(i64::MIN, Some(5), OFFLINE_WINDOW_MS));
        assert_eq!(judged_time(i64::MIN, Some(5), OFFLINE_WINDOW_MS), 5);
        assert!(!is_late_entry(5, Some(5 + OFFLINE_WINDOW_MS), OFFLINE_WINDOW_MS));
    }
}
