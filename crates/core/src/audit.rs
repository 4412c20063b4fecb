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
//! Keys are `seq` inverted (`u64::MAX - seq`, zero-padded), so a forward
//! scan lists the newest first, as `LookupEvents` answers.

use crate::error::{ApiError, ApiResult};
use crate::iam::Iam;
use crate::store::{Store, StoreError, TxMut};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub(crate) const RECORD: &str = "audit";
pub(crate) const INDEX: &str = "audit_idx";
const HEAD: &str = "audit_head";
const ZERO: &str = "0000000000000000000000000000000000000000000000000000000000000000";

thread_local! {
    static PENDING: std::cell::RefCell<Option<(String, EventKeys)>> =
        const { std::cell::RefCell::new(None) };
}

/// Hand this thread's next write transaction a record to commit with it
/// (the request's record: a write and its record commit together).
pub fn set_pending(record: (String, EventKeys)) {
    PENDING.with(|p| *p.borrow_mut() = Some(record));
}

/// The record still waiting (none: it was committed with a write).
pub fn take_pending() -> Option<(String, EventKeys)> {
    PENDING.with(|p| p.borrow_mut().take())
}

/// Attributes with an index of their own; the others are found by reading
/// the time index and the records (cheaper to record, slower to look up).
const INDEXED: &[&str] = &["EventId", "EventName", "Username", "AccessKeyId"];

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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub seq: u64,
    pub prev: String,
    pub hash: String,
    /// The CloudTrail record, as JSON text.
    pub event: String,
}

/// What an event is found by (attribute, value) and when it happened.
#[derive(Debug, Clone, Default)]
pub struct EventKeys {
    /// The account whose trail it is in (`recipientAccountId`).
    pub account: String,
    pub time: i64,
    pub attributes: Vec<(&'static str, String)>,
}

fn key(seq: u64) -> String {
    format!("{:020}", u64::MAX - seq)
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
struct Head {
    seq: u64,
    hash: String,
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
        tx.put(RECORD, &k, &serde_json::to_vec(&s).map_err(store_err)?)?;
        // Index by attribute, and by time (seconds, inverted too).
        let acct = &keys.account;
        for (attr, value) in &keys.attributes {
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
    Ok(())
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
            let mut after = token.map(|t| format!("{prefix}{t}"));
            let mut out = Lookup::default();
            loop {
                let batch = tx.scan(INDEX, &prefix, after.as_deref(), 256)?;
                let n = batch.len();
                for (k, _) in batch {
                    let rk = k.rsplit('\u{1}').next().unwrap_or("").to_string();
                    after = Some(k);
                    let Some(bytes) = tx.get(RECORD, &rk)? else {
                        continue;
                    };
                    let s: Stored = serde_json::from_slice(&bytes).map_err(|e| {
                        let mut a = ApiError::internal();
                        a.cause = Some(format!("corrupt audit record {rk}: {e}"));
                        a
                    })?;
                    let t = tx
                        .get(INDEX, &format!("{account}\u{1}time\u{1}{rk}"))?
                        .and_then(|b| String::from_utf8(b).ok())
                        .and_then(|s| s.parse::<i64>().ok())
                        .unwrap_or(0);
                    if end.is_some_and(|e| t > e) {
                        continue;
                    }
                    if start.is_some_and(|s| t < s) {
                        // Newest first: everything after is older still.
                        out.next_token = None;
                        return Ok(out);
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
            records.reverse();
            let mut prev_hash = ZERO.to_string();
            let mut expect_seq = 1u64;
            let mut count = 0u64;
            for (k, bytes) in &records {
                count += 1;
                let Ok(s) = serde_json::from_slice::<Stored>(bytes) else {
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
        (
            format!(
                r#"{{"eventID":"e{n}","eventName":"{}"}}"#,
                if n % 2 == 0 {
                    "ListUsers"
                } else {
                    "CreateUser"
                }
            ),
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
            .map(|b| serde_json::from_slice(&b).unwrap())
            .unwrap();
        s.event = s.event.replace("CreateUser", "DeleteUser");
        let v = serde_json::to_vec(&s).unwrap();
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
        set_pending(ev(1));
        i.create_user("111", "bob", None, vec![], None, 0).unwrap();
        assert!(take_pending().is_none(), "committed with the write");
        assert_eq!(i.verify_audit().unwrap(), (1, vec![]));
        // A write that fails commits no record: it is still waiting.
        set_pending(ev(2));
        assert!(i.create_user("111", "bob", None, vec![], None, 0).is_err());
        assert!(take_pending().is_some());
        assert_eq!(i.verify_audit().unwrap().0, 1);
    }
}
