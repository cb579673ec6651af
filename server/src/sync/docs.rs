//! A bounded cache of the Automerge documents the relay validates pushes against. Its size is capped
//! in bytes (of the documents' saved form, a proxy for their memory), so the relay's memory does not
//! grow with the number of stored documents.
//!
//! A cached document is the relay's current copy: every change this relay accepts goes through it,
//! and one another relay stores is announced (`forget`). A document whose commit is still on its
//! way to storage stays cached (it is pinned until `committed`), since storage does not hold it yet.
//! Documents are loaded ahead of validation, outside the push lock (`prefetch`), so that pushes
//! wait on the database one beside the other, not one after the other.

use crate::storage::{RelayStorage, Result, StorageError};
use automerge::Automerge;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use zhuqi_core::domain::DocKind;

/// A document with what the cache knows of it.
pub struct CachedDoc {
    pub kind: DocKind,
    pub doc: Automerge,
    /// Sequence number of the latest change it holds.
    pub last_seq: u64,
    /// Estimated memory, in bytes.
    pub size: usize,
    /// Changes stored after the stored snapshot (the relay saves a new one every so often).
    pub since_snapshot: usize,
}

/// Estimated memory of a document per byte of its saved form: measured at 24 on 10,000 generated
/// enterprise and problem documents (Automerge's saved form is compressed; loaded, every operation is
/// a struct of its own).
pub const MEMORY_PER_SAVED_BYTE: usize = 24;

struct Entry {
    doc: CachedDoc,
    used: u64,
}

pub struct DocCache {
    inner: Mutex<Inner>,
    cap_bytes: usize,
}

struct Inner {
    map: HashMap<String, Entry>,
    /// The cached documents by last use (`Entry::used`), least recent first.
    by_use: BTreeMap<u64, String>,
    bytes: usize,
    tick: u64,
    /// Documents with commits on their way to storage, and how many: never evicted.
    pending: HashMap<String, u32>,
    /// Documents committed, numbered (the newest `RECENT` of them), so that a copy loaded from
    /// storage before one of its commits landed is not cached.
    committed: u64,
    recent: VecDeque<(u64, String)>,
}

/// How many committed documents the cache remembers (see `Inner::recent`).
const RECENT: usize = 4096;

impl Inner {
    fn insert(&mut self, id: &str, doc: CachedDoc, cap_bytes: usize) {
        self.remove(id);
        self.tick += 1;
        let used = self.tick;
        self.bytes += doc.size;
        self.map.insert(id.to_owned(), Entry { doc, used });
        self.by_use.insert(used, id.to_owned());
        // Evict the least recently used, but never the one just put nor one with a commit on its way.
        while self.bytes > cap_bytes {
            let Some(oldest) =
                self.by_use.values().find(|k| k.as_str() != id && !self.pending.contains_key(k.as_str())).cloned()
            else {
                break;
            };
            self.remove(&oldest);
        }
    }

    fn remove(&mut self, id: &str) -> Option<CachedDoc> {
        let e = self.map.remove(id)?;
        self.by_use.remove(&e.used);
        self.bytes -= e.doc.size;
        Some(e.doc)
    }

    /// Whether the cache holds `id` or has a commit of it on its way.
    fn holds(&self, id: &str) -> bool {
        self.map.contains_key(id) || self.pending.contains_key(id)
    }

    /// Copies being loaded now, before the caller's change, must not be cached.
    fn outdate_loads(&mut self) {
        self.committed += RECENT as u64 + 1;
        self.recent.clear();
    }

    /// Whether `id` was committed after the `since`-th commit (or the cache no longer knows).
    fn committed_since(&self, id: &str, since: u64) -> bool {
        if self.committed == since {
            return false;
        }
        if self.recent.front().is_none_or(|(n, _)| *n > since + 1) {
            return true;
        }
        self.recent.iter().rev().take_while(|(n, _)| *n > since).any(|(_, d)| d == id)
    }
}

impl DocCache {
    pub fn new(cap_bytes: usize) -> Self {
        let inner = Inner {
            map: HashMap::new(),
            by_use: BTreeMap::new(),
            bytes: 0,
            tick: 0,
            pending: HashMap::new(),
            committed: 0,
            recent: VecDeque::new(),
        };
        DocCache { inner: Mutex::new(inner), cap_bytes }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a document out of the cache (or loads it from storage). The caller puts it back with
    /// [`DocCache::put`] once done. Callers that may change it hold the relay's push lock.
    pub fn take(&self, storage: &dyn RelayStorage, id: &str) -> Result<Option<CachedDoc>> {
        let cached = {
            let mut inner = self.lock();
            let c = inner.remove(id);
            // Taken and not put back (a push that failed half-way): storage does not hold its
            // newest changes yet, so wait until they land (the pusher retries stale documents).
            if c.is_none() && inner.pending.contains_key(id) {
                return Err(StorageError::Stale(id.to_owned()));
            }
            c
        };
        match cached {
            Some(c) => Ok(Some(c)),
            None => load(storage, id),
        }
    }

    /// Loads the documents not cached yet into the cache, without the push lock: a copy is cached
    /// only if no commit of the document landed or started meanwhile.
    pub fn prefetch(&self, storage: &dyn RelayStorage, ids: &[&str]) -> Result<()> {
        self.prefetch_within(storage, ids, usize::MAX)
    }

    /// `prefetch`, stopping once the documents loaded hold more than `events` events: a push loads
    /// no more than it can validate.
    pub fn prefetch_within(&self, storage: &dyn RelayStorage, ids: &[&str], events: usize) -> Result<()> {
        let mut loaded = 0usize;
        for id in ids {
            if loaded > events {
                break;
            }
            let since = {
                let inner = self.lock();
                if inner.holds(id) {
                    continue;
                }
                inner.committed
            };
            let Some(doc) = load(storage, id)? else { continue };
            loaded += zhuqi_core::document::event_count(&doc.doc);
            let mut inner = self.lock();
            if !inner.holds(id) && !inner.committed_since(id, since) {
                inner.insert(id, doc, self.cap_bytes);
            }
        }
        Ok(())
    }

    pub fn put(&self, id: &str, doc: CachedDoc) {
        self.lock().insert(id, doc, self.cap_bytes);
    }

    /// Puts back a document whose new changes are on their way to storage: it stays cached until
    /// [`DocCache::committed`].
    /// Whether a commit of this document is on its way to storage.
    pub fn is_pending(&self, id: &str) -> bool {
        self.lock().pending.contains_key(id)
    }

    pub fn put_pending(&self, id: &str, doc: CachedDoc) {
        let mut inner = self.lock();
        *inner.pending.entry(id.to_owned()).or_default() += 1;
        inner.insert(id, doc, self.cap_bytes);
    }

    /// Records that a document's changes up to `seq` are stored.
    pub fn committed(&self, id: &str, seq: u64) {
        let mut inner = self.lock();
        if let Some(e) = inner.map.get_mut(id) {
            e.doc.last_seq = e.doc.last_seq.max(seq);
        }
        if let Some(n) = inner.pending.get_mut(id) {
            *n -= 1;
            if *n == 0 {
                inner.pending.remove(id);
            }
        }
        inner.committed += 1;
        let n = inner.committed;
        inner.recent.push_back((n, id.to_owned()));
        if inner.recent.len() > RECENT {
            inner.recent.pop_front();
        }
    }

    /// Forgets documents another relay changed (all but those with commits on their way, which
    /// storage will refuse as stale if they crossed).
    pub fn forget(&self, ids: &[String]) {
        let mut inner = self.lock();
        for id in ids {
            if !inner.pending.contains_key(id) {
                inner.remove(id);
            }
        }
    }

    /// Forgets every document but those with commits on their way (other relays' changes went
    /// unheard; see `forget`).
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        let unpinned: Vec<String> = inner.map.keys().filter(|k| !inner.pending.contains_key(*k)).cloned().collect();
        for id in unpinned {
            inner.remove(&id);
        }
        inner.outdate_loads();
    }

    /// Forgets every document, also those with commits on their way: for a failed commit, which
    /// failed every commit queued with it (the caller holds the push lock, so none is in flight).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.map.clear();
        inner.by_use.clear();
        inner.pending.clear();
        inner.bytes = 0;
        inner.outdate_loads();
    }

    /// Estimated memory held, in bytes.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A document as stored: its snapshot and the changes stored after it.
fn load(storage: &dyn RelayStorage, id: &str) -> Result<Option<CachedDoc>> {
    let Some((s, later)) = storage.load_doc_with_changes(id)? else { return Ok(None) };
    let doc = Automerge::load(&s.snapshot).map_err(|e| StorageError::Corrupt(format!("document {id}: {e}")))?;
    let size = s.snapshot.len() * MEMORY_PER_SAVED_BYTE;
    let mut c = CachedDoc { kind: s.kind, doc, last_seq: s.snapshot_seq, size, since_snapshot: 0 };
    apply(id, &mut c, &later)?;
    Ok(Some(c))
}

/// Applies the changes stored after the copy's `last_seq`; returns whether there were any.
pub fn catch_up(storage: &dyn RelayStorage, id: &str, c: &mut CachedDoc) -> Result<bool> {
    let later = storage.changes_after(id, c.last_seq)?;
    apply(id, c, &later)?;
    Ok(!later.is_empty())
}

fn apply(id: &str, c: &mut CachedDoc, changes: &[crate::storage::StoredChange]) -> Result<()> {
    for (seq, ch) in changes {
        c.doc.load_incremental(ch).map_err(|e| StorageError::Corrupt(format!("document {id}: {e}")))?;
        c.size += ch.len() * MEMORY_PER_SAVED_BYTE;
        c.since_snapshot += 1;
        c.last_seq = *seq;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_within_its_cap() {
        let cache = DocCache::new(10 << 20);
        for i in 0..1000 {
            let doc = CachedDoc {
                kind: DocKind::Problem,
                doc: Automerge::new(),
                last_seq: i,
                size: 1 << 20,
                since_snapshot: 0,
            };
            cache.put(&format!("doc-{i}"), doc);
            assert!(cache.bytes() <= 10 << 20);
        }
        assert_eq!(cache.len(), 10);
        // The most recently used survive.
        let inner = cache.inner.lock().unwrap();
        assert!(inner.map.contains_key("doc-999") && !inner.map.contains_key("doc-0"));
    }

    fn doc(size: usize) -> CachedDoc {
        CachedDoc { kind: DocKind::Problem, doc: Automerge::new(), last_seq: 1, size, since_snapshot: 0 }
    }

    #[test]
    fn documents_with_commits_on_their_way_are_not_evicted() {
        let cache = DocCache::new(3 << 20);
        cache.put_pending("pending", doc(1 << 20));
        for i in 0..10 {
            cache.put(&format!("doc-{i}"), doc(1 << 20));
        }
        assert!(cache.inner.lock().unwrap().map.contains_key("pending"));
        assert!(cache.bytes() <= 3 << 20);
        // Stored: it may go now.
        cache.committed("pending", 7);
        for i in 10..13 {
            cache.put(&format!("doc-{i}"), doc(1 << 20));
        }
        assert!(!cache.inner.lock().unwrap().map.contains_key("pending"));
    }

    #[test]
    fn forgetting_every_document_keeps_those_with_commits_on_their_way() {
        let cache = DocCache::new(10 << 20);
        cache.put_pending("pending", doc(1 << 20));
        cache.put("other", doc(1 << 20));
        let since = cache.inner.lock().unwrap().committed;
        cache.forget_all();
        let inner = cache.inner.lock().unwrap();
        assert!(inner.map.contains_key("pending") && !inner.map.contains_key("other"));
        assert_eq!(inner.bytes, 1 << 20);
        // A copy being loaded meanwhile is not cached.
        assert!(inner.committed_since("other", since));
    }

    #[test]
    fn a_copy_loaded_before_a_commit_landed_is_known_as_old() {
        let cache = DocCache::new(10 << 20);
        let since = cache.inner.lock().unwrap().committed;
        cache.committed("other", 3);
        assert!(!cache.inner.lock().unwrap().committed_since("doc", since));
        cache.committed("doc", 4);
        assert!(cache.inner.lock().unwrap().committed_since("doc", since));
        // Beyond what the cache remembers, every copy is old.
        let since = cache.inner.lock().unwrap().committed;
        for i in 0..=RECENT {
            cache.committed(&format!("doc-{i}"), 5);
        }
        assert!(cache.inner.lock().unwrap().committed_since("unrelated", since));
        let since = cache.inner.lock().unwrap().committed;
        cache.clear();
        assert!(cache.inner.lock().unwrap().committed_since("unrelated", since));
    }
}
