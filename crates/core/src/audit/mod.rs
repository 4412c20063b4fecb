//! The audit trail: CloudTrail records of every request, hash-chained in
//! the order they were stored, indexed for `LookupEvents`.
//!
//! Every request's record is made at the edge ([`finish`] adds the
//! authorization decisions it made), stored hash-chained in segments
//! (`log`), and folded into last-accessed rows as it is stored
//! ([`LastAccess`]). Records are appended inside store write transactions,
//! so the chain follows commit order; [`crate::iam::Iam::verify_audit`] walks it and
//! reports every edited, deleted, inserted or reordered record.

mod log;
mod record;

pub use record::{Additional, Record, Resource, UserIdentity};

use crate::auth::Caller;
use crate::model::{LastUsed, SessionKind};
use crate::store::{StoreError, TxMut};
pub(crate) use log::{append_in_write, record_at, set_committed, waiting_row, Head, HEAD};
pub use log::{
    chain_hash, raw, take_committed, Base, Finding, Lookup, Stored, Written, SEGMENT_MAX,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use ward_policy::{Decision, Request};

/// Last access per entity and action: `{entity}\u{1}{action}` → [`LastAccess`].
pub(crate) const LAST_ACCESS: &str = "last_access";
/// An access key's last use, from the trail: key id → [`LastUsed`].
pub(crate) const KEY_LAST_USED: &str = "key_last_used";

/// A record being made: the CloudTrail record and its lookup keys, before
/// the request's decisions are added ([`finish`]).
pub type Draft = (Record, EventKeys);

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
    pub allowed: bool,
    /// What the record shows (`additionalEventData.decisions`).
    pub detail: DecisionDetail,
}

/// One authorization decision as a record shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionDetail {
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub decision: &'static str,
    pub decided_by: Option<&'static str>,
    pub matched_statements: Vec<MatchedDetail>,
}

/// A statement that decided, as a record shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchedDetail {
    pub source_policy_id: String,
    pub source_policy_type: &'static str,
    pub statement_index: usize,
    pub sid: Option<String>,
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
    let noted = Noted {
        entity: entity_of(caller),
        allowed: d.is_allowed(),
        detail: DecisionDetail {
            principal: caller.arn.clone(),
            action: req.action().to_string(),
            resource: req.resource().to_string(),
            decision: d.decision.as_str(),
            decided_by: d.decided_by.map(|t| t.as_str()),
            matched_statements: d
                .matched_statements
                .iter()
                .map(|m| MatchedDetail {
                    source_policy_id: m.policy_id().to_string(),
                    source_policy_type: m.policy_type().as_str(),
                    statement_index: m.statement_index(),
                    sid: m.sid().map(str::to_string),
                })
                .collect(),
        },
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

/// `f` of this thread's decisions so far.
pub fn with_decisions<R>(f: impl FnOnce(&[Noted]) -> R) -> R {
    DECISIONS.with(|v| f(&v.borrow()))
}

/// This thread's decisions, taken (the request is over).
pub fn take_decisions() -> Vec<Noted> {
    DECISIONS.with(|v| std::mem::take(&mut *v.borrow_mut()))
}

/// The finished record: the decisions go into `additionalEventData` and
/// become the record's accesses (what last-accessed data is computed from).
pub fn finish(draft: Draft, decisions: Vec<Noted>) -> (String, EventKeys) {
    let (mut event, mut keys) = draft;
    annotate(&mut event, &mut keys, decisions);
    (event.to_json(), keys)
}

/// [`finish`] leaving the draft in place (with the decisions in it), for a
/// write that may fail and leave the record waiting: only the keys are
/// copied, not the record.
pub fn finish_in_place(draft: &mut Draft, decisions: &[Noted]) -> (String, EventKeys) {
    let (event, keys) = draft;
    annotate(event, keys, decisions.to_vec());
    (event.to_json(), keys.clone())
}

fn annotate(event: &mut Record, keys: &mut EventKeys, decisions: Vec<Noted>) {
    if decisions.is_empty() {
        return;
    }
    resolve_paths(&mut event.resources, &decisions);
    keys.accesses = Vec::with_capacity(decisions.len());
    event.additional_event_data.decisions = Vec::with_capacity(decisions.len());
    for n in decisions {
        keys.accesses.push(Access {
            entity: n.entity,
            action: n.detail.action.clone(),
            resource: n.detail.resource.clone(),
            allowed: n.allowed,
        });
        event.additional_event_data.decisions.push(n.detail);
    }
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

fn store_err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// Fold a batch's accesses into the last-accessed rows (one read and one
/// write per entity, action and key the batch touched).
pub(crate) fn track_access<'a>(
    tx: &mut dyn TxMut,
    events: impl IntoIterator<Item = &'a EventKeys>,
) -> Result<(), StoreError> {
    let mut last: BTreeMap<String, LastAccess> = BTreeMap::new();
    let mut keys: BTreeMap<&str, LastUsed> = BTreeMap::new();
    for k in events {
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

/// The request parameters that name a resource, and its type.
const NAMED: &[(&str, &str)] = &[
    ("userName", "AWS::IAM::User"),
    ("groupName", "AWS::IAM::Group"),
    ("roleName", "AWS::IAM::Role"),
    ("policyArn", "AWS::IAM::Policy"),
    ("roleArn", "AWS::IAM::Role"),
    ("instanceProfileName", "AWS::IAM::InstanceProfile"),
    ("serialNumber", "AWS::IAM::MFADevice"),
    ("accessKeyId", "AWS::IAM::AccessKey"),
];

/// The resources a request names, as `LookupEvents` shows and finds them
/// (`ResourceType`, `ResourceName`): the name or ARN as the request gave it.
pub fn named_resources(params: &serde_json::Value) -> Vec<(&'static str, &str)> {
    NAMED
        .iter()
        .filter_map(|(k, ty)| Some((*ty, params.get(*k)?.as_str()?)))
        .collect()
}

/// The ARN's resource type segment of an IAM entity named by its name.
fn arn_segment(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "AWS::IAM::User" => "user",
        "AWS::IAM::Group" => "group",
        "AWS::IAM::Role" => "role",
        "AWS::IAM::InstanceProfile" => "instance-profile",
        _ => return None,
    })
}

/// The record's `resources`: each resource the request names, by its ARN
/// and owner. An entity named by its name is in `account`, on the `path`
/// the request gives (a create) or `/`; [`finish`] puts in the path it is
/// stored on when an authorization decision names it. Resources without an
/// ARN (an access key, a hardware MFA device) are found by `ResourceName`
/// but not listed.
pub fn resources_of(params: &serde_json::Value, account: &str) -> Vec<Resource> {
    let path = params
        .get("path")
        .and_then(serde_json::Value::as_str)
        .filter(|p| p.starts_with('/') && p.ends_with('/'))
        .unwrap_or("/");
    named_resources(params)
        .into_iter()
        .filter_map(|(kind, v)| {
            let arn = if v.starts_with("arn:") {
                v.to_string()
            } else {
                format!("arn:aws:iam::{account}:{}{path}{v}", arn_segment(kind)?)
            };
            let account_id = arn.split(':').nth(4).unwrap_or_default().to_string();
            Some(Resource {
                arn,
                account_id,
                kind,
            })
        })
        .collect()
}

/// Entities named by their names get the ARN an authorization decision
/// used (with the path they are stored on).
fn resolve_paths(resources: &mut [Resource], decisions: &[Noted]) {
    for r in resources {
        // Only an ARN made on the default path: `arn:aws:iam::123:user` and
        // `bob`; a decision on `arn:aws:iam::123:user/{any path}/bob` is it.
        let Some((head, name)) = r.arn.rsplit_once('/') else {
            continue;
        };
        let on_default_path = arn_segment(r.kind)
            .and_then(|seg| head.strip_suffix(seg))
            .is_some_and(|h| h.ends_with(':'));
        if !on_default_path {
            continue;
        }
        let stored = decisions.iter().map(|d| &d.detail.resource).find(|a| {
            a.strip_prefix(head)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|rest| rest.rsplit('/').next() == Some(name))
        });
        if let Some(a) = stored {
            r.arn.clone_from(a);
        }
    }
}

/// The lookup attributes of the resources a request names.
fn resource_attributes(params: &serde_json::Value, out: &mut Vec<(&'static str, String)>) {
    for (kind, name) in named_resources(params) {
        out.push(("ResourceType", kind.to_string()));
        out.push(("ResourceName", name.to_string()));
    }
}

/// The `Username` a record is found by and `LookupEvents` shows: an IAM
/// user's name, a role session's name (the last part of its ARN), `root`;
/// none for a caller that was never authenticated.
pub fn username_of(r: &serde_json::Value) -> Option<String> {
    let s = |p: &str| r.pointer(p).and_then(serde_json::Value::as_str);
    match s("/userIdentity/type")? {
        "IAMUser" => s("/userIdentity/userName").map(str::to_string),
        "AssumedRole" => s("/userIdentity/arn")
            .and_then(|a| a.rsplit('/').next())
            .map(str::to_string),
        "Root" => Some("root".to_string()),
        _ => None,
    }
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
    if let Some(u) = username_of(r) {
        out.push(("Username", u));
    }
    if let Some(k) = s("/userIdentity/accessKeyId").filter(|k| !k.is_empty()) {
        out.push(("AccessKeyId", k));
    }
    if let Some(params) = r.get("requestParameters") {
        resource_attributes(params, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Sealer;
    use crate::iam::Iam;
    use crate::store::{MemStore, Store};
    use std::sync::Arc;

    fn ev(n: u64) -> (String, EventKeys) {
        let (v, k) = draft(n);
        (v.to_json(), k)
    }

    fn draft(n: u64) -> Draft {
        let name = if n % 2 == 0 {
            "ListUsers"
        } else {
            "CreateUser"
        };
        let time = i64::try_from(n).unwrap() * 10;
        let r = Record::example(&format!("e{n}"), name, time);
        let keys = EventKeys {
            account: "111".into(),
            time,
            attributes: r.attributes(),
            ..Default::default()
        };
        (r, keys)
    }

    /// `resources` lists ARNs with their owner and type, as CloudTrail does
    /// (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>);
    /// lookups still find a resource by the name the request gave.
    #[test]
    fn resources_are_arns_and_entities_get_their_stored_path() {
        let params = serde_json::json!({
            "userName": "bob",
            "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "roleArn": "arn:aws:iam::222:role/x",
            "accessKeyId": "AKIAEXAMPLE",
            "serialNumber": "GAHT12345678",
        });
        let arns = |rs: &[Resource]| -> Vec<(String, String, &str)> {
            rs.iter()
                .map(|r| (r.arn.clone(), r.account_id.clone(), r.kind))
                .collect()
        };
        assert_eq!(
            arns(&resources_of(&params, "111")),
            vec![
                (
                    "arn:aws:iam::111:user/bob".into(),
                    "111".into(),
                    "AWS::IAM::User"
                ),
                (
                    "arn:aws:iam::aws:policy/ReadOnlyAccess".into(),
                    "aws".into(),
                    "AWS::IAM::Policy"
                ),
                (
                    "arn:aws:iam::222:role/x".into(),
                    "222".into(),
                    "AWS::IAM::Role"
                ),
            ]
        );
        // A create gives the path.
        let created = serde_json::json!({"roleName": "r", "path": "/app/"});
        assert_eq!(
            resources_of(&created, "111")[0].arn,
            "arn:aws:iam::111:role/app/r"
        );
        // A call on a stored entity: the path its authorization used.
        let mut r = Record::example("e", "AttachUserPolicy", 0);
        r.request_parameters = serde_json::json!({"userName": "bob"});
        r.resources = resources_of(&r.request_parameters, "111");
        let noted = |resource: &str| Noted {
            entity: "arn:aws:iam::111:root".into(),
            allowed: true,
            detail: DecisionDetail {
                principal: "arn:aws:iam::111:root".into(),
                action: "iam:AttachUserPolicy".into(),
                resource: resource.into(),
                decision: "allowed",
                decided_by: None,
                matched_statements: vec![],
            },
        };
        let keys = EventKeys::default();
        let decisions = [
            noted("arn:aws:iam::111:user/bobby"),
            noted("arn:aws:iam::111:group/eng/bob"),
            noted("arn:aws:iam::111:user/eng/bob"),
        ];
        let (json, _) = finish((r.clone(), keys.clone()), decisions.to_vec());
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v["resources"],
            serde_json::json!([{"ARN": "arn:aws:iam::111:user/eng/bob", "accountId": "111", "type": "AWS::IAM::User"}])
        );
        // No decision names it: the default path stays.
        let (json, _) = finish((r, keys), decisions[..2].to_vec());
        assert!(
            json.contains(r#""ARN":"arn:aws:iam::111:user/bob""#),
            "{json}"
        );
        // Found by name and type, from the record alone.
        let attrs = attributes_of(&v);
        assert!(attrs.contains(&("ResourceName", "bob".into())), "{attrs:?}");
        assert!(attrs.contains(&("ResourceType", "AWS::IAM::User".into())));
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
        let mut s: Stored = store.read(|tx| raw::get(tx, 3)).unwrap().unwrap();
        s.event = s.event.replace("CreateUser", "DeleteUser");
        store.write(|tx| raw::put(tx, 3, &s)).unwrap();
        let (_, f) = i.verify_audit().unwrap();
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].problem.contains("edited") && f[0].seq == 3, "{f:?}");
    }

    #[test]
    fn segments_are_stored_compressed_and_read_beside_older_layouts() {
        let store = Arc::new(MemStore::new());
        let i = Iam::new(store.clone(), Sealer::new(&Sealer::generate_key()));
        let events: Vec<_> = (1..=200).map(ev).collect();
        i.record_events(&events[..100]).unwrap();
        let seg = store
            .read(|tx| tx.get(log::RECORD, &log::key(1)))
            .unwrap()
            .expect("the first segment");
        assert_eq!(seg.get(..2), Some(&b"S2"[..]));
        let text: usize = events[..100].iter().map(|(e, _)| e.len()).sum();
        // Similar records compress together far better than one by one.
        assert!(seg.len() * 4 < text, "{} bytes for {text}", seg.len());
        // A segment in the uncompressed layout (as an earlier build wrote
        // it), then compressed ones again: one chain.
        let (mut prev, mut older) = (
            store
                .read(|tx| log::record_at(tx, 100))
                .unwrap()
                .unwrap()
                .hash,
            vec![],
        );
        for n in 101..=110u64 {
            let event = events[usize::try_from(n - 1).unwrap()].0.clone();
            let hash = chain_hash(&prev, n, &event);
            older.push(Stored {
                seq: n,
                prev: prev.clone(),
                hash: hash.clone(),
                event,
            });
            prev = hash;
        }
        store
            .write(|tx| {
                tx.put(
                    log::RECORD,
                    &log::key(101),
                    &log::join(&older.iter().map(Stored::encode).collect::<Vec<_>>()),
                )?;
                tx.put(
                    log::HEAD,
                    "head",
                    &serde_json::to_vec(&log::Head {
                        seq: 110,
                        hash: prev.clone(),
                    })
                    .unwrap(),
                )
            })
            .unwrap();
        i.record_events(&events[110..]).unwrap();
        assert_eq!(i.verify_audit().unwrap(), (200, vec![]));
        let all = i.audit_range(1, 1000).unwrap();
        assert_eq!(all.len(), 200);
        assert!(all.iter().zip(&events).all(|(s, (e, _))| &s.event == e));
        assert_eq!(
            store.read(|tx| log::record_at(tx, 105)).unwrap().unwrap(),
            older[4]
        );
        // A compressed segment cut short is a finding, not a panic.
        store
            .write(|tx| tx.put(log::RECORD, &log::key(1), &seg[..seg.len() / 2]))
            .unwrap();
        let (_, f) = i.verify_audit().unwrap();
        assert!(
            f.iter().any(|f| f.problem.contains("does not parse")),
            "{f:?}"
        );
    }

    #[test]
    fn a_write_and_its_record_commit_together() {
        let store = Arc::new(MemStore::new());
        let i = Iam::new(store, Sealer::new(&Sealer::generate_key()));
        i.ensure_account("111", 0).unwrap();
        set_pending(draft(1));
        i.create_user("111", "bob", None, vec![], None, 0).unwrap();
        assert!(take_pending().is_none(), "committed with the write");
        let w = take_committed().expect("the record committed");
        assert_eq!((w.key.as_str(), w.keys.time), ("e1", 10));
        assert!(w.event.contains(r#""eventID":"e1""#));
        assert!(take_committed().is_none());
        // Committed, waiting to be chained (and indexed) by the appender's
        // next batch (even an empty one).
        assert_eq!(i.unchained_records().unwrap(), 1);
        assert_eq!(i.verify_audit().unwrap(), (0, vec![]));
        let find = || {
            i.lookup_events(
                "111",
                Some(("EventName", "CreateUser")),
                None,
                None,
                50,
                None,
            )
            .unwrap()
            .events
        };
        assert!(find().is_empty());
        // The appender's next batch chains it from the store when its
        // record never arrives in memory (the draft's time is 10 s after
        // the epoch: long past, so no wait) ...
        i.record_events_with::<&str>(&[], vec![], false).unwrap();
        assert_eq!(i.unchained_records().unwrap(), 0);
        assert_eq!(i.verify_audit().unwrap(), (1, vec![]));
        assert_eq!(find().len(), 1);
        // A write that fails commits no record: it is still waiting.
        set_pending(draft(3));
        assert!(i.create_user("111", "bob", None, vec![], None, 0).is_err());
        assert!(take_pending().is_some());
        assert!(take_committed().is_none());
        assert_eq!(i.unchained_records().unwrap(), 0);
    }

    #[test]
    fn a_write_record_gets_its_answer_as_response_elements() {
        let store = Arc::new(MemStore::new());
        let i = Iam::new(store, Sealer::new(&Sealer::generate_key()));
        i.ensure_account("111", 0).unwrap();
        let now = crate::model::now();
        let fresh = |n: u64, user: &str| {
            let (mut r, mut k) = draft(n);
            r.event_time = crate::model::iso8601(now);
            k.time = now;
            set_pending((r, k));
            i.create_user("111", user, None, vec![], None, now).unwrap();
            take_committed().unwrap()
        };
        let mut a = fresh(1, "ann");
        let mut b = fresh(3, "ben");
        // ann's record has arrived with its answer, ben's not: ann's record
        // is chained, ben's waits (it committed a moment ago).
        a.answer = Some(r#"{"user":{"userName":"ann"}}"#.into());
        i.record_events_with::<&str>(&[], vec![a.clone()], false)
            .unwrap();
        assert_eq!(i.unchained_records().unwrap(), 1);
        // Handed over twice, or for a write that never committed: chained
        // once, or not at all.
        let mut never = b.clone();
        never.key = "not-committed".into();
        i.record_events_with::<&str>(&[], vec![a, never], false)
            .unwrap();
        assert_eq!(i.verify_audit().unwrap(), (1, vec![]));
        let page = i.lookup_events("111", None, None, None, 50, None).unwrap();
        assert_eq!(page.events.len(), 1);
        let v: serde_json::Value = serde_json::from_str(&page.events[0]).unwrap();
        assert_eq!(v["responseElements"]["user"]["userName"], "ann");
        assert_eq!(v["eventID"], "e1");
        // ben's answer was that there is nothing to record.
        b.answer = None;
        i.record_events_with::<&str>(&[], vec![b], false).unwrap();
        assert_eq!(i.unchained_records().unwrap(), 0);
        let page = i.lookup_events("111", None, None, None, 50, None).unwrap();
        let v: serde_json::Value = serde_json::from_str(&page.events[0]).unwrap();
        assert_eq!(
            (v["eventID"].as_str(), &v["responseElements"]),
            (Some("e3"), &serde_json::Value::Null)
        );
        assert_eq!(i.verify_audit().unwrap(), (2, vec![]));
        // Without its answer, a record is chained anyway when forced (or
        // once it is older than the wait).
        let _ = fresh(5, "cat");
        i.record_events::<&str>(&[]).unwrap();
        assert_eq!(i.unchained_records().unwrap(), 0);
        assert_eq!(i.verify_audit().unwrap(), (3, vec![]));
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
        let mut prev = "0".repeat(64);
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
