//! The audit trail at the edge: a CloudTrail record for every request
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>),
//! stored by a background appender in batches (one durable transaction per
//! batch, hash-chained by `ward-core::audit`), and `LookupEvents` over
//! CloudTrail's JSON protocol.
//!
//! A write's record is made on the worker, before the write, and commits
//! with it. Any other request hands what its record is made of (a
//! [`Capture`]: the caller, parameters, outcome, decisions) to the
//! appender, which makes the record: the request path only moves what it
//! already has into a queue.

use crate::{Api, AppState};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use ward_core::audit::{Additional, EventKeys, Record, UserIdentity, Written};
use ward_core::auth::{Caller, CallerKind, RequestInfo};
use ward_core::store::Store;
use ward_core::ApiError;

/// Parameters AWS hides in `requestParameters`.
const HIDDEN: &[&str] = &[
    "Password",
    "NewPassword",
    "OldPassword",
    "TokenCode",
    "AuthenticationCode1",
    "AuthenticationCode2",
    "SecretAccessKey",
];

/// What a request's record is made of.
pub(crate) struct Event<'a> {
    pub api: Api,
    pub action: &'a str,
    pub caller: Option<&'a Caller>,
    /// The access key the request was signed with, even when refused.
    pub access_key_id: Option<&'a str>,
    pub parameters: Value,
    pub error: Option<&'a ApiError>,
    /// The answer's `responseElements` (JSON text), when the call has them.
    pub response: Option<String>,
    pub request_id: &'a str,
    pub info: &'a RequestInfo,
    pub fallback_account: &'a str,
    /// The record's `eventID` ([`event_id`], taken when the request was
    /// served: its time prefix is how the record is found by it).
    pub event_id: String,
}

fn event_source(api: Api) -> &'static str {
    match api {
        Api::Query(ward_protocol::model::Service::Iam) => "iam.amazonaws.com",
        Api::Query(ward_protocol::model::Service::Sts) => "sts.amazonaws.com",
        Api::Organizations => "organizations.amazonaws.com",
        Api::Authorization | Api::Admin => "ward.amazonaws.com",
        Api::CloudTrail => "cloudtrail.amazonaws.com",
    }
}

/// Query parameters as CloudTrail writes them: lowerCamel keys, secrets hidden.
pub(crate) fn query_parameters(p: &ward_protocol::query::Params) -> Value {
    let mut m = Map::new();
    for (k, v) in p.with_prefix("") {
        if k == "Action" || k == "Version" {
            continue;
        }
        let hidden = HIDDEN.contains(&k);
        m.insert(
            ward_protocol::elements::lower_camel(k),
            json!(if hidden {
                "HIDDEN_DUE_TO_SECURITY_REASONS"
            } else {
                v
            }),
        );
    }
    Value::Object(m)
}

fn user_identity(c: Option<&Caller>, key: Option<&str>) -> UserIdentity {
    let Some(c) = c else {
        return UserIdentity {
            kind: "Unknown",
            access_key_id: key.unwrap_or("").to_string(),
            ..UserIdentity::default()
        };
    };
    let mfa = c
        .session
        .as_ref()
        .is_some_and(|s| s.mfa_authenticated_at.is_some());
    let mut u = UserIdentity {
        kind: "Root",
        principal_id: Some(c.user_id.clone()),
        arn: Some(c.arn.clone()),
        account_id: Some(c.account.clone()),
        access_key_id: c.access_key_id.clone(),
        user_name: None,
        session_context: None,
    };
    match &c.kind {
        CallerKind::Root | CallerKind::UserSession { user: None } => {}
        CallerKind::User { name } | CallerKind::UserSession { user: Some(name) } => {
            u.kind = "IAMUser";
            u.user_name = Some(name.clone());
        }
        CallerKind::Role { role_name, .. } => {
            u.kind = "AssumedRole";
            if let Some(s) = &c.session {
                let (role_arn, role_id) = match &s.kind {
                    ward_core::model::SessionKind::Role {
                        role_arn, role_id, ..
                    } => (role_arn.clone(), role_id.clone()),
                    _ => (String::new(), String::new()),
                };
                let mut ctx = json!({
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": role_id,
                        "arn": role_arn,
                        "accountId": c.account,
                        "userName": role_name,
                    },
                    "attributes": {
                        "creationDate": ward_core::model::iso8601(s.issued),
                        "mfaAuthenticated": mfa.to_string(),
                    },
                });
                if let (Some(si), Some(m)) = (&s.source_identity, ctx.as_object_mut()) {
                    m.insert("sourceIdentity".into(), json!(si));
                }
                u.session_context = Some(ctx);
            }
        }
    }
    if !matches!(c.kind, CallerKind::Role { .. }) {
        if let Some(s) = &c.session {
            u.session_context = Some(json!({"attributes": {
                "creationDate": ward_core::model::iso8601(s.issued),
                "mfaAuthenticated": mfa.to_string(),
            }}));
        }
    }
    u
}

/// STS calls whose records carry their answers although they change
/// nothing: the credentials issued (without the secret key), as CloudTrail
/// records them.
const ANSWERED_READS: &[&str] = &[
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetSessionToken",
    "GetFederationToken",
];

/// Whether CloudTrail records the answer of `action`: a call that changes
/// something, or one of the STS calls that issue credentials.
pub(crate) fn wants_elements(action: &str, read_only: bool) -> bool {
    !read_only || ANSWERED_READS.contains(&action)
}

/// What CloudTrail records of a successful answer as `responseElements`:
/// the answer of a call that changes something (and of the STS calls that
/// issue credentials), secrets left out; `None` for reads and for answers
/// with nothing in them.
pub(crate) fn response_elements(
    api: Api,
    action: &str,
    read_only: bool,
    body: &str,
) -> Option<String> {
    if !wants_elements(action, read_only) {
        return None;
    }
    match api {
        Api::Query(service) => ward_protocol::elements::query_response_elements(
            body,
            service == ward_protocol::model::Service::Sts,
        ),
        _ => ward_protocol::elements::json_response_elements(body),
    }
}

/// The record and its lookup keys (decisions are added by
/// [`ward_core::audit::finish`]).
pub(crate) fn record(e: Event<'_>) -> ward_core::audit::Draft {
    let read_only = ["Get", "List", "Describe", "Lookup", "Simulate"]
        .iter()
        .any(|p| e.action.starts_with(p))
        || e.action == "GetCallerIdentity";
    let account = e
        .caller
        .map_or(e.fallback_account, |c| c.account.as_str())
        .to_string();
    let resources = ward_core::audit::resources_of(&e.parameters, &account);
    let v = Record {
        event_version: "1.11",
        user_identity: user_identity(e.caller, e.access_key_id),
        event_time: ward_core::model::iso8601(e.info.now),
        event_source: event_source(e.api),
        event_name: e.action.to_string(),
        aws_region: e.info.region.clone(),
        source_ip_address: e.info.source_ip.clone().unwrap_or_default(),
        user_agent: e.info.user_agent.clone().unwrap_or_default(),
        error_code: e.error.map(|err| err.code.to_string()),
        error_message: e.error.map(|err| err.message.clone()),
        request_parameters: e.parameters,
        response_elements: e.response,
        request_id: e.request_id.to_string(),
        event_id: e.event_id,
        read_only,
        resources,
        event_type: "AwsApiCall",
        management_event: true,
        recipient_account_id: account.clone(),
        event_category: "Management",
        additional_event_data: Additional {
            ward_decision: match e.error {
                None => "allowed",
                Some(err) if err.code.starts_with("AccessDenied") => "denied",
                Some(_) => "error",
            },
            decisions: Vec::new(),
        },
    };
    // Found by what the record itself shows (retention prunes by the same).
    let attributes = v.attributes();
    // A long-term key's use (temporary keys have no last-used data).
    let key_used = e
        .caller
        .filter(|c| !c.access_key_id.is_empty() && !c.access_key_id.starts_with("ASIA"))
        .map(|c| {
            (
                c.access_key_id.clone(),
                event_source(e.api)
                    .trim_end_matches(".amazonaws.com")
                    .to_string(),
            )
        });
    (
        v,
        EventKeys {
            account,
            time: e.info.now,
            attributes,
            region: e.info.region.clone(),
            key_used,
            accesses: Vec::new(),
        },
    )
}

/// A UUID whose first 48 bits are the time in milliseconds (as UUIDv7):
/// ids of records stored together sort together, so their index entries
/// land on the same pages.
pub(crate) fn event_id() -> String {
    // The record's own clock (`ward serve --clock-offset` included), so an
    // event is found by its id through the time index.
    let sub_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_millis());
    let ms = u128::try_from(ward_core::model::now()).unwrap_or(0) * 1000 + u128::from(sub_ms);
    let bits = ((ms & 0xffff_ffff_ffff) << 80) | (fastrand::u128(..) >> 48);
    ward_core::model::uuid(bits, Some(7))
}

/// How the trail is kept: digests sealed with `key` every `digest_every`
/// seconds (none: no digests).
#[derive(Debug, Clone)]
pub struct TrailConfig {
    pub key: Option<ward_core::digest::DigestKey>,
    pub digest_every: std::time::Duration,
    /// Remove records older than this (seconds) once a digest seals them.
    pub retention: Option<i64>,
}

impl Default for TrailConfig {
    fn default() -> Self {
        TrailConfig {
            key: None,
            // CloudTrail delivers a digest file every hour.
            digest_every: std::time::Duration::from_secs(3600),
            retention: None,
        }
    }
}

/// How long the appender gathers records before storing them. Records of
/// calls that change nothing are stored up to this much after their answer
/// (a write's record commits with the write itself).
const LINGER: std::time::Duration = std::time::Duration::from_millis(50);

/// Records stored in one transaction, at most.
const BATCH_MAX: usize = 4096;

/// Requests waiting beyond which requests wait for the appender (it is
/// behind: back-pressure rather than unbounded memory).
const BACKLOG_MAX: usize = 100_000;

/// What a request's record is made from, captured on the worker that served
/// it (moved, not copied: the request is over) and made into its record by
/// the appender, so the request path does not build, serialize or queue a
/// record of about 2 KB.
#[derive(Debug)]
pub(crate) struct Capture {
    pub api: Api,
    pub action: String,
    pub caller: Option<Caller>,
    pub access_key_id: Option<String>,
    /// The trail's account when there is no caller (empty: none known).
    pub account: String,
    pub parameters: Value,
    pub error: Option<ApiError>,
    pub response: Option<String>,
    pub request_id: String,
    pub info: RequestInfo,
    pub decisions: Vec<ward_core::audit::Noted>,
    pub event_id: String,
}

impl Capture {
    /// The CloudTrail record (JSON) and its lookup keys.
    pub(crate) fn render(self) -> (String, EventKeys) {
        let draft = record(Event {
            api: self.api,
            action: &self.action,
            caller: self.caller.as_ref(),
            access_key_id: self.access_key_id.as_deref(),
            parameters: self.parameters,
            error: self.error.as_ref(),
            response: self.response,
            request_id: &self.request_id,
            info: &self.info,
            fallback_account: &self.account,
            event_id: self.event_id,
        });
        ward_core::audit::finish(draft, self.decisions)
    }
}

/// Requests waiting for the appender. Requests push without waking it (a
/// wake-up per record would cost a system call each); it takes them all
/// every [`LINGER`].
#[derive(Debug, Default)]
pub(crate) struct Queue {
    captures: std::sync::Mutex<Vec<Capture>>,
    /// The vector the appender emptied last, handed back for the next
    /// swap: the queue keeps its room, and nothing is reallocated.
    spare: std::sync::Mutex<Vec<Capture>>,
    /// Records writes committed, with their answers.
    written: std::sync::Mutex<Vec<Written>>,
}

impl Queue {
    /// A record a write committed, with the call's answer.
    pub(crate) fn push_written(&self, w: Written) {
        if let Ok(mut q) = self.written.lock() {
            q.push(w);
        }
    }

    /// Queue a request for its record.
    pub(crate) fn push(&self, c: Capture) {
        loop {
            match self.captures.lock() {
                Ok(mut q) if q.len() < BACKLOG_MAX => {
                    q.push(c);
                    return;
                }
                Ok(_) => {}
                Err(_) => return,
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    fn take(&self) -> Vec<Capture> {
        let spare = self
            .spare
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        self.captures
            .lock()
            .map(|mut q| std::mem::replace(&mut *q, spare))
            .unwrap_or_default()
    }

    fn give_back(&self, mut q: Vec<Capture>) {
        q.clear();
        if let Ok(mut s) = self.spare.lock() {
            *s = q;
        }
    }
}

/// Store everything waiting, in transactions of at most [`BATCH_MAX`], with
/// the records writes committed. `force`: chain every record writes
/// committed now, even those whose copy has not arrived in memory (at
/// shutdown).
pub(crate) fn drain<S: Store>(st: &AppState<S>, q: &Queue, force: bool) {
    let mut captures = q.take();
    let mut written = q
        .written
        .lock()
        .map(|mut w| std::mem::take(&mut *w))
        .unwrap_or_default();
    written.sort_by(|a, b| a.key.cmp(&b.key));
    // Records waiting when the appender woke: a backlog that grows means
    // recording cannot keep up.
    metrics::gauge!("ward_audit_backlog").set((captures.len() + written.len()) as f64);
    let mut pending = captures.drain(..).peekable();
    // At least one batch: what writes committed since the last tick is
    // chained and indexed even with nothing else waiting.
    loop {
        let made: Vec<(String, EventKeys)> = pending
            .by_ref()
            .take(BATCH_MAX)
            .map(Capture::render)
            .collect();
        let n = made.len() + written.len();
        let t0 = std::time::Instant::now();
        let r = st
            .iam
            .record_events_with(&made, std::mem::take(&mut written), force);
        // How long storing a batch takes (it holds the store's writer).
        metrics::histogram!("ward_audit_batch_seconds").record(t0.elapsed().as_secs_f64());
        if let Err(e) = r {
            tracing::error!(error = %e.message, records = n, "audit records could not be stored");
        }
        if pending.peek().is_none() {
            break;
        }
    }
    drop(pending);
    q.give_back(captures);
}

/// The background appender: every [`LINGER`] it stores the records waiting,
/// in one durable transaction; every `digest_every` the records stored
/// since the last digest are sealed in a signed one, and records past
/// retention are removed.
pub(crate) fn start<S: Store>(st: &Arc<AppState<S>>, config: TrailConfig) -> Arc<Queue> {
    let q = Arc::new(Queue::default());
    let st = st.clone();
    let queue = q.clone();
    std::thread::Builder::new()
        .name("ward-audit".into())
        .spawn(move || {
            let mut next_seal = std::time::Instant::now() + config.digest_every;
            loop {
                std::thread::sleep(LINGER);
                drain(&st, &queue, false);
                if std::time::Instant::now() >= next_seal {
                    next_seal = std::time::Instant::now() + config.digest_every;
                    seal_and_prune(&st, &config);
                }
            }
        })
        .ok();
    q
}

fn seal_and_prune<S: Store>(st: &AppState<S>, config: &TrailConfig) {
    if let Some(key) = &config.key {
        match st.iam.seal_audit(key, ward_core::model::now()) {
            Ok(Some(d)) => tracing::info!(
                digest = d.number,
                start = d.start,
                end = d.end,
                "audit digest sealed"
            ),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e.message, "audit digest could not be sealed"),
        }
    }
    if let Some(keep) = config.retention {
        let before = ward_core::model::now() - keep;
        let mut removed = 0;
        loop {
            match st.iam.prune_audit(before, 5000) {
                Ok(0) => break,
                Ok(n) => removed += n,
                Err(e) => {
                    tracing::error!(error = %e.message, "audit retention failed");
                    break;
                }
            }
        }
        if removed > 0 {
            tracing::info!(records = removed, "audit records past retention removed");
        }
    }
}

/// `LookupEvents`.
pub(crate) fn lookup<S: Store>(
    st: &AppState<S>,
    action: &str,
    input: &Value,
    caller: &Caller,
    info: &RequestInfo,
) -> Result<Value, ApiError> {
    if action != "LookupEvents" {
        return Err(ApiError::new(
            "UnknownOperationException",
            400,
            format!("Ward implements CloudTrail LookupEvents only, not {action}"),
        ));
    }
    st.iam
        .authorize(caller, "cloudtrail:LookupEvents", "*", &[], None, info)
        .map_err(|e| ApiError::new("AccessDeniedException", 400, e.message))?;
    let attrs = input
        .get("LookupAttributes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if attrs.len() > 1 {
        return Err(ApiError::new(
            "InvalidLookupAttributesException",
            400,
            "You cannot specify more than one lookup attribute.",
        ));
    }
    let attr = attrs.first().map(|a| {
        (
            a.get("AttributeKey")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            a.get("AttributeValue")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        )
    });
    let time = |k: &str| input.get(k).and_then(Value::as_f64).map(|t| t as i64);
    let limit = input
        .get("MaxResults")
        .and_then(Value::as_u64)
        .map_or(50, |m| m.clamp(1, 50)) as usize;
    let page = st.iam.lookup_events(
        &caller.account,
        attr.as_ref().map(|(k, v)| (k.as_str(), v.as_str())),
        time("StartTime"),
        time("EndTime"),
        limit,
        input.get("NextToken").and_then(Value::as_str),
    )?;
    let events: Vec<Value> = page
        .events
        .iter()
        .filter_map(|text| {
            let r: Value = serde_json::from_str(text).ok()?;
            let s = |k: &str| r.get(k).cloned().unwrap_or(Value::Null);
            let username = r
                .pointer("/userIdentity/userName")
                .cloned()
                .or_else(|| {
                    r.pointer("/userIdentity/sessionContext/sessionIssuer/userName")
                        .map(|_| {
                            r.pointer("/userIdentity/arn")
                                .and_then(Value::as_str)
                                .and_then(|a| a.rsplit('/').next())
                                .map_or(Value::Null, |x| json!(x))
                        })
                })
                .unwrap_or(json!("root"));
            let time = r
                .get("eventTime")
                .and_then(Value::as_str)
                .and_then(|t| ward_sigv4::parse_amz_date(&t.replace(['-', ':'], "")))
                .unwrap_or(0);
            Some(json!({
                "EventId": s("eventID"),
                "EventName": s("eventName"),
                "ReadOnly": r.get("readOnly").and_then(Value::as_bool).unwrap_or(false).to_string(),
                "AccessKeyId": r.pointer("/userIdentity/accessKeyId").cloned().unwrap_or(Value::Null),
                "EventTime": time,
                "EventSource": s("eventSource"),
                "Username": username,
                // What the request names, as it is found by `ResourceName`.
                "Resources": r
                    .get("requestParameters")
                    .map(ward_core::audit::named_resources)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(kind, name)| json!({"ResourceType": kind, "ResourceName": name}))
                    .collect::<Vec<_>>(),
                "CloudTrailEvent": text,
            }))
        })
        .collect();
    let mut out = json!({"Events": events});
    if let (Some(t), Some(o)) = (page.next_token, out.as_object_mut()) {
        o.insert("NextToken".into(), json!(t));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(n: usize) -> Capture {
        Capture {
            api: Api::Query(ward_protocol::model::Service::Sts),
            action: "GetCallerIdentity".into(),
            caller: None,
            access_key_id: Some("AKIAEXAMPLE".into()),
            account: String::new(),
            parameters: json!({}),
            error: None,
            response: None,
            request_id: format!("req-{n}"),
            info: RequestInfo {
                now: 1_796_303_363,
                source_ip: Some("127.0.0.1".into()),
                secure_transport: false,
                region: "us-east-1".into(),
                user_agent: None,
            },
            decisions: Vec::new(),
            event_id: event_id(),
        }
    }

    #[test]
    fn a_full_queue_holds_requests_back_until_the_appender_takes_it() {
        let q = Arc::new(Queue::default());
        for n in 0..BACKLOG_MAX {
            q.push(capture(n));
        }
        let q2 = q.clone();
        let late = std::thread::spawn(move || q2.push(capture(BACKLOG_MAX)));
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!late.is_finished(), "a request got past a full queue");
        let taken = q.take();
        assert_eq!(taken.len(), BACKLOG_MAX);
        late.join().unwrap();
        // In the order they came.
        let next = q.take();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].request_id, format!("req-{BACKLOG_MAX}"));
        assert_eq!(taken[7].request_id, "req-7");
    }

    #[test]
    fn a_capture_becomes_the_record_the_request_would_have() {
        let c = capture(1);
        let id = c.event_id.clone();
        let (json, keys) = c.render();
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["eventID"], json!(id));
        assert_eq!(v["eventName"], "GetCallerIdentity");
        assert_eq!(v["eventSource"], "sts.amazonaws.com");
        assert_eq!(v["requestID"], "req-1");
        assert_eq!(v["userIdentity"]["type"], "Unknown");
        assert_eq!(v["userIdentity"]["accessKeyId"], "AKIAEXAMPLE");
        assert_eq!(v["readOnly"], true);
        assert_eq!(keys.time, 1_796_303_363);
        assert!(keys
            .attributes
            .iter()
            .any(|(a, v)| *a == "EventId" && *v == id));
    }
}
