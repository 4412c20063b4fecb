//! The audit trail: CloudTrail records of every request, hash-chained in
//! the order they were stored, indexed for `LookupEvents`.
//!
//! Each stored record is `{"seq", "prev", "hash", "event"}`: `event` is the
//! CloudTrail record (JSON text), `hash` = SHA-256(`prev` ‖ `seq` ‖ `event`)
//! in hex, and `prev` the hash of the record before (64 zeros for the
//! first). Records are appended inside store write transactions, so the
//! chain follows commit order; [`Iam::verify_audit`] walks it and reports
//! every edited, deleted, inserted or reordered record.
//!
//! Keys are `seq` zero-padded, so new records land at the right edge of
//! SQLite's B-tree (appends fill pages) and a backward scan lists the
//! newest first, as `LookupEvents` answers. Records are in time order but
//! for the moments between a request and its record being stored, so a
//! time range is found by binary search over sequence numbers (with
//! [`SLACK`] seconds of tolerance).

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::iam::Iam;
use crate::model::{LastUsed, SessionKind};
use crate::store::{Store, StoreError, TxMut};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use ward_policy::{Decision, Request};

pub(crate) const RECORD: &str = "trail";
pub(crate) const INDEX: &str = "trail_idx";
/// Last access per entity and action: `{entity}\u{1}{action}` → [`LastAccess`].
pub(crate) const LAST_ACCESS: &str = "last_access";
/// An access key's last use, from the trail: key id → [`LastUsed`].
pub(crate) const KEY_LAST_USED: &str = "key_last_used";
pub(crate) const HEAD: &str = "trail_head";
const ZERO: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A record being made: the CloudTrail record and its lookup keys, before
/// the request's decisions are added ([`finish`]).
pub type Draft = (serde_json::Value, EventKeys);

thread_local! {
    static PENDING: std::cell::RefCell<Option<Draft>> =
        const { std::cell::RefCell::new(None) };
    static DECISIONS: std::cell::RefCell<Vec<Noted>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Hand this thread's next write transaction a record to commit with it
/// (the request's record: a write and its record commit together).
pub fn set_pending(record: Draft) {
    PENDING.with(|p| *p.borrow_mut() = Some(record));
}

/// The record still waiting (none: it was committed with a write).
pub fn take_pending() -> Option<Draft> {
    PENDING.with(|p| p.borrow_mut().take())
}

/// A decision the engine made while serving the request on this thread:
/// whose access it was (the user, the role behind a session, or the
/// account's root), and what the record shows of it.
#[derive(Debug, Clone)]
pub struct Noted {
    pub entity: String,
    pub action: String,
    pub resource: String,
    pub allowed: bool,
    /// `{principal, action, resource, decision, decidedBy, matchedStatements}`.
    pub detail: serde_json::Value,
}

/// The IAM entity whose access a caller's request is: a role session's
/// role, a user's session's user, the caller itself otherwise.
pub fn entity_of(caller: &Caller) -> String {
    match caller.session.as_ref().map(|s| &s.kind) {
        Some(SessionKind::Role { role_arn, .. }) => role_arn.clone(),
        _ => caller.arn.clone(),
    }
}

static RECORDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether decisions are noted for records (a server in this process audits).
pub fn set_recording(on: bool) {
    RECORDING.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Note an enforcement decision for the request's record (and for the
/// last-accessed data computed from the trail).
pub fn note_decision(caller: &Caller, req: &Request, d: &Decision<'_>) {
    if !RECORDING.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let matched: Vec<serde_json::Value> = d
        .matched_statements
        .iter()
        .map(|m| {
            serde_json::json!({
                "sourcePolicyId": m.policy_id(),
                "sourcePolicyType": m.policy_type().as_str(),
                "statementIndex": m.statement_index(),
                "sid": m.sid(),
            })
        })
        .collect();
    let noted = Noted {
        entity: entity_of(caller),
        action: req.action().to_string(),
        resource: req.resource().to_string(),
        allowed: d.is_allowed(),
        detail: serde_json::json!({
            "principal": caller.arn,
            "action": req.action(),
            "resource": req.resource(),
            "decision": d.decision.as_str(),
            "decidedBy": d.decided_by.map(|t| t.as_str()),
            "matchedStatements": matched,
        }),
    };
    DECISIONS.with(|v| {
        let mut v = v.borrow_mut();
        // A request decides a handful of things; a runaway loop must not
        // grow its record without bound.
        if v.len() < 64 {
            v.push(noted);
        }
    });
}

/// Forget this thread's decisions (a new request starts).
pub fn clear_decisions() {
    DECISIONS.with(|v| v.borrow_mut().clear());
}

/// This thread's decisions so far.
pub fn decisions() -> Vec<Noted> {
    DECISIONS.with(|v| v.borrow().clone())
}

/// The finished record: the decisions go into `additionalEventData` and
/// become the record's accesses (what last-accessed data is computed from).
pub fn finish(draft: Draft, decisions: &[Noted]) -> (String, EventKeys) {
    let (mut event, mut keys) = draft;
    if !decisions.is_empty() {
        if let Some(extra) = event
            .get_mut("additionalEventData")
            .and_then(serde_json::Value::as_object_mut)
        {
            extra.insert(
                "decisions".into(),
                serde_json::Value::Array(decisions.iter().map(|n| n.detail.clone()).collect()),
            );
        }
        keys.accesses = decisions
            .iter()
            .map(|n| Access {
                entity: n.entity.clone(),
                action: n.action.clone(),
                resource: n.resource.clone(),
                allowed: n.allowed,
            })
            .collect();
    }
    (event.to_string(), keys)
}

/// Attributes with an index of their own; the others are found by reading
/// the time index and the records (cheaper to record, slower to look up).
const INDEXED: &[&str] = &[
    "EventId",
    "EventName",
    "Username",
    "AccessKeyId",
    "EventSource",
    "ResourceName",
];

/// The lookup attributes of `LookupEvents`, as an event's index entries.
pub const ATTRIBUTES: &[&str] = &[
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
];

/// One stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub seq: u64,
    pub prev: String,
    pub hash: String,
    /// The CloudTrail record, as JSON text.
    pub event: String,
}

/// The binary layout's mark.
const BINARY: &[u8; 2] = b"W2";

impl Stored {
    /// The stored bytes: `W2`, the sequence number (8 bytes, big-endian),
    /// the two hashes (32 bytes each), and the record compressed with LZ4.
    /// Compressed, a record (1–2 kB of JSON) stays inside its B-tree page
    /// instead of spilling into an overflow page of its own.
    pub fn encode(&self) -> Vec<u8> {
        let (Ok(prev), Ok(hash)) = (hex::decode(&self.prev), hex::decode(&self.hash)) else {
            // Not hashes this code made: keep them as they are.
            return serde_json::to_vec(self).unwrap_or_default();
        };
        if prev.len() != 32 || hash.len() != 32 {
            return serde_json::to_vec(self).unwrap_or_default();
        }
        let body = lz4_flex::compress_prepend_size(self.event.as_bytes());
        let mut out = Vec::with_capacity(2 + 8 + 64 + body.len());
        out.extend_from_slice(BINARY);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&prev);
        out.extend_from_slice(&hash);
        out.extend_from_slice(&body);
        out
    }

    /// Bytes as [`Stored::encode`] writes them (or the JSON of the first
    /// layout).
    pub fn decode(bytes: &[u8]) -> Result<Stored, String> {
        let Some(rest) = bytes.strip_prefix(BINARY) else {
            return serde_json::from_slice(bytes).map_err(|e| e.to_string());
        };
        let seq = rest
            .get(..8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or("truncated record")?;
        let prev = rest.get(8..40).ok_or("truncated record")?;
        let hash = rest.get(40..72).ok_or("truncated record")?;
        let body = rest.get(72..).ok_or("truncated record")?;
        let event = lz4_flex::decompress_size_prepended(body).map_err(|e| e.to_string())?;
        Ok(Stored {
            seq,
            prev: hex::encode(prev),
            hash: hex::encode(hash),
            event: String::from_utf8(event).map_err(|e| e.to_string())?,
        })
    }
}

/// What an event is found by (attribute, value) and when it happened, and
/// what it tells of access (for last-accessed data).
#[derive(Debug, Clone, Default)]
pub struct EventKeys {
    /// The account whose trail it is in (`recipientAccountId`).
    pub account: String,
    pub time: i64,
    pub attributes: Vec<(&'static str, String)>,
    /// The region the request was signed for.
    pub region: String,
    /// A long-term access key that signed the request and the service it
    /// signed for (`AccessKeyLastUsed`).
    pub key_used: Option<(String, String)>,
    /// Every decision the request's authorization made.
    pub accesses: Vec<Access>,
}

/// One authorization of an entity's action, as last-accessed data counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub entity: String,
    pub action: String,
    pub resource: String,
    pub allowed: bool,
}

/// How many resources an action's last-access row remembers.
pub const RESOURCES_KEPT: usize = 10;

/// When an entity last attempted an action, and last was allowed it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastAccess {
    /// The action as last written (the key is lowercase).
    #[serde(default)]
    pub action: String,
    pub attempted: i64,
    #[serde(default)]
    pub allowed: Option<i64>,
    pub region: String,
    /// The resources it was last allowed on, newest first (at most
    /// [`RESOURCES_KEPT`]): what a generated policy names.
    #[serde(default)]
    pub resources: Vec<String>,
}

fn remember(resources: &mut Vec<String>, r: &str) {
    resources.retain(|x| x != r);
    resources.insert(0, r.to_string());
    resources.truncate(RESOURCES_KEPT);
}

pub(crate) fn key(seq: u64) -> String {
    format!("{seq:020}")
}

pub fn chain_hash(prev: &str, seq: u64, event: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(seq.to_string().as_bytes());
    h.update(event.as_bytes());
    hex::encode(h.finalize())
}

/// The chain head: the last sequence number and hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Head {
    pub(crate) seq: u64,
    pub(crate) hash: String,
}

fn store_err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// Append events inside a write transaction.
pub(crate) fn append(tx: &mut dyn TxMut, events: &[(String, EventKeys)]) -> Result<(), StoreError> {
    let mut head: Head = match tx.get(HEAD, "head")? {
        Some(b) => serde_json::from_slice(&b).map_err(store_err)?,
        None => Head {
            seq: 0,
            hash: ZERO.into(),
        },
    };
    for (event, keys) in events {
        let seq = head.seq + 1;
        let hash = chain_hash(&head.hash, seq, event);
        let s = Stored {
            seq,
            prev: head.hash.clone(),
            hash: hash.clone(),
            event: event.clone(),
        };
        let k = key(seq);
        tx.put(RECORD, &k, &s.encode())?;
        // Index by attribute, and by time (seconds, inverted too).
        let acct = &keys.account;
        for (attr, value) in keys.attributes.iter().filter(|(a, _)| INDEXED.contains(a)) {
            tx.put(
                INDEX,
                &format!("{acct}\u{1}{attr}\u{1}{value}\u{1}{k}"),
                b"",
            )?;
        }
        tx.put(
            INDEX,
            &format!("{acct}\u{1}time\u{1}{k}"),
            keys.time.to_string().as_bytes(),
        )?;
        head = Head { seq, hash };
    }
    tx.put(HEAD, "head", &serde_json::to_vec(&head).map_err(store_err)?)?;
    track_access(tx, events)
}

/// Fold a batch's accesses into the last-accessed rows (one read and one
/// write per entity, action and key the batch touched).
fn track_access(tx: &mut dyn TxMut, events: &[(String, EventKeys)]) -> Result<(), StoreError> {
    let mut last: BTreeMap<String, LastAccess> = BTreeMap::new();
    let mut keys: BTreeMap<&str, LastUsed> = BTreeMap::new();
    for (_, k) in events {
        for a in &k.accesses {
            let e = last
                .entry(format!(
                    "{}\u{1}{}",
                    a.entity,
                    a.action.to_ascii_lowercase()
                ))
                .or_default();
            if k.time >= e.attempted {
                e.attempted = k.time;
                e.action.clone_from(&a.action);
                e.region.clone_from(&k.region);
            }
            if a.allowed {
                e.allowed = e.allowed.max(Some(k.time));
                remember(&mut e.resources, &a.resource);
            }
        }
        if let Some((id, service)) = &k.key_used {
            let u = keys.entry(id).or_insert_with(|| LastUsed {
                at: k.time,
                service: service.clone(),
                region: k.region.clone(),
            });
            if k.time >= u.at {
                *u = LastUsed {
                    at: k.time,
                    service: service.clone(),
                    region: k.region.clone(),
                };
            }
        }
    }
    for (key, new) in last {
        let merged = match tx.get(LAST_ACCESS, &key)? {
            Some(b) => {
                let old: LastAccess = serde_json::from_slice(&b).map_err(store_err)?;
                let newer = new.attempted >= old.attempted;
                let mut resources = old.resources;
                for r in new.resources.iter().rev() {
                    remember(&mut resources, r);
                }
                LastAccess {
                    resources,
                    attempted: old.attempted.max(new.attempted),
                    allowed: old.allowed.max(new.allowed),
                    action: if newer { new.action } else { old.action },
                    region: if newer { new.region } else { old.region },
                }
            }
            None => new,
        };
        tx.put(
            LAST_ACCESS,
            &key,
            &serde_json::to_vec(&merged).map_err(store_err)?,
        )?;
    }
    for (id, u) in keys {
        tx.put(
            KEY_LAST_USED,
            id,
            &serde_json::to_vec(&u).map_err(store_err)?,
        )?;
    }
    Ok(())
}

/// A record's lookup attributes, from the CloudTrail record itself (so the
/// index can be rebuilt or pruned from the records alone).
pub fn attributes_of(r: &serde_json::Value) -> Vec<(&'static str, String)> {
    use serde_json::Value;
    let s = |p: &str| r.pointer(p).and_then(Value::as_str).map(str::to_string);
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for (attr, ptr) in [
        ("EventId", "/eventID"),
        ("EventName", "/eventName"),
        ("EventSource", "/eventSource"),
    ] {
        if let Some(v) = s(ptr) {
            out.push((attr, v));
        }
    }
    if let Some(b) = r.get("readOnly").and_then(Value::as_bool) {
        out.push(("ReadOnly", b.to_string()));
    }
    let username = match s("/userIdentity/type").as_deref() {
        Some("IAMUser") => s("/userIdentity/userName"),
        // A role session's name: the last part of its ARN.
        Some("AssumedRole") => {
            s("/userIdentity/arn").and_then(|a| a.rsplit('/').next().map(str::to_string))
        }
        Some("Root") => Some("root".to_string()),
        _ => None,
    };
    if let Some(u) = username {
        out.push(("Username", u));
    }
    if let Some(k) = s("/userIdentity/accessKeyId").filter(|k| !k.is_empty()) {
        out.push(("AccessKeyId", k));
    }
    for res in r
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = res.get("type").and_then(Value::as_str) {
            out.push(("ResourceType", t.to_string()));
        }
        if let Some(n) = res.get("ARN").and_then(Value::as_str) {
            out.push(("ResourceName", n.to_string()));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The oldest record kept: records up to `seq` (whose hash is `hash`) were
/// removed by retention.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Base {
    pub seq: u64,
    pub hash: String,
}

const BASE: &str = "trail_base";

fn base_of(tx: &dyn crate::store::Tx) -> Result<Base, StoreError> {
    Ok(match tx.get(BASE, "base")? {
        Some(b) => serde_json::from_slice(&b).map_err(store_err)?,
        None => Base {
            seq: 0,
            hash: ZERO.into(),
        },
    })
}

/// How far out of time order records may be stored (seconds).
const SLACK: i64 = 60;

/// A record's `eventTime`, read without parsing the whole record.
fn event_time(event: &str) -> Option<i64> {
    const FIELD: &str = "\"eventTime\":\"";
    let at = event.find(FIELD)? + FIELD.len();
    crate::model::parse_iso8601(event.get(at..at + 20)?)
}

/// The first sequence number whose record is later than `t` (binary
/// search: records are stored in time order, within [`SLACK`]).
fn first_after(tx: &dyn crate::store::Tx, t: i64) -> Result<Option<u64>, StoreError> {
    let base = base_of(tx)?;
    let head: Option<Head> = match tx.get(HEAD, "head")? {
        Some(b) => Some(serde_json::from_slice(&b).map_err(store_err)?),
        None => None,
    };
    let (mut lo, mut hi) = (base.seq + 1, head.map_or(0, |h| h.seq) + 1);
    let time_at = |seq: u64| -> Result<i64, StoreError> {
        Ok(match tx.get(RECORD, &key(seq))? {
            Some(b) => {
                let s = Stored::decode(&b).map_err(store_err)?;
                event_time(&s.event).unwrap_or(i64::MIN)
            }
            // A hole (a deleted record): treat it as early, search on.
            None => i64::MIN,
        })
    };
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if time_at(mid)? > t {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let last = head_seq(tx)?;
    Ok((lo <= last).then_some(lo))
}

fn head_seq(tx: &dyn crate::store::Tx) -> Result<u64, StoreError> {
    Ok(match tx.get(HEAD, "head")? {
        Some(b) => serde_json::from_slice::<Head>(&b).map_err(store_err)?.seq,
        None => 0,
    })
}

/// One page of `LookupEvents`.
#[derive(Debug, Default)]
pub struct Lookup {
    pub events: Vec<String>,
    pub next_token: Option<String>,
}

/// Whether a CloudTrail record has a non-indexed lookup attribute.
fn matches_attribute(event: &str, attr: &str, value: &str) -> bool {
    let Ok(r) = serde_json::from_str::<serde_json::Value>(event) else {
        return false;
    };
    let resources = || {
        r.get("resources")
            .and_then(|x| x.as_array())
            .cloned()
            .unwrap_or_default()
    };
    match attr {
        "ReadOnly" => {
            r.get("readOnly")
                .and_then(|x| x.as_bool())
                .map(|b| b.to_string())
                .as_deref()
                == Some(value)
        }
        "EventSource" => r.get("eventSource").and_then(|x| x.as_str()) == Some(value),
        "ResourceType" => resources()
            .iter()
            .any(|x| x.get("type").and_then(|t| t.as_str()) == Some(value)),
        "ResourceName" => resources()
            .iter()
            .any(|x| x.get("ARN").and_then(|t| t.as_str()) == Some(value)),
        _ => false,
    }
}

/// A problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub seq: u64,
    pub problem: String,
}

impl<S: Store> Iam<S> {
    /// Store events (each with its lookup keys), chained, in one durable
    /// transaction.
    pub fn record_events(&self, events: &[(String, EventKeys)]) -> ApiResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        // Not through `Iam::write`: records change no view.
        self.store
            .write(|tx| append(tx, events))
            .map_err(ApiError::from)
    }

    /// `LookupEvents`: newest first, by one attribute (or all), in
    /// [start, end] (seconds), at most `limit`, from `token`.
    pub fn lookup_events(
        &self,
        account: &str,
        attribute: Option<(&str, &str)>,
        start: Option<i64>,
        end: Option<i64>,
        limit: usize,
        token: Option<&str>,
    ) -> ApiResult<Lookup> {
        if let Some((a, _)) = attribute {
            if !ATTRIBUTES.contains(&a) {
                return Err(ApiError::new(
                    "InvalidLookupAttributesException",
                    400,
                    format!(
                        "Lookup attribute {a} is not one of {}",
                        ATTRIBUTES.join(", ")
                    ),
                ));
            }
        }
        let limit = limit.max(1);
        self.store.read(|tx| {
            let indexed = attribute.filter(|(a, _)| INDEXED.contains(a));
            let filter = attribute.filter(|(a, _)| !INDEXED.contains(a));
            let prefix = match indexed {
                Some((a, v)) => format!("{account}\u{1}{a}\u{1}{v}\u{1}"),
                None => format!("{account}\u{1}time\u{1}"),
            };
            let mut before = match (token, end) {
                (Some(t), _) => Some(format!("{prefix}{t}")),
                // Start at the end of the range, not at the newest record.
                (None, Some(e)) => first_after(tx, e.saturating_add(SLACK))?
                    .map(|seq| format!("{prefix}{}", key(seq))),
                (None, None) => None,
            };
            let mut out = Lookup::default();
            loop {
                let batch = tx.scan_rev(INDEX, &prefix, before.as_deref(), 256)?;
                let n = batch.len();
                for (k, _) in batch {
                    let rk = k.rsplit('\u{1}').next().unwrap_or("").to_string();
                    before = Some(k);
                    let Some(bytes) = tx.get(RECORD, &rk)? else {
                        continue;
                    };
                    let s = Stored::decode(&bytes).map_err(|e| {
                        let mut a = ApiError::internal();
                        a.cause = Some(format!("corrupt audit record {rk}: {e}"));
                        a
                    })?;
                    let t = event_time(&s.event).unwrap_or(0);
                    if end.is_some_and(|e| t > e) {
                        continue;
                    }
                    if let Some(st) = start {
                        if t < st.saturating_sub(SLACK) {
                            // Newest first: everything after is older still.
                            out.next_token = None;
                            return Ok(out);
                        }
                        if t < st {
                            continue;
                        }
                    }
                    if let Some((a, v)) = filter {
                        if !matches_attribute(&s.event, a, v) {
                            continue;
                        }
                    }
                    if out.events.len() == limit {
                        // One more exists: the token is the last one returned.
                        return Ok(out);
                    }
                    out.events.push(s.event);
                    out.next_token = Some(rk);
                }
                if n < 256 {
                    out.next_token = None;
                    return Ok(out);
                }
            }
        })
    }

    /// Move records stored in the first layout (kinds `audit*`, keys
    /// counting down) to this one, in batches, each its own transaction;
    /// safe to stop and run again. The number of records moved.
    pub fn migrate_audit_layout(&self) -> ApiResult<u64> {
        const OLD: &str = "audit";
        const OLD_INDEX: &str = "audit_idx";
        const OLD_HEAD: &str = "audit_head";
        let mut moved = 0u64;
        loop {
            let n = self.store.write(|tx| {
                // Counting-down keys: a backward scan is oldest first.
                let batch = tx.scan_rev(OLD, "", None, 2000)?;
                let mut head = match tx.get(HEAD, "head")? {
                    Some(b) => serde_json::from_slice(&b).map_err(store_err)?,
                    None => Head {
                        seq: 0,
                        hash: ZERO.into(),
                    },
                };
                for (old_key, bytes) in &batch {
                    let s = Stored::decode(bytes).map_err(store_err)?;
                    let v: serde_json::Value = serde_json::from_str(&s.event).map_err(store_err)?;
                    let k = key(s.seq);
                    let acct = v
                        .get("recipientAccountId")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("");
                    for (attr, value) in attributes_of(&v) {
                        if INDEXED.contains(&attr) {
                            tx.put(
                                INDEX,
                                &format!("{acct}\u{1}{attr}\u{1}{value}\u{1}{k}"),
                                b"",
                            )?;
                        }
                    }
                    let t = event_time(&s.event).unwrap_or(0);
                    tx.put(
                        INDEX,
                        &format!("{acct}\u{1}time\u{1}{k}"),
                        t.to_string().as_bytes(),
                    )?;
                    tx.put(RECORD, &k, bytes)?;
                    tx.delete(OLD, old_key)?;
                    if s.seq > head.seq {
                        head = Head {
                            seq: s.seq,
                            hash: s.hash,
                        };
                    }
                }
                if batch.is_empty() {
                    // Done: the old index and head go.
                    for (k, _) in tx.scan(OLD_INDEX, "", None, 20_000)? {
                        tx.delete(OLD_INDEX, &k)?;
                    }
                    tx.delete(OLD_HEAD, "head")?;
                } else {
                    tx.put(HEAD, "head", &serde_json::to_vec(&head).map_err(store_err)?)?;
                }
                Ok::<_, StoreError>(batch.len())
            })?;
            moved += n as u64;
            if n == 0 {
                let left = self.store.read(|tx| tx.count(OLD_INDEX, ""))?;
                if left == 0 {
                    return Ok(moved);
                }
            }
        }
    }

    /// The sequence numbers kept: (first, last); (1, 0) when none.
    pub fn audit_bounds(&self) -> ApiResult<(u64, u64)> {
        self.store.read(|tx| {
            let base = base_of(tx)?;
            let head: Option<Head> = match tx.get(HEAD, "head")? {
                Some(b) => Some(serde_json::from_slice(&b).map_err(store_err)?),
                None => None,
            };
            Ok::<_, ApiError>((base.seq + 1, head.map_or(0, |h| h.seq)))
        })
    }

    /// Up to `max` records from sequence number `from` on, oldest first.
    pub fn audit_range(&self, from: u64, max: usize) -> ApiResult<Vec<Stored>> {
        let (_, last) = self.audit_bounds()?;
        self.store.read(|tx| {
            let mut out = Vec::new();
            let mut seq = from.max(1);
            while seq <= last && out.len() < max {
                if let Some(b) = tx.get(RECORD, &key(seq))? {
                    let s = Stored::decode(&b).map_err(store_err)?;
                    out.push(s);
                }
                seq += 1;
            }
            Ok::<_, ApiError>(out)
        })
    }

    /// Retention: remove records older than `before` (seconds) that a
    /// digest already seals, at most `max` in one transaction, with their
    /// index entries; the chain then starts after the last one removed.
    /// The number removed.
    pub fn prune_audit(&self, before: i64, max: usize) -> ApiResult<usize> {
        let sealed: u64 = self.audit_digests()?.last().map_or(0, |d| d.end);
        self.store
            .write(|tx| {
                let mut base = base_of(tx)?;
                let mut n = 0;
                while n < max && base.seq < sealed {
                    let seq = base.seq + 1;
                    let k = key(seq);
                    let Some(b) = tx.get(RECORD, &k)? else {
                        break;
                    };
                    let s = Stored::decode(&b).map_err(store_err)?;
                    let v: serde_json::Value = serde_json::from_str(&s.event).map_err(store_err)?;
                    let t = v
                        .get("eventTime")
                        .and_then(serde_json::Value::as_str)
                        .and_then(crate::model::parse_iso8601)
                        .unwrap_or(i64::MAX);
                    if t >= before {
                        break;
                    }
                    let acct = v
                        .get("recipientAccountId")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("");
                    for (attr, value) in attributes_of(&v) {
                        if INDEXED.contains(&attr) {
                            tx.delete(INDEX, &format!("{acct}\u{1}{attr}\u{1}{value}\u{1}{k}"))?;
                        }
                    }
                    tx.delete(INDEX, &format!("{acct}\u{1}time\u{1}{k}"))?;
                    tx.delete(RECORD, &k)?;
                    base = Base { seq, hash: s.hash };
                    n += 1;
                }
                tx.put(BASE, "base", &serde_json::to_vec(&base).map_err(store_err)?)?;
                Ok::<_, StoreError>(n)
            })
            .map_err(ApiError::from)
    }

    /// Walk the whole chain, oldest first; every problem found.
    pub fn verify_audit(&self) -> ApiResult<(u64, Vec<Finding>)> {
        self.store.read(|tx| {
            let mut findings = Vec::new();
            let mut records: Vec<(String, Vec<u8>)> = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let batch = tx.scan(RECORD, "", after.as_deref(), 1024)?;
                let n = batch.len();
                after = batch.last().map(|(k, _)| k.clone());
                records.extend(batch);
                if n < 1024 {
                    break;
                }
            }
            let base = base_of(tx)?;
            let mut prev_hash = base.hash.clone();
            let mut expect_seq = base.seq + 1;
            let mut count = 0u64;
            for (k, bytes) in &records {
                count += 1;
                let Ok(s) = Stored::decode(bytes) else {
                    findings.push(Finding {
                        seq: expect_seq,
                        problem: format!("record {k} does not parse"),
                    });
                    continue;
                };
                if key(s.seq) != *k {
                    findings.push(Finding {
                        seq: s.seq,
                        problem: format!("stored under the key of another position ({k})"),
                    });
                }
                if s.seq != expect_seq {
                    findings.push(Finding {
                        seq: s.seq,
                        problem: if s.seq > expect_seq {
                            format!("records {expect_seq}..{} are missing (deleted)", s.seq - 1)
                        } else {
                            "out of order (reordered or inserted)".into()
                        },
                    });
                }
                if s.prev != prev_hash {
                    findings.push(Finding {
                        seq: s.seq,
                        problem: "does not follow the record before it (deleted, inserted or reordered records)".into(),
                    });
                }
                if chain_hash(&s.prev, s.seq, &s.event) != s.hash {
                    findings.push(Finding {
                        seq: s.seq,
                        problem: "its content does not match its hash (edited)".into(),
                    });
                }
                prev_hash = s.hash.clone();
                expect_seq = s.seq + 1;
            }
            let head: Option<Head> = tx
                .get(HEAD, "head")?
                .and_then(|b| serde_json::from_slice(&b).ok());
            if let Some(h) = head {
                if h.seq != expect_seq.saturating_sub(1) || (h.seq > 0 && h.hash != prev_hash) {
                    findings.push(Finding {
                        seq: h.seq,
                        problem: "the newest records are missing or changed (the chain head does not match)".into(),
                    });
                }
            }
            Ok::<_, ApiError>((count, findings))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Sealer;
    use crate::store::MemStore;
    use std::sync::Arc;

    fn ev(n: u64) -> (String, EventKeys) {
        let (v, k) = draft(n);
        (v.to_string(), k)
    }

    fn draft(n: u64) -> Draft {
        (
            serde_json::json!({"eventID": format!("e{n}"), "eventName": if n % 2 == 0 {
                "ListUsers"
            } else {
                "CreateUser"
            }, "additionalEventData": {},
            "eventTime": crate::model::iso8601(i64::try_from(n).unwrap() * 10)}),
            EventKeys {
                account: "111".into(),
                time: i64::try_from(n).unwrap() * 10,
                attributes: vec![
                    ("EventId", format!("e{n}")),
                    (
                        "EventName",
                        (if n % 2 == 0 {
                            "ListUsers"
                        } else {
                            "CreateUser"
                        })
                        .into(),
                    ),
                ],
                ..Default::default()
            },
        )
    }

    #[test]
    fn lookup_pages_newest_first_and_verify_finds_tampering() {
        let store = Arc::new(MemStore::new());
        let i = Iam::new(store.clone(), Sealer::new(&Sealer::generate_key()));
        let events: Vec<_> = (1..=10).map(ev).collect();
        i.record_events(&events[..4]).unwrap();
        i.record_events(&events[4..]).unwrap();
        let page = i
            .lookup_events(
                "111",
                Some(("EventName", "CreateUser")),
                None,
                None,
                3,
                None,
            )
            .unwrap();
        assert_eq!(page.events.len(), 3);
        assert!(page.events[0].contains("e9"));
        let rest = i
            .lookup_events(
                "111",
                Some(("EventName", "CreateUser")),
                None,
                None,
                3,
                page.next_token.as_deref(),
            )
            .unwrap();
        assert_eq!(rest.events.len(), 2);
        assert!(rest.events[1].contains("e1"));
        assert!(rest.next_token.is_none());
        // Time range: 30..=60 seconds.
        let t = i
            .lookup_events("111", None, Some(30), Some(60), 50, None)
            .unwrap();
        assert!(i
            .lookup_events("222", None, None, None, 50, None)
            .unwrap()
            .events
            .is_empty());
        assert_eq!(t.events.len(), 4);
        assert_eq!(i.verify_audit().unwrap(), (10, vec![]));

        // Edit record 3.
        let k3 = key(3);
        let mut s: Stored = store
            .read(|tx| tx.get(RECORD, &k3))
            .unwrap()
            .map(|b| Stored::decode(&b).unwrap())
            .unwrap();
        s.event = s.event.replace("CreateUser", "DeleteUser");
        let v = s.encode();
        store.write(|tx| tx.put(RECORD, &k3, &v)).unwrap();
        let (_, f) = i.verify_audit().unwrap();
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].problem.contains("edited") && f[0].seq == 3, "{f:?}");
    }

    #[test]
    fn a_write_and_its_record_commit_together() {
        let store = Arc::new(MemStore::new());
        let i = Iam::new(store, Sealer::new(&Sealer::generate_key()));
        i.ensure_account("111", 0).unwrap();
        set_pending(draft(1));
        i.create_user("111", "bob", None, vec![], None, 0).unwrap();
        assert!(take_pending().is_none(), "committed with the write");
        assert_eq!(i.verify_audit().unwrap(), (1, vec![]));
        // A write that fails commits no record: it is still waiting.
        set_pending(draft(2));
        assert!(i.create_user("111", "bob", None, vec![], None, 0).is_err());
        assert!(take_pending().is_some());
        assert_eq!(i.verify_audit().unwrap().0, 1);
    }

    #[test]
    fn accesses_fold_into_last_accessed_rows_and_key_use() {
        let store = Arc::new(MemStore::new());
        let i = Iam::new(store.clone(), Sealer::new(&Sealer::generate_key()));
        let with = |n: u64, action: &str, allowed: bool| {
            let (e, mut k) = ev(n);
            k.region = format!("r{n}");
            k.key_used = Some(("AKIAEXAMPLE".into(), "iam".into()));
            k.accesses = vec![Access {
                entity: "arn:aws:iam::111:user/bob".into(),
                action: action.into(),
                resource: format!("arn:aws:iam::111:user/u{n}"),
                allowed,
            }];
            (e, k)
        };
        i.record_events(&[
            with(1, "iam:GetUser", true),
            with(3, "iam:GetUser", false),
            with(2, "IAM:ListUsers", true),
        ])
        .unwrap();
        i.record_events(&[with(4, "iam:listusers", false)]).unwrap();
        let get = |k: &str| -> LastAccess {
            store
                .read(|tx| tx.get(LAST_ACCESS, k))
                .unwrap()
                .map(|b| serde_json::from_slice(&b).unwrap())
                .unwrap()
        };
        let g = get("arn:aws:iam::111:user/bob\u{1}iam:getuser");
        assert_eq!(
            (g.attempted, g.allowed, g.region.as_str()),
            (30, Some(10), "r3")
        );
        assert_eq!(g.resources, ["arn:aws:iam::111:user/u1"]);
        let l = get("arn:aws:iam::111:user/bob\u{1}iam:listusers");
        assert_eq!(
            (l.attempted, l.allowed, l.region.as_str()),
            (40, Some(20), "r4")
        );
        let u: LastUsed = store
            .read(|tx| tx.get(KEY_LAST_USED, "AKIAEXAMPLE"))
            .unwrap()
            .map(|b| serde_json::from_slice(&b).unwrap())
            .unwrap();
        assert_eq!((u.at, u.region.as_str()), (40, "r4"));
    }

    #[test]
    fn records_of_the_first_layout_move_to_this_one() {
        let store = Arc::new(MemStore::new());
        let i = Iam::new(store.clone(), Sealer::new(&Sealer::generate_key()));
        // Three records as the first layout stored them.
        let mut prev = ZERO.to_string();
        store
            .write(|tx| {
                for seq in 1..=3u64 {
                    let event = serde_json::json!({
                        "eventID": format!("e{seq}"), "eventName": "GetUser",
                        "eventTime": crate::model::iso8601(1_800_000_000 + i64::try_from(seq).unwrap()),
                        "recipientAccountId": "111", "readOnly": true,
                        "userIdentity": {"type": "IAMUser", "userName": "bob"},
                    })
                    .to_string();
                    let hash = chain_hash(&prev, seq, &event);
                    let s = Stored { seq, prev: prev.clone(), hash: hash.clone(), event };
                    tx.put("audit", &format!("{:020}", u64::MAX - seq), &serde_json::to_vec(&s).unwrap())?;
                    tx.put("audit_idx", &format!("111\u{1}EventName\u{1}GetUser\u{1}{seq}"), b"")?;
                    prev = hash;
                }
                tx.put("audit_head", "head", &serde_json::to_vec(&Head { seq: 3, hash: prev.clone() }).unwrap())
            })
            .unwrap();
        assert_eq!(i.migrate_audit_layout().unwrap(), 3);
        assert_eq!(i.migrate_audit_layout().unwrap(), 0);
        assert_eq!(i.verify_audit().unwrap(), (3, vec![]));
        let page = i
            .lookup_events("111", Some(("Username", "bob")), None, None, 50, None)
            .unwrap();
        assert_eq!(page.events.len(), 3);
        assert!(page.events[0].contains("\"e3\""));
        assert_eq!(store.read(|tx| tx.count("audit_idx", "")).unwrap(), 0);
        // The chain goes on from where it was.
        i.record_events(&[ev(4)]).unwrap();
        assert_eq!(i.verify_audit().unwrap(), (4, vec![]));
    }

    #[test]
    fn a_time_range_is_found_by_binary_search() {
        let store = Arc::new(MemStore::new());
        let i = Iam::new(store, Sealer::new(&Sealer::generate_key()));
        let events: Vec<(String, EventKeys)> = (1..=1000u64)
            .map(|n| {
                let t = 1_800_000_000 + i64::try_from(n).unwrap() * 100;
                let v = serde_json::json!({
                    "eventID": format!("e{n}"), "eventName": "GetUser",
                    "eventTime": crate::model::iso8601(t), "recipientAccountId": "111",
                });
                let keys = EventKeys {
                    account: "111".into(),
                    time: t,
                    attributes: attributes_of(&v),
                    ..Default::default()
                };
                (v.to_string(), keys)
            })
            .collect();
        i.record_events(&events).unwrap();
        // Records 500..=510 (times 1_800_050_000 ..= 1_800_051_000).
        let (s, e) = (1_800_050_000, 1_800_051_000);
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let p = i
                .lookup_events("111", None, Some(s), Some(e), 4, token.as_deref())
                .unwrap();
            all.extend(p.events);
            token = p.next_token;
            if token.is_none() {
                break;
            }
        }
        let ids: Vec<String> = all
            .iter()
            .map(|x| {
                serde_json::from_str::<serde_json::Value>(x).unwrap()["eventID"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let want: Vec<String> = (500..=510).rev().map(|n| format!("e{n}")).collect();
        assert_eq!(ids, want);
        let by_name = i
            .lookup_events(
                "111",
                Some(("EventName", "GetUser")),
                Some(s),
                Some(e),
                50,
                None,
            )
            .unwrap();
        assert_eq!(by_name.events.len(), 11);
    }
}
