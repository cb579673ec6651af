//! The `validate_push` harness: a fuzz input becomes one document's push, judged by the relay's
//! validation (`zhuqi_server::sync::validate::validate`) in the [`World`].
//!
//! The first byte chooses how the input is read:
//!
//! - 0, **raw**: the pushing device, the held document, the kind and id the push names, then one to
//!   three chunks of the input's bytes taken as changes;
//! - 1, **mutated**: a seed push (a valid one), its changes' bytes mutated at chosen places (bits
//!   flipped, bytes set, inserted, deleted, spliced from another seed, cut), then by default framed
//!   again — length and checksum recomputed, so the chunk passes the relay's chunk checks and the
//!   mutation reaches Automerge's decoder and the shape check;
//! - 2, **expanded**: a seed change decoded (`Change::decode`), its fields edited (actor, sequence,
//!   start op, time, message, dependencies, extra bytes; ops' actions, objects, keys, insert flags,
//!   predecessors and values; ops added, removed, reordered) and encoded again;
//! - 3, **events**: a well-formed change, as a device writes it (on the held document at
//!   chosen dependencies, or a creation), with chosen deviations (another actor, an insert elsewhere,
//!   an extra op, a delete, a newer schema, a header field missing or wrong), inserting events built
//!   field by field from chosen values: ids, authors, roles, devices, times, `seen`, and every action
//!   of the document's kind with valid, unnormalised and invalid values — this reaches the event
//!   checks, the time checks and the rules.
//!
//! Whatever the verdict, validation must not panic, nor let through a change that makes Automerge's
//! apply panic (the relay catches that and refuses, but its checks are meant to prevent it); an
//! accepted push pushed again must be already stored, and a document handed back unchanged must be
//! the held one.

use crate::world::*;
use crate::{Reader, guard};
use automerge::legacy::{ElementId, Key, MarkData, ObjectId, Op, OpId, OpType, SortedVec};
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjType, ReadDoc, ScalarValue};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::LazyLock;
use zhuqi_core::document::encode;
use zhuqi_core::domain::policy::{Criteria, PolicyText};
use zhuqi_core::domain::*;
use zhuqi_core::sync::protocol::DocChanges;
use zhuqi_server::sync::validate::Verdict;

/// One document's push, by one device, against one held document.
pub struct Case {
    pub device: usize,
    pub base: Base,
    pub push: DocChanges,
}

impl Case {
    fn of(seed: &Seed) -> Case {
        Case { device: seed.device, base: seed.base, push: seed.push() }
    }
}

/// Runs one input; returns the verdict in words (`None`: the input describes no push).
pub fn run(data: &[u8]) -> Option<String> {
    Some(check(&WORLD, &case(data)?))
}

/// The push an input describes.
pub fn case(data: &[u8]) -> Option<Case> {
    let w = &*WORLD;
    let mut r = Reader::new(data);
    match r.u8() % 4 {
        0 => raw(&mut r),
        1 => mutated(w, &mut r),
        2 => expanded(w, &mut r),
        _ => events(w, &mut r),
    }
}

/// Judges the push and checks what the verdict hands back.
pub fn check(w: &World, case: &Case) -> String {
    let held_heads = w.held(case.base).map(|h| sorted(h.doc.get_heads()));
    let verdict = guard::relay(|| w.judge(case.device, case.base, &case.push));
    match verdict {
        Verdict::Accept(write, doc, deferred) => {
            assert!(deferred.is_empty(), "a validation without a budget left changes for later");
            assert!(!write.changes.is_empty(), "an accepted push stores changes");
            let again = guard::relay(|| w.judge_on(case.device, Some((case.push.kind, doc)), &case.push));
            assert!(
                matches!(again, Verdict::AlreadyStored(Some(_))),
                "an accepted push, pushed again, is not already stored"
            );
            "accepted".into()
        }
        Verdict::Deferred(_) => panic!("a validation without a budget deferred a document"),
        Verdict::AlreadyStored(doc) => {
            if let (Some(doc), Some(heads)) = (&doc, &held_heads) {
                assert_eq!(&sorted(doc.get_heads()), heads, "a push already stored changed the document");
            }
            "already stored".into()
        }
        Verdict::Reject(code, message, doc) => {
            // The relay answers a panic of Automerge's apply so; its checks are meant to leave
            // nothing Automerge fails on (a debug assertion of Automerge included, which a release
            // build does not check: what it guards would go unseen).
            assert_ne!(
                message, "the change could not be applied",
                "Automerge's apply panicked on a change let through"
            );
            if let (Some(doc), Some(heads)) = (&doc, &held_heads) {
                assert_eq!(&sorted(doc.get_heads()), heads, "a refusal handed back a changed document");
            }
            format!("refused {code:?}: {message}")
        }
    }
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

/// Device, held document, kind and id of a push, as chosen by the input.
fn setting(r: &mut Reader<'_>) -> (usize, Base, DocKind, String) {
    let device = r.below(5);
    let base = Base::ALL[r.below(3)];
    let named = World::names(base);
    let kind = match r.below(5) {
        0 => named.map_or(DocKind::Problem, |n| n.0),
        1 => DocKind::Enterprise,
        2 => DocKind::Problem,
        3 => DocKind::Policy,
        _ => DocKind::TaskNotice,
    };
    let doc = match r.below(4) {
        0 => named.map_or("prob-new", |n| n.1).to_owned(),
        1 => PROBLEM.to_owned(),
        2 => ENT_A.to_owned(),
        // The relay refuses a request naming a document id that is not plain before validating.
        _ => Some(r.string()).filter(|s| is_plain_id(s)).unwrap_or_else(|| "doc-x".into()),
    };
    (device, base, kind, doc)
}

fn raw(r: &mut Reader<'_>) -> Option<Case> {
    let (device, base, kind, doc) = setting(r);
    let n = 1 + r.below(3);
    let mut changes = Vec::new();
    for i in 0..n {
        let bytes = if i + 1 == n {
            r.rest()
        } else {
            let len = usize::from(r.u16());
            r.take(len)
        };
        changes.push(bytes.to_vec());
    }
    Some(Case { device, base, push: DocChanges { doc, kind, changes } })
}

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// The part of a change chunk after its header (magic, checksum, type, length), if it has one.
fn body(chunk: &[u8]) -> Option<&[u8]> {
    let (len, n) = leb(chunk.get(9..)?)?;
    let data = &chunk[9 + n..];
    (data.len() as u64 == len).then_some(data)
}

fn leb(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn push_leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// A change chunk around `data`: its length and checksum (the first four bytes of the SHA-256 of
/// type, length and data, as Automerge computes a change's hash) match it.
pub fn frame(data: &[u8]) -> Vec<u8> {
    let mut hashed = vec![1u8];
    push_leb(&mut hashed, data.len() as u64);
    hashed.extend_from_slice(data);
    let hash = Sha256::digest(&hashed);
    let mut chunk = MAGIC.to_vec();
    chunk.extend_from_slice(&hash[..4]);
    chunk.extend(hashed);
    chunk
}

/// Recomputes the checksum of a chunk over the data its header declares (if the chunk holds it).
fn fix_checksum(chunk: &mut [u8]) {
    let Some((len, n)) = chunk.get(9..).and_then(leb) else { return };
    let Some(end) = usize::try_from(len).ok().and_then(|l| l.checked_add(9 + n)).filter(|&e| e <= chunk.len()) else {
        return;
    };
    let hash = Sha256::digest(&chunk[8..end]);
    chunk[4..8].copy_from_slice(&hash[..4]);
}

fn mutated(w: &World, r: &mut Reader<'_>) -> Option<Case> {
    let mut case = Case::of(r.pick(&w.seeds));
    let flags = r.u8();
    if flags & 0x10 != 0 {
        (case.device, case.base, case.push.kind, case.push.doc) = setting(r);
    }
    let changes = &mut case.push.changes;
    if flags & 0x08 != 0 {
        changes.extend(r.pick(&w.seeds).changes.iter().cloned());
    }
    if flags & 0x40 != 0 {
        let c = changes[r.below(changes.len())].clone();
        changes.insert(r.below(changes.len() + 1), c);
    }
    if flags & 0x80 != 0 {
        changes.reverse();
    }
    // 0 and 3: the data mutated, then framed again; 1: the chunk mutated, its checksum recomputed;
    // 2: the chunk mutated, nothing recomputed.
    let fix = flags & 3;
    let mut edits: Vec<(usize, Vec<u8>)> = Vec::new();
    for _ in 0..r.below(9) {
        let i = r.below(changes.len());
        let pos = edits.iter().position(|(j, _)| *j == i);
        let buf = match pos {
            Some(p) => &mut edits[p].1,
            None => {
                let c = &changes[i];
                let start = if fix == 0 || fix == 3 {
                    body(c).map(<[u8]>::to_vec).unwrap_or_else(|| c.clone())
                } else {
                    c.clone()
                };
                edits.push((i, start));
                &mut edits.last_mut().unwrap().1
            }
        };
        mutate(w, r, buf);
    }
    for (i, buf) in edits {
        changes[i] = match fix {
            0 | 3 => frame(&buf),
            1 => {
                let mut b = buf;
                fix_checksum(&mut b);
                b
            }
            _ => buf,
        };
    }
    Some(case)
}

fn mutate(w: &World, r: &mut Reader<'_>, buf: &mut Vec<u8>) {
    let op = r.below(8);
    let at = usize::from(r.u16());
    let len = buf.len();
    match op {
        0 if len > 0 => buf[at % len] ^= 1 << r.below(8),
        1 if len > 0 => buf[at % len] = r.u8(),
        2 => {
            let n = 1 + r.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| r.u8()).collect();
            let at = at % (len + 1);
            buf.splice(at..at, bytes);
        }
        3 if len > 0 => {
            let at = at % len;
            let end = (at + 1 + r.below(16)).min(len);
            buf.drain(at..end);
        }
        4 => {
            // A piece of another seed's change, over or into this one.
            let seed = r.pick(&w.seeds);
            let src = &seed.changes[r.below(seed.changes.len())];
            let from = usize::from(r.u16()) % src.len();
            let piece = &src[from..(from + 1 + r.below(64)).min(src.len())];
            let at = at % (len + 1);
            let over = if r.bool() { piece.len().min(len - at) } else { 0 };
            buf.splice(at..at + over, piece.iter().copied());
        }
        5 => {
            // A value at a boundary: one byte, or a long LEB128 number.
            const VALUES: [&[u8]; 7] =
                [&[0], &[1], &[0x7f], &[0x80], &[0xff], &[0xff, 0xff, 0xff, 0xff, 0x0f], &[0xff; 10]];
            let v = r.pick(&VALUES);
            let at = at % (len + 1);
            let over = v.len().min(len - at);
            buf.splice(at..at + over, v.iter().copied());
        }
        6 => buf.truncate(at % (len + 1)),
        7 if len > 0 => {
            let i = at % len;
            buf[i] = buf[i].wrapping_add(r.u8() % 9).wrapping_sub(4);
        }
        _ => {}
    }
}

/// The strings the seeds insert: values an edited op may carry.
static SEED_EVENTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    WORLD
        .seeds
        .iter()
        .flat_map(|s| &s.changes)
        .filter_map(|c| Change::from_bytes(c.clone()).ok())
        .flat_map(|c| c.decode().operations)
        .filter_map(|op| match op.action {
            OpType::Put(ScalarValue::Str(s)) => Some(s.to_string()),
            _ => None,
        })
        .collect()
});

fn expanded(w: &World, r: &mut Reader<'_>) -> Option<Case> {
    let mut case = Case::of(r.pick(&w.seeds));
    if r.bool() {
        (case.device, case.base, case.push.kind, case.push.doc) = setting(r);
    }
    let which = r.below(case.push.changes.len());
    let mut e = Change::from_bytes(case.push.changes[which].clone()).ok()?.decode();
    for _ in 0..1 + r.below(6) {
        edit(w, r, &mut e);
    }
    // Automerge's encoder may refuse what no device could write (then the input is skipped).
    case.push.changes[which] = guard::harness(|| Change::from(e).raw_bytes().to_vec())?;
    Some(case)
}

fn actor(w: &World, r: &mut Reader<'_>, own: &ActorId) -> ActorId {
    match r.below(8) {
        0 => own.clone(),
        1..=5 => w.devices[r.below(w.devices.len())].actor.clone(),
        6 => ActorId::from(r.bytes(40).to_vec()),
        _ => ActorId::from(vec![0u8; 16]),
    }
}

fn op_id(w: &World, r: &mut Reader<'_>, e: &automerge::ExpandedChange) -> OpId {
    let counter = match r.below(4) {
        0 => e.start_op.get().saturating_add(r.below(4) as u64),
        1 => e.start_op.get().saturating_sub(1 + r.below(4) as u64),
        2 => 1 + r.below(8) as u64,
        _ => r.u64(),
    };
    OpId::new(counter, &actor(w, r, &e.actor_id))
}

fn key(w: &World, r: &mut Reader<'_>, e: &automerge::ExpandedChange) -> Key {
    const KEYS: [&str; 8] = ["events", "schema", "kind", "id", "enterprise_id", "enterprise_name", "region_id", "x"];
    match r.below(4) {
        0 => Key::Map((*r.pick(&KEYS)).into()),
        1 => Key::Map(r.string().into()),
        2 => Key::Seq(ElementId::Head),
        _ => Key::Seq(ElementId::Id(op_id(w, r, e))),
    }
}

fn scalar(r: &mut Reader<'_>) -> ScalarValue {
    match r.below(12) {
        0 => ScalarValue::Str(SEED_EVENTS[r.below(SEED_EVENTS.len())].as_str().into()),
        1 => ScalarValue::Str(r.string().into()),
        2 => ScalarValue::Int(r.u64() as i64),
        3 => ScalarValue::Uint(r.u64()),
        4 => ScalarValue::F64(f64::from_bits(r.u64())),
        5 => ScalarValue::Boolean(r.bool()),
        6 => ScalarValue::Null,
        7 => ScalarValue::Bytes(r.bytes(32).to_vec()),
        8 => ScalarValue::counter(r.u64() as i64),
        9 => ScalarValue::Timestamp(r.u64() as i64),
        10 => ScalarValue::Unknown { type_code: r.u8(), bytes: r.bytes(16).to_vec() },
        _ => ScalarValue::Int(1),
    }
}

fn op_type(r: &mut Reader<'_>) -> OpType {
    const OBJECTS: [ObjType; 4] = [ObjType::Map, ObjType::List, ObjType::Text, ObjType::Table];
    match r.below(6) {
        0 => OpType::Put(scalar(r)),
        1 => OpType::Make(*r.pick(&OBJECTS)),
        2 => OpType::Delete,
        3 => OpType::Increment(r.u64() as i64),
        4 => OpType::MarkBegin(MarkData { name: r.string().into(), value: scalar(r), expand: r.bool() }),
        _ => OpType::MarkEnd(r.bool()),
    }
}

fn edit(w: &World, r: &mut Reader<'_>, e: &mut automerge::ExpandedChange) {
    let ops = e.operations.len();
    match r.below(12) {
        0 => e.actor_id = actor(w, r, &e.actor_id),
        1 => e.seq = *r.pick(&[0, e.seq.saturating_add(1), e.seq.saturating_sub(1), u64::from(u32::MAX) + 1, u64::MAX]),
        2 => {
            let start = e.start_op.get();
            let any = r.u64();
            let v = *r.pick(&[start.saturating_add(1), start.saturating_sub(1), 1, u64::from(u32::MAX), u64::MAX, any]);
            e.start_op = NonZeroU64::new(v).unwrap_or(NonZeroU64::MIN);
        }
        3 => e.time = r.u64() as i64,
        4 => e.message = r.bool().then(|| r.string()),
        5 => match r.below(5) {
            0 => e.deps.clear(),
            1 => {
                let held = w.held(Base::ALL[1 + r.below(2)]).unwrap();
                e.deps.push(held.changes[r.below(held.changes.len())]);
            }
            2 => {
                let mut h = [0u8; 32];
                h.iter_mut().for_each(|b| *b = r.u8());
                e.deps.push(ChangeHash(h));
            }
            3 => {
                e.deps.pop();
            }
            _ => e.deps.reverse(),
        },
        6 => e.extra_bytes = r.bytes(32).to_vec(),
        7 if ops > 0 => {
            let i = r.below(ops);
            let field = r.below(6);
            let new_obj = (field == 1).then(|| if r.bool() { ObjectId::Root } else { ObjectId::Id(op_id(w, r, e)) });
            let new_key = (field == 2).then(|| key(w, r, e));
            let new_pred = (field == 4).then(|| op_id(w, r, e));
            let op = &mut e.operations[i];
            match field {
                0 => op.action = op_type(r),
                1 => op.obj = new_obj.unwrap(),
                2 => op.key = new_key.unwrap(),
                3 => op.insert = !op.insert,
                4 => {
                    let mut pred: Vec<OpId> = op.pred.iter().cloned().collect();
                    pred.push(new_pred.unwrap());
                    op.pred = SortedVec::from(pred);
                }
                _ => op.pred = SortedVec::new(),
            }
        }
        8 if ops > 0 => {
            let op = e.operations[r.below(ops)].clone();
            e.operations.insert(r.below(ops + 1), op);
        }
        9 if ops > 0 => {
            e.operations.remove(r.below(ops));
        }
        10 if ops > 1 => e.operations.swap(r.below(ops), r.below(ops)),
        _ => {
            let obj = if r.bool() { ObjectId::Root } else { ObjectId::Id(op_id(w, r, e)) };
            let key = key(w, r, e);
            let op = Op { action: op_type(r), obj, key, pred: SortedVec::new(), insert: r.bool() };
            let at = r.below(ops + 1);
            e.operations.insert(at, op);
        }
    }
}

// The events mode: values chosen among well-formed ones (first) and invalid ones.

fn text(r: &mut Reader<'_>) -> String {
    match r.below(8) {
        0 => "已处理".into(),
        1 => String::new(),
        2 => " 前后空格 ".into(),
        3 => "x".repeat(text::SHORT + 1),
        4 => "长".repeat(text::MEDIUM + 1),
        5 => "y".repeat(text::LONG + 1),
        6 => "a\u{0}\u{202e}b\n".into(),
        _ => r.string(),
    }
}

fn opt<T>(r: &mut Reader<'_>, f: impl FnOnce(&mut Reader<'_>) -> T) -> Option<T> {
    if r.bool() { Some(f(r)) } else { None }
}

fn time(r: &mut Reader<'_>) -> i64 {
    match r.below(11) {
        0 => NOW - HOUR,
        1 => NOW,
        2 => NOW + 9 * MINUTE,
        3 => NOW + 11 * MINUTE,
        // Before the first events of the held documents.
        4 => NOW - 3 * DAY - 11 * MINUTE,
        // Before the relay received the handler's progress note.
        5 => NOW - 2 * DAY - 10 * MINUTE,
        6 => NOW - 40 * DAY,
        7 => i64::MIN,
        8 => i64::MAX,
        9 => NOW + i64::from(r.u32() as i32) * 1000,
        _ => r.u64() as i64,
    }
}

fn deadline(r: &mut Reader<'_>) -> i64 {
    match r.below(4) {
        0 => NOW + 5 * DAY,
        1 => NOW - DAY,
        2 => i64::MAX,
        _ => time(r),
    }
}

fn level(r: &mut Reader<'_>) -> u8 {
    *r.pick(&[1, 2, 3, 4, 5, 0, 6, u8::MAX])
}

fn department(r: &mut Reader<'_>) -> String {
    (*r.pick(&[FINANCE, HR, OTHER_DEPT, "dept-none"])).into()
}

fn user_id(r: &mut Reader<'_>) -> String {
    (*r.pick(&["cadre-b", "cadre", "manager", "handler", "nobody"])).into()
}

fn location(r: &mut Reader<'_>) -> Location {
    match r.below(4) {
        0 => Location { lat: 34.75, lon: 113.62, accuracy_m: 10.0, mock: false },
        1 => Location { lat: 91.0, lon: 181.0, accuracy_m: -1.0, mock: false },
        2 => Location { lat: f64::NAN, lon: f64::INFINITY, accuracy_m: 0.0, mock: false },
        _ => Location { lat: f64::from_bits(r.u64()), lon: f64::from_bits(r.u64()), accuracy_m: 5.0, mock: false },
    }
}

/// Photo references: none, a well-formed one, or anything.
fn photos(r: &mut Reader<'_>) -> Vec<PhotoRef> {
    match r.below(3) {
        0 => vec![],
        1 => vec![PhotoRef { id: "ph-1".into(), sha256: "ab".repeat(32), size_bytes: 1024 }],
        _ => vec![PhotoRef { id: text(r), sha256: text(r), size_bytes: r.u64() }],
    }
}

fn problem_action(r: &mut Reader<'_>) -> ProblemAction {
    use ProblemAction::*;
    match r.below(14) {
        0 => Progress { note: text(r), photos: photos(r) },
        1 => Reported {
            enterprise_id: (*r.pick(&[ENT_A, "ent-b", ""])).into(),
            category: match r.below(Category::ALL.len() + 1) {
                i if i < Category::ALL.len() => Category::ALL[i],
                _ => Category::from_stored("newer_category"),
            },
            title: text(r),
            description: text(r),
            visit_id: r.pick(&[None, Some("visit-1"), Some("visit-9")]).map(Into::into),
            photos: photos(r),
        },
        2 => Accepted { note: text(r) },
        3 => Routed { department_id: department(r), level: level(r), deadline: deadline(r), note: text(r) },
        4 => Escalated {
            level: level(r),
            reason: text(r),
            department_id: opt(r, department),
            deadline: opt(r, deadline),
        },
        5 => Urged { note: text(r) },
        6 => Resolved { resolution: text(r), photos: photos(r) },
        7 => Confirmed { rating: level(r), comment: text(r) },
        8 => Rejected { reason: text(r) },
        9 => CalledBack { contact: text(r), accepted: r.bool(), rating: opt(r, level), note: text(r) },
        10 => Closed { note: text(r) },
        11 => ClosedUnanswered { note: text(r), answer_days: opt(r, |r| u32::from(r.u8())) },
        12 => FollowedUp { note: text(r), still_solved: r.bool() },
        _ => Unknown,
    }
}

fn enterprise_action(r: &mut Reader<'_>) -> EnterpriseAction {
    use EnterpriseAction::*;
    let uscc = |r: &mut Reader<'_>| match r.below(3) {
        0 => profile().uscc,
        1 => "91410102MA44XY8K10".into(),
        _ => text(r),
    };
    match r.below(7) {
        0 => VisitRecorded {
            visit: VisitRecord {
                id: (*r.pick(&["visit-n", "visit-1", ""])).into(),
                date: match r.below(6) {
                    0 => "2025-12-31".into(),
                    1 => "2026-01-01".into(),
                    2 => "2026-01-03".into(),
                    3 => "2025-02-30".into(),
                    4 => " 2025-12-31 ".into(),
                    _ => text(r),
                },
                people_met: match r.below(3) {
                    0 => vec!["刘总".into()],
                    1 => vec![],
                    _ => vec![text(r), text(r)],
                },
                notes: text(r),
                policies: if r.bool() { vec![text(r)] } else { vec![] },
                policy_ids: vec![],
                location: opt(r, location),
                photos: photos(r),
            },
        },
        1 => Registered {
            profile: Profile {
                name: text(r),
                uscc: uscc(r),
                region_id: (*r.pick(&[COUNTY, OTHER_COUNTY, "", "999999"])).into(),
                location: opt(r, location),
                ..profile()
            },
        },
        2 => ProfileUpdated {
            update: ProfileUpdate {
                industry: opt(r, text),
                tags: opt(r, |r| vec![text(r)]),
                address: opt(r, text),
                location: opt(r, location),
                contacts: opt(r, |r| {
                    let phone = (*r.pick(&["13800000000", "", "call me", "+86 371-1234"])).into();
                    vec![Contact { name: text(r), title: text(r), phone }]
                }),
            },
        },
        3 => Corrected {
            correction: Correction { name: opt(r, text), uscc: opt(r, uscc), address: opt(r, text), reason: text(r) },
        },
        4 => CadreAssigned { cadre_id: user_id(r), chief: r.bool() },
        5 => AssignmentEnded { cadre_id: user_id(r), reason: text(r) },
        6 if r.bool() => ScaleSet {
            scale: Scale {
                employees: opt(r, |r| *r.pick(&[0, 50, 5_000_001, u32::MAX])),
                revenue: opt(r, |r| *r.pick(&[0, 1_000, 1_000_000_001, u64::MAX])),
                founded: opt(r, |r| (*r.pick(&["1958-10-01", "2026-02-30", "1700-01-01", ""])).into()),
            },
        },
        _ => Unknown,
    }
}

fn recipient(r: &mut Reader<'_>) -> Recipient {
    match r.below(5) {
        0 => Recipient::Department(FINANCE.into()),
        1 => Recipient::Cadre("cadre".into()),
        2 => Recipient::Department(OTHER_DEPT.into()),
        3 => Recipient::Cadre("cadre-b".into()),
        _ => Recipient::Department(text(r)),
    }
}

fn notice_action(r: &mut Reader<'_>) -> TaskNoticeAction {
    use TaskNoticeAction::*;
    match r.below(4) {
        0 => Issued {
            region_id: (*r.pick(&[COUNTY, OTHER_COUNTY, PROVINCE, "999999"])).into(),
            title: text(r),
            body: text(r),
            deadline: deadline(r),
            recipients: match r.below(4) {
                0 => vec![Recipient::Department(FINANCE.into()), Recipient::Cadre("cadre".into())],
                1 => vec![],
                2 => vec![Recipient::Cadre("cadre".into()), Recipient::Cadre("cadre".into())],
                _ => vec![recipient(r)],
            },
        },
        1 => Acknowledged { recipient: recipient(r) },
        2 => Completed { recipient: recipient(r), note: text(r) },
        _ => Unknown,
    }
}

fn policy_action(r: &mut Reader<'_>) -> PolicyAction {
    let text_of = |r: &mut Reader<'_>| PolicyText {
        title: text(r),
        issuer: text(r),
        doc_number: text(r),
        summary: text(r),
        text: text(r),
        valid_from: (*r.pick(&["2026-01-01", "2026-13-01", ""])).into(),
        valid_until: (*r.pick(&["2026-12-31", "2025-01-01", "x"])).into(),
        contact_department: opt(r, department),
        criteria: Criteria {
            regions: match r.below(3) {
                0 => vec![],
                1 => vec![COUNTY.into()],
                _ => vec![text(r)],
            },
            industries: if r.bool() { vec![text(r)] } else { vec![] },
            tags: if r.bool() { vec!["srdi".into()] } else { vec![text(r)] },
            sizes: match r.below(3) {
                0 => vec![],
                1 => vec!["small".into()],
                _ => vec![text(r)],
            },
            min_age_years: r.bool().then(|| r.below(300) as u32),
            under_age_years: r.bool().then(|| r.below(300) as u32),
        },
        excludes: match r.below(3) {
            0 => vec![],
            1 => vec!["policy-1".into()],
            _ => vec![text(r)],
        },
    };
    match r.below(4) {
        0 => PolicyAction::Issued {
            region_id: (*r.pick(&[COUNTY, OTHER_COUNTY, PROVINCE, "999999"])).into(),
            policy: text_of(r),
        },
        1 => PolicyAction::Revised { policy: text_of(r), reason: text(r) },
        2 => PolicyAction::Withdrawn { reason: text(r) },
        _ => PolicyAction::Unknown,
    }
}

/// One event string (and its id), `prev` the `seen` a well-formed one lists.
fn event(
    w: &World,
    r: &mut Reader<'_>,
    device: usize,
    kind: DocKind,
    prev: &[String],
    n: usize,
) -> Option<(String, String)> {
    if r.u8() == u8::MAX {
        return Some((r.string(), String::new()));
    }
    let dev = &w.devices[device];
    let id = match r.below(6) {
        0 => format!("f-{n}"),
        1 => "p-1".into(),
        2 => "e-1".into(),
        3 => String::new(),
        4 => "not plain!".into(),
        _ => r.string(),
    };
    let by = match r.below(3) {
        0 => dev.user.id.clone(),
        1 => user_id(r),
        _ => "contact".into(),
    };
    let role = *r.pick(&[
        dev.user.role,
        Role::Cadre,
        Role::Manager,
        Role::DepartmentHandler,
        Role::EnterpriseContact,
        Role::from_stored("auditor"),
    ]);
    let device_id = match r.below(4) {
        0 => dev.device_id.clone(),
        1 => "dev-manager".into(),
        2 => zhuqi_server::sync::author::relay_device_id(&dev.user.id),
        _ => r.string(),
    };
    let at = time(r);
    let seen = match r.below(6) {
        0 => prev.to_vec(),
        1 => vec![],
        2 => prev.iter().take(1).cloned().collect(),
        3 => vec!["p-1".into()],
        4 => prev.iter().cloned().chain(["p-1".to_owned()]).collect(),
        _ => vec![r.string()],
    };
    let meta = Event { id: id.clone(), by, role, device: device_id, at, seen, origin: None, action: () };
    /// The event, given an origin (which only the history import may write) as the input chooses:
    /// read after the action, so that a zero (or the input's end) leaves it without one.
    fn with<A>(meta: Event<()>, action: A, r: &mut Reader<'_>) -> Event<A> {
        let origin = match r.below(3) {
            0 => None,
            1 => Some(Origin { record: r.string(), person: None, user: None }),
            _ => Some(Origin { record: "HN-2022-1".into(), person: Some(r.string()), user: Some(r.string()) }),
        };
        let Event { id, by, role, device, at, seen, .. } = meta;
        Event { id, by, role, device, at, seen, origin, action }
    }
    // An event some value of which JSON cannot hold (a NaN) is skipped.
    let json = match kind {
        DocKind::Problem => encode(&with(meta, problem_action(r), r)),
        DocKind::Enterprise => encode(&with(meta, enterprise_action(r), r)),
        DocKind::TaskNotice => encode(&with(meta, notice_action(r), r)),
        DocKind::Policy => encode(&with(meta, policy_action(r), r)),
    }
    .ok()?;
    Some((json, id))
}

/// Where a device holding some history of a held document writes: what a change made on that
/// history says (dependencies, first op counter, sequence number) and what its events must see.
/// Worked out once per held document and history; the events mode builds its changes from them
/// directly (as `Change::from` an expanded change), not through an Automerge document.
pub struct View {
    deps: Vec<ChangeHash>,
    /// The event list, and its elements at `deps`.
    list: OpId,
    elems: Vec<OpId>,
    start_op: u64,
    /// Changes of each actor in the history of `deps`, and in the whole document.
    history: HashMap<ActorId, u64>,
    held: HashMap<ActorId, u64>,
    /// The heads of the event log at `deps`.
    heads: Vec<String>,
}

/// The views of each held document (by [`Base`]): first at its heads, then at each of its changes.
static VIEWS: LazyLock<Vec<Vec<View>>> = LazyLock::new(|| {
    Base::ALL
        .iter()
        .map(|&b| match WORLD.held(b) {
            None => Vec::new(),
            Some(h) => std::iter::once(h.doc.get_heads())
                .chain(h.changes.iter().map(|c| vec![*c]))
                .map(|deps| view(&h.doc, deps))
                .collect(),
        })
        .collect()
});

fn view(doc: &Automerge, deps: Vec<ChangeHash>) -> View {
    let at = doc.fork_at(&deps).expect("heads of the document");
    let op_id = |id: automerge::ObjId| match id {
        automerge::ObjId::Id(counter, actor, _) => OpId::new(counter, &actor),
        automerge::ObjId::Root => unreachable!("an element is not the root"),
    };
    let list = crate::world::events_list(&at).expect("an event list");
    let elems = at.values(&list).map(|(_, id)| op_id(id)).collect();
    let count = |d: &Automerge| {
        let mut n: HashMap<ActorId, u64> = HashMap::new();
        for m in d.get_changes_meta(&[]) {
            *n.entry(m.actor.into_owned()).or_default() += 1;
        }
        n
    };
    View {
        start_op: crate::world::max_op(&at) + 1,
        history: count(&at),
        held: count(doc),
        heads: event_heads(&at),
        list: op_id(list),
        elems,
        deps,
    }
}

fn put(obj: ObjectId, key: Key, value: ScalarValue) -> Op {
    Op { action: OpType::Put(value), obj, key, pred: SortedVec::new(), insert: false }
}

fn events(w: &World, r: &mut Reader<'_>) -> Option<Case> {
    let device = r.below(5);
    let base = Base::ALL[r.below(3)];
    let named = World::names(base);
    let kind = match r.below(5) {
        0 => named.map_or(DocKind::Problem, |n| n.0),
        1 => DocKind::Enterprise,
        2 => DocKind::Problem,
        3 => DocKind::Policy,
        _ => DocKind::TaskNotice,
    };
    let doc_id = match r.below(4) {
        0 => named.map_or(id_default(kind), |n| n.1).to_owned(),
        1 => id_default(kind).to_owned(),
        2 => PROBLEM.to_owned(),
        _ => Some(r.string()).filter(|s| is_plain_id(s)).unwrap_or_else(|| "doc-x".into()),
    };
    // Bits: another device's actor; an insert elsewhere than at the end; an extra op on the root;
    // a second change; a newer schema (a creation) or the sequence number counted over the whole
    // document instead of the history (an append); a delete; a header field missing; the header's
    // values wrong.
    let flags = r.u8();
    let header = header(r, kind, flags);
    let views = &VIEWS[Base::ALL.iter().position(|b| *b == base).unwrap()];
    let view = (!views.is_empty()).then(|| &views[r.below(views.len())]);
    let actor = if flags & 1 != 0 { &w.devices[(device + 1 + r.below(4)) % 5].actor } else { &w.devices[device].actor };
    let mut prev = view.map_or_else(Vec::new, |v| v.heads.clone());
    let (mut deps, mut start, mut seq, mut after) = match view {
        Some(v) => {
            let counts = if flags & 0x10 != 0 { &v.held } else { &v.history };
            let seq = counts.get(actor).copied().unwrap_or(0) + 1;
            let after = v.elems.last().map_or(ElementId::Head, |e| ElementId::Id(e.clone()));
            (v.deps.clone(), v.start_op, seq, after)
        }
        None => (Vec::new(), 1, 1, ElementId::Head),
    };
    let mut list = view.map(|v| ObjectId::Id(v.list.clone()));
    let mut changes = Vec::new();
    for round in 0..if flags & 8 != 0 { 2 } else { 1 } {
        let n = match r.u8() {
            b @ 0..=239 => 1 + usize::from(b) % 3,
            b => usize::from(b) % 20,
        };
        let mut strings = Vec::new();
        for i in 0..n {
            let (s, id) = event(w, r, device, kind, &prev, round * 100 + i)?;
            strings.push(s);
            prev = vec![id];
        }
        let time = if r.below(2) == 0 { NOW / 1000 } else { 0 };
        let mut ops = Vec::new();
        if flags & 4 != 0 {
            ops.push(put(ObjectId::Root, Key::Map("x".into()), ScalarValue::Int(1)));
        }
        let id_of = |ops: &Vec<Op>| OpId::new(start + ops.len() as u64, actor);
        if list.is_none() {
            let schema = zhuqi_core::document::SCHEMA_VERSION + i64::from(flags & 0x10 != 0);
            ops.push(put(ObjectId::Root, Key::Map("schema".into()), ScalarValue::Int(schema)));
            ops.push(put(ObjectId::Root, Key::Map("kind".into()), ScalarValue::Str(kind.as_str().into())));
            ops.push(put(ObjectId::Root, Key::Map("id".into()), ScalarValue::Str(doc_id.as_str().into())));
            for (k, v) in &header {
                ops.push(put(ObjectId::Root, Key::Map((*k).into()), ScalarValue::Str((*v).into())));
            }
            list = Some(ObjectId::Id(id_of(&ops)));
            ops.push(Op {
                action: OpType::Make(ObjType::List),
                obj: ObjectId::Root,
                key: Key::Map("events".into()),
                pred: SortedVec::new(),
                insert: false,
            });
        }
        let list = list.clone().unwrap();
        if flags & 2 != 0 && round == 0 {
            let elems = view.map_or(&[][..], |v| &v.elems);
            after = match r.below(elems.len() + 1) {
                0 => ElementId::Head,
                i => ElementId::Id(elems[i - 1].clone()),
            };
        }
        for s in strings {
            let id = id_of(&ops);
            ops.push(Op {
                action: OpType::Put(ScalarValue::Str(s.into())),
                obj: list.clone(),
                key: Key::Seq(after),
                pred: SortedVec::new(),
                insert: true,
            });
            after = ElementId::Id(id);
        }
        if let Some(first) = view.and_then(|v| v.elems.first()).filter(|_| flags & 0x20 != 0 && round == 0) {
            ops.push(Op {
                action: OpType::Delete,
                obj: list.clone(),
                key: Key::Seq(ElementId::Id(first.clone())),
                pred: SortedVec::from(vec![first.clone()]),
                insert: false,
            });
        }
        let len = ops.len() as u64;
        let change = automerge::ExpandedChange {
            operations: ops,
            actor_id: actor.clone(),
            hash: None,
            seq,
            start_op: NonZeroU64::new(start)?,
            time,
            message: None,
            deps,
            extra_bytes: Vec::new(),
            author: None,
        };
        let change = guard::harness(|| Change::from(change))?;
        changes.push(change.raw_bytes().to_vec());
        // A second change follows the first.
        deps = vec![change.hash()];
        start += len;
        seq += 1;
    }
    Some(Case { device, base, push: DocChanges { doc: doc_id, kind, changes } })
}

fn id_default(kind: DocKind) -> &'static str {
    match kind {
        DocKind::Problem => "prob-new",
        DocKind::Enterprise => "ent-new",
        DocKind::TaskNotice => "notice-new",
        DocKind::Policy => "policy-new",
    }
}

/// The header fields of a creation (after `schema`, `kind` and `id`).
fn header(r: &mut Reader<'_>, kind: DocKind, flags: u8) -> Vec<(&'static str, &'static str)> {
    let wrong = flags & 0x80 != 0;
    let mut fields = match kind {
        DocKind::Problem => vec![
            ("enterprise_id", if wrong { *r.pick(&["ent-b", ""]) } else { ENT_A }),
            ("enterprise_name", *r.pick(&[NAME, OLD_NAME, "别的企业", ""])),
            ("region_id", if wrong { *r.pick(&[OTHER_COUNTY, PROVINCE]) } else { COUNTY }),
        ],
        DocKind::TaskNotice | DocKind::Policy => vec![("region_id", if wrong { OTHER_COUNTY } else { COUNTY })],
        DocKind::Enterprise => vec![],
    };
    if flags & 0x40 != 0 {
        fields.pop();
    }
    fields
}
