//! The audit trail at the edge: a CloudTrail record for every request
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>),
//! stored by a background appender in batches (one durable transaction per
//! batch, hash-chained by `ward-core::audit`), and `LookupEvents` over
//! CloudTrail's JSON protocol.
//!
//! A write's record is made on the worker, before the write, and commits
//! with it. Any other request packs what its record is made of (a
//! [`Capture`]: the caller, parameters, outcome, decisions) into the
//! appender's queue, which makes the record: the request path only copies
//! what it already has into one buffer.

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

/// Who called, as a record's `userIdentity` shows it: borrowed from a
/// [`Caller`] or from a packed [`Capture`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Who<'a> {
    pub kind: WhoKind<'a>,
    pub account: &'a str,
    pub arn: &'a str,
    pub user_id: &'a str,
    pub access_key_id: &'a str,
    pub session: Option<SessionWho<'a>>,
}

/// The kind of caller, as `userIdentity.type` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhoKind<'a> {
    /// The account's root user (or its temporary credentials).
    Root,
    /// An IAM user (or its temporary credentials), by name.
    User(&'a str),
    /// A role session, by the role's name.
    Role(&'a str),
}

/// A temporary caller's session, as `sessionContext` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionWho<'a> {
    pub issued: i64,
    pub mfa: bool,
    pub source_identity: Option<&'a str>,
    /// The role's ARN and id (a role session; empty otherwise).
    pub role_arn: &'a str,
    pub role_id: &'a str,
}

impl<'a> Who<'a> {
    pub(crate) fn of(c: &'a Caller) -> Who<'a> {
        let kind = match &c.kind {
            CallerKind::Root | CallerKind::UserSession { user: None } => WhoKind::Root,
            CallerKind::User { name } | CallerKind::UserSession { user: Some(name) } => {
                WhoKind::User(name)
            }
            CallerKind::Role { role_name, .. } => WhoKind::Role(role_name),
        };
        let session = c.session.as_ref().map(|s| {
            let (role_arn, role_id) = match &s.kind {
                ward_core::model::SessionKind::Role {
                    role_arn, role_id, ..
                } => (role_arn.as_str(), role_id.as_str()),
                _ => ("", ""),
            };
            SessionWho {
                issued: s.issued,
                mfa: s.mfa_authenticated_at.is_some(),
                source_identity: s.source_identity.as_deref(),
                role_arn,
                role_id,
            }
        });
        Who {
            kind,
            account: &c.account,
            arn: &c.arn,
            user_id: &c.user_id,
            access_key_id: &c.access_key_id,
            session,
        }
    }
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

fn user_identity(c: Option<&Who<'_>>, key: Option<&str>) -> UserIdentity {
    let Some(c) = c else {
        return UserIdentity {
            kind: "Unknown",
            access_key_id: key.unwrap_or("").to_string(),
            ..UserIdentity::default()
        };
    };
    let mut u = UserIdentity {
        kind: "Root",
        principal_id: Some(c.user_id.to_string()),
        arn: Some(c.arn.to_string()),
        account_id: Some(c.account.to_string()),
        access_key_id: c.access_key_id.to_string(),
        user_name: None,
        session_context: None,
    };
    match c.kind {
        WhoKind::Root => {}
        WhoKind::User(name) => {
            u.kind = "IAMUser";
            u.user_name = Some(name.to_string());
        }
        WhoKind::Role(role_name) => {
            u.kind = "AssumedRole";
            if let Some(s) = &c.session {
                let mut ctx = json!({
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": s.role_id,
                        "arn": s.role_arn,
                        "accountId": c.account,
                        "userName": role_name,
                    },
                    "attributes": {
                        "creationDate": ward_core::model::iso8601(s.issued),
                        "mfaAuthenticated": s.mfa.to_string(),
                    },
                });
                if let (Some(si), Some(m)) = (s.source_identity, ctx.as_object_mut()) {
                    m.insert("sourceIdentity".into(), json!(si));
                }
                u.session_context = Some(ctx);
            }
        }
    }
    if !matches!(c.kind, WhoKind::Role(_)) {
        if let Some(s) = &c.session {
            u.session_context = Some(json!({"attributes": {
                "creationDate": ward_core::model::iso8601(s.issued),
                "mfaAuthenticated": s.mfa.to_string(),
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
/// [`ward_core::audit::finish`]; `e.decisions` is not read).
pub(crate) fn record(e: &Capture<'_>) -> ward_core::audit::Draft {
    // Every STS call is a read to CloudTrail: it changes nothing stored,
    // credentials issued included (an `AssumeRole` record of a real trail
    // has `"readOnly":true`; CloudTrail's `ReadOnly` attribute:
    // <https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupAttribute.html>).
    let read_only = ["Get", "List", "Describe", "Lookup", "Simulate"]
        .iter()
        .any(|p| e.action.starts_with(p))
        || e.api == Api::Query(ward_protocol::model::Service::Sts);
    let account = e.caller.map_or(e.account, |c| c.account).to_string();
    let parameters = match e.parameters {
        Parameters::Value(v) => v.clone(),
        Parameters::Json(text) => serde_json::from_str(text).unwrap_or(Value::Null),
    };
    let resources = ward_core::audit::resources_of(&parameters, &account);
    let v = Record {
        event_version: "1.11",
        user_identity: user_identity(e.caller.as_ref(), e.access_key_id),
        event_time: ward_core::model::iso8601(e.now),
        event_source: event_source(e.api),
        event_name: e.action.to_string(),
        aws_region: e.region.to_string(),
        source_ip_address: e.source_ip.unwrap_or_default().to_string(),
        user_agent: e.user_agent.unwrap_or_default().to_string(),
        error_code: e.error.map(|(code, _)| code.to_string()),
        error_message: e.error.map(|(_, message)| message.to_string()),
        request_parameters: parameters,
        response_elements: e.response.map(str::to_string),
        request_id: e.request_id.to_string(),
        event_id: e.event_id.to_string(),
        read_only,
        resources,
        event_type: "AwsApiCall",
        management_event: true,
        recipient_account_id: account.clone(),
        event_category: "Management",
        additional_event_data: Additional {
            ward_decision: match e.error {
                None => "allowed",
                Some((code, _)) if code.starts_with("AccessDenied") => "denied",
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
                c.access_key_id.to_string(),
                event_source(e.api)
                    .trim_end_matches(".amazonaws.com")
                    .to_string(),
            )
        });
    (
        v,
        EventKeys {
            account,
            time: e.now,
            attributes,
            region: e.region.to_string(),
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

/// Bytes of packed requests waiting beyond which requests wait for the
/// appender too (requests with large parameters, such as simulations of
/// long policies, reach it before [`BACKLOG_MAX`]).
const BACKLOG_BYTES: usize = 256 << 20;

/// What a request's record is made from, as the worker that served it has
/// it (borrowed) and as the appender reads it back from the queue (a
/// write's record is made from one on the worker, before the write).
///
/// The worker packs it into the queue's one buffer: a few hundred bytes
/// copied, where moving the request's own strings and maps to the appender
/// would have the appender free them (a free from another thread costs the
/// worker's allocator later, more than the copy). The appender makes the
/// record from the packed bytes, so the request path neither builds nor
/// serializes a record of about 2 KB.
#[derive(Debug, Clone)]
pub(crate) struct Capture<'a> {
    pub api: Api,
    pub action: &'a str,
    pub caller: Option<Who<'a>>,
    pub access_key_id: Option<&'a str>,
    /// The trail's account when there is no caller (empty: none known).
    pub account: &'a str,
    pub parameters: Parameters<'a>,
    /// The error's code and message.
    pub error: Option<(&'a str, &'a str)>,
    pub response: Option<&'a str>,
    pub request_id: &'a str,
    pub now: i64,
    pub source_ip: Option<&'a str>,
    pub region: &'a str,
    pub user_agent: Option<&'a str>,
    pub decisions: std::borrow::Cow<'a, [ward_core::audit::Noted]>,
    pub event_id: &'a str,
}

/// `requestParameters`: the worker's value, or its JSON text read back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Parameters<'a> {
    Value(&'a Value),
    Json(&'a str),
}

impl Capture<'_> {
    /// The CloudTrail record (JSON) and its lookup keys.
    pub(crate) fn render(self) -> (String, EventKeys) {
        let draft = record(&self);
        ward_core::audit::finish(draft, self.decisions.into_owned())
    }
}

/// The packed layout of a [`Capture`]: fields in order, a string as its
/// length (4 bytes, little-endian) and bytes, an optional one behind a
/// flag byte.
mod packed {
    use super::*;
    use ward_core::audit::{DecisionDetail, MatchedDetail, Noted};

    fn u8(out: &mut Vec<u8>, b: u8) {
        out.push(b);
    }
    fn u32(out: &mut Vec<u8>, n: u32) {
        out.extend_from_slice(&n.to_le_bytes());
    }
    fn len(out: &mut Vec<u8>, n: usize) {
        u32(out, u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn i64(out: &mut Vec<u8>, n: i64) {
        out.extend_from_slice(&n.to_le_bytes());
    }
    fn str(out: &mut Vec<u8>, s: &str) {
        len(out, s.len());
        out.extend_from_slice(s.as_bytes());
    }
    fn opt(out: &mut Vec<u8>, s: Option<&str>) {
        match s {
            Some(s) => {
                u8(out, 1);
                str(out, s);
            }
            None => u8(out, 0),
        }
    }

    fn api_code(api: Api) -> u8 {
        use ward_protocol::model::Service;
        match api {
            Api::Query(Service::Iam) => 0,
            Api::Query(Service::Sts) => 1,
            Api::Organizations => 2,
            Api::Authorization => 3,
            Api::Admin => 4,
            Api::CloudTrail => 5,
        }
    }

    fn api_of(code: u8) -> Option<Api> {
        use ward_protocol::model::Service;
        Some(match code {
            0 => Api::Query(Service::Iam),
            1 => Api::Query(Service::Sts),
            2 => Api::Organizations,
            3 => Api::Authorization,
            4 => Api::Admin,
            5 => Api::CloudTrail,
            _ => return None,
        })
    }

    /// A decision's or a policy type's name, as the engine spells it (they
    /// are `&'static str` in a record).
    pub(super) fn known(s: &str) -> &'static str {
        use ward_policy::{EvalDecision, PolicyType};
        for d in [
            EvalDecision::Allowed,
            EvalDecision::ExplicitDeny,
            EvalDecision::ImplicitDeny,
        ] {
            if d.as_str() == s {
                return d.as_str();
            }
        }
        PolicyType::from_name(s)
            .map(PolicyType::as_str)
            .filter(|n| *n == s)
            .unwrap_or("unknown")
    }

    /// Append `c`, framed by its length, to `out`.
    pub(super) fn pack(out: &mut Vec<u8>, c: &Capture<'_>) {
        let start = out.len();
        u32(out, 0);
        u8(out, api_code(c.api));
        str(out, c.action);
        match &c.caller {
            None => u8(out, 0),
            Some(w) => {
                match w.kind {
                    WhoKind::Root => u8(out, 1),
                    WhoKind::User(name) => {
                        u8(out, 2);
                        str(out, name);
                    }
                    WhoKind::Role(name) => {
                        u8(out, 3);
                        str(out, name);
                    }
                }
                str(out, w.account);
                str(out, w.arn);
                str(out, w.user_id);
                str(out, w.access_key_id);
                match &w.session {
                    None => u8(out, 0),
                    Some(s) => {
                        u8(out, 1);
                        i64(out, s.issued);
                        u8(out, u8::from(s.mfa));
                        opt(out, s.source_identity);
                        str(out, s.role_arn);
                        str(out, s.role_id);
                    }
                }
            }
        }
        opt(out, c.access_key_id);
        str(out, c.account);
        match &c.parameters {
            Parameters::Json(text) => str(out, text),
            Parameters::Value(v) => {
                let at = out.len();
                u32(out, 0);
                if serde_json::to_writer(&mut *out, v).is_err() {
                    out.truncate(at + 4);
                    out.extend_from_slice(b"null");
                }
                let n = out.len() - at - 4;
                if let Some(l) = out.get_mut(at..at + 4) {
                    l.copy_from_slice(&u32::try_from(n).unwrap_or(0).to_le_bytes());
                }
            }
        }
        match c.error {
            None => u8(out, 0),
            Some((code, message)) => {
                u8(out, 1);
                str(out, code);
                str(out, message);
            }
        }
        opt(out, c.response);
        str(out, c.request_id);
        i64(out, c.now);
        opt(out, c.source_ip);
        str(out, c.region);
        opt(out, c.user_agent);
        len(out, c.decisions.len());
        for n in c.decisions.iter() {
            str(out, &n.entity);
            u8(out, u8::from(n.allowed));
            let d = &n.detail;
            str(out, &d.principal);
            str(out, &d.action);
            str(out, &d.resource);
            str(out, d.decision);
            opt(out, d.decided_by);
            len(out, d.matched_statements.len());
            for m in &d.matched_statements {
                str(out, &m.source_policy_id);
                str(out, m.source_policy_type);
                len(out, m.statement_index);
                opt(out, m.sid.as_deref());
            }
        }
        str(out, c.event_id);
        let n = out.len() - start - 4;
        if let Some(l) = out.get_mut(start..start + 4) {
            l.copy_from_slice(&u32::try_from(n).unwrap_or(0).to_le_bytes());
        }
    }

    struct Reader<'a>(&'a [u8]);

    impl<'a> Reader<'a> {
        fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
            let (b, rest) = (self.0.get(..n)?, self.0.get(n..)?);
            self.0 = rest;
            Some(b)
        }
        fn u8(&mut self) -> Option<u8> {
            self.bytes(1)?.first().copied()
        }
        fn u32(&mut self) -> Option<u32> {
            Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
        }
        fn i64(&mut self) -> Option<i64> {
            Some(i64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
        }
        fn str(&mut self) -> Option<&'a str> {
            let n = self.u32()? as usize;
            std::str::from_utf8(self.bytes(n)?).ok()
        }
        fn opt(&mut self) -> Option<Option<&'a str>> {
            match self.u8()? {
                0 => Some(None),
                _ => self.str().map(Some),
            }
        }
    }

    /// The captures packed in `buf`, in order (`None` for one that does not
    /// read back: not something [`pack`] wrote).
    pub(super) fn unpack_all(buf: &[u8]) -> impl Iterator<Item = Option<Capture<'_>>> {
        let mut rest = buf;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let n = rest
                .get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_le_bytes)? as usize;
            let frame = rest.get(4..4 + n);
            rest = rest.get(4 + n..).unwrap_or(&[]);
            Some(frame.and_then(unpack))
        })
    }

    fn unpack(frame: &[u8]) -> Option<Capture<'_>> {
        let mut r = Reader(frame);
        let api = api_of(r.u8()?)?;
        let action = r.str()?;
        let caller = match r.u8()? {
            0 => None,
            k => {
                let kind = match k {
                    1 => WhoKind::Root,
                    2 => WhoKind::User(r.str()?),
                    3 => WhoKind::Role(r.str()?),
                    _ => return None,
                };
                let (account, arn, user_id, access_key_id) =
                    (r.str()?, r.str()?, r.str()?, r.str()?);
                let session = match r.u8()? {
                    0 => None,
                    _ => Some(SessionWho {
                        issued: r.i64()?,
                        mfa: r.u8()? != 0,
                        source_identity: r.opt()?,
                        role_arn: r.str()?,
                        role_id: r.str()?,
                    }),
                };
                Some(Who {
                    kind,
                    account,
                    arn,
                    user_id,
                    access_key_id,
                    session,
                })
            }
        };
        let access_key_id = r.opt()?;
        let account = r.str()?;
        let parameters = Parameters::Json(r.str()?);
        let error = match r.u8()? {
            0 => None,
            _ => Some((r.str()?, r.str()?)),
        };
        let response = r.opt()?;
        let request_id = r.str()?;
        let now = r.i64()?;
        let source_ip = r.opt()?;
        let region = r.str()?;
        let user_agent = r.opt()?;
        let count = r.u32()? as usize;
        let mut decisions = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            let entity = r.str()?.to_string();
            let allowed = r.u8()? != 0;
            let (principal, action, resource) = (r.str()?, r.str()?, r.str()?);
            let decision = known(r.str()?);
            let decided_by = r.opt()?.map(known);
            let matched = r.u32()? as usize;
            let mut matched_statements = Vec::with_capacity(matched.min(64));
            for _ in 0..matched {
                matched_statements.push(MatchedDetail {
                    source_policy_id: r.str()?.to_string(),
                    source_policy_type: known(r.str()?),
                    statement_index: r.u32()? as usize,
                    sid: r.opt()?.map(str::to_string),
                });
            }
            decisions.push(Noted {
                entity,
                allowed,
                detail: DecisionDetail {
                    principal: principal.to_string(),
                    action: action.to_string(),
                    resource: resource.to_string(),
                    decision,
                    decided_by,
                    matched_statements,
                },
            });
        }
        let event_id = r.str()?;
        Some(Capture {
            api,
            action,
            caller,
            access_key_id,
            account,
            parameters,
            error,
            response,
            request_id,
            now,
            source_ip,
            region,
            user_agent,
            decisions: std::borrow::Cow::Owned(decisions),
            event_id,
        })
    }
}

/// Requests waiting for the appender, packed into one buffer. Requests
/// push without waking it (a wake-up per record would cost a system call
/// each); it takes them all every [`LINGER`].
#[derive(Debug, Default)]
pub(crate) struct Queue {
    captures: std::sync::Mutex<Packed>,
    /// The buffer the appender emptied last, handed back for the next
    /// swap: the queue keeps its room, and nothing is reallocated.
    spare: std::sync::Mutex<Vec<u8>>,
    /// Records writes committed, with their answers.
    written: std::sync::Mutex<Vec<Written>>,
}

/// Captures packed one after another, and how many.
#[derive(Debug, Default)]
struct Packed {
    bytes: Vec<u8>,
    count: usize,
}

impl Queue {
    /// A record a write committed, with the call's answer.
    pub(crate) fn push_written(&self, w: Written) {
        if let Ok(mut q) = self.written.lock() {
            q.push(w);
        }
    }

    /// Queue a request for its record.
    pub(crate) fn push(&self, c: &Capture<'_>) {
        self.push_within(c, BACKLOG_BYTES);
    }

    /// [`Queue::push`], waiting while `max_bytes` or more are queued.
    fn push_within(&self, c: &Capture<'_>, max_bytes: usize) {
        loop {
            match self.captures.lock() {
                Ok(mut q) if q.count < BACKLOG_MAX && q.bytes.len() < max_bytes => {
                    packed::pack(&mut q.bytes, c);
                    q.count += 1;
                    return;
                }
                Ok(_) => {}
                Err(_) => return,
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    fn take(&self) -> Packed {
        let spare = self
            .spare
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        self.captures
            .lock()
            .map(|mut q| {
                std::mem::replace(
                    &mut *q,
                    Packed {
                        bytes: spare,
                        count: 0,
                    },
                )
            })
            .unwrap_or_default()
    }

    fn give_back(&self, mut bytes: Vec<u8>) {
        bytes.clear();
        if let Ok(mut s) = self.spare.lock() {
            *s = bytes;
        }
    }
}

/// Store everything waiting, in transactions of at most [`BATCH_MAX`], with
/// the records writes committed. `force`: chain every record writes
/// committed now, even those whose copy has not arrived in memory (at
/// shutdown).
pub(crate) fn drain<S: Store>(st: &AppState<S>, q: &Queue, force: bool) {
    let captures = q.take();
    let mut written = q
        .written
        .lock()
        .map(|mut w| std::mem::take(&mut *w))
        .unwrap_or_default();
    written.sort_by(|a, b| a.key.cmp(&b.key));
    // Records waiting when the appender woke: a backlog that grows means
    // recording cannot keep up.
    metrics::gauge!("ward_audit_backlog").set((captures.count + written.len()) as f64);
    let mut pending = packed::unpack_all(&captures.bytes).peekable();
    // At least one batch: what writes committed since the last tick is
    // chained and indexed even with nothing else waiting.
    loop {
        let made: Vec<(String, EventKeys)> = pending
            .by_ref()
            .take(BATCH_MAX)
            .filter_map(|c| {
                if c.is_none() {
                    // Not what `pack` wrote: a defect, never expected.
                    tracing::error!("a queued request did not read back; its record is lost");
                }
                c.map(Capture::render)
            })
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
    q.give_back(captures.bytes);
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
    // Errors and limits as the API reference gives them
    // (<https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html>).
    let limit = match input.get("MaxResults") {
        None | Some(Value::Null) => 50,
        Some(m) => match m.as_u64().filter(|m| (1..=50).contains(m)) {
            Some(m) => m as usize,
            None => {
                return Err(ApiError::new(
                    "InvalidMaxResultsException",
                    400,
                    format!("MaxResults {m} is not valid: it must be from 1 through 50."),
                ))
            }
        },
    };
    if let (Some(start), Some(end)) = (time("StartTime"), time("EndTime")) {
        if start > end {
            return Err(ApiError::new(
                "InvalidTimeRangeException",
                400,
                format!(
                    "The start time ({}) is after the end time ({}).",
                    ward_core::model::iso8601(start),
                    ward_core::model::iso8601(end)
                ),
            ));
        }
    }
    // `insight` asks for Insights events only, which Ward does not make;
    // without it, only management events are returned.
    match input.get("EventCategory") {
        None | Some(Value::Null) => {}
        Some(Value::String(c)) if c == "insight" => return Ok(json!({"Events": []})),
        Some(c) => {
            return Err(ApiError::new(
                "InvalidEventCategoryException",
                400,
                format!("EventCategory {c} is not valid: the only value is insight."),
            ))
        }
    }
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
            let username = ward_core::audit::username_of(&r);
            let time = r
                .get("eventTime")
                .and_then(Value::as_str)
                .and_then(|t| ward_sigv4::parse_amz_date(&t.replace(['-', ':'], "")))
                .unwrap_or(0);
            let mut event = json!({
                "EventId": s("eventID"),
                "EventName": s("eventName"),
                "ReadOnly": r.get("readOnly").and_then(Value::as_bool).unwrap_or(false).to_string(),
                "AccessKeyId": r.pointer("/userIdentity/accessKeyId").cloned().unwrap_or(Value::Null),
                "EventTime": time,
                "EventSource": s("eventSource"),
                // What the request names, as it is found by `ResourceName`.
                "Resources": r
                    .get("requestParameters")
                    .map(ward_core::audit::named_resources)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(kind, name)| json!({"ResourceType": kind, "ResourceName": name}))
                    .collect::<Vec<_>>(),
                "CloudTrailEvent": text,
            });
            if let (Some(u), Some(o)) = (username, event.as_object_mut()) {
                o.insert("Username".into(), json!(u));
            }
            Some(event)
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
    use ward_core::audit::{DecisionDetail, MatchedDetail, Noted};
    use ward_core::model::{Session, SessionKind};

    fn capture<'a>(request_id: &'a str, event_id: &'a str) -> Capture<'a> {
        Capture {
            api: Api::Query(ward_protocol::model::Service::Sts),
            action: "GetCallerIdentity",
            caller: None,
            access_key_id: Some("AKIAEXAMPLE"),
            account: "",
            parameters: Parameters::Json("{}"),
            error: None,
            response: None,
            request_id,
            now: 1_796_303_363,
            source_ip: Some("127.0.0.1"),
            region: "us-east-1",
            user_agent: None,
            decisions: std::borrow::Cow::Borrowed(&[]),
            event_id,
        }
    }

    fn request_ids(p: &Packed) -> Vec<String> {
        packed::unpack_all(&p.bytes)
            .map(|c| c.unwrap().request_id.to_string())
            .collect()
    }

    #[test]
    fn a_full_queue_holds_requests_back_until_the_appender_takes_it() {
        let q = Arc::new(Queue::default());
        let id = event_id();
        for n in 0..BACKLOG_MAX {
            q.push(&capture(&format!("req-{n}"), &id));
        }
        let q2 = q.clone();
        let late = std::thread::spawn(move || {
            q2.push(&capture(&format!("req-{BACKLOG_MAX}"), "late"));
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!late.is_finished(), "a request got past a full queue");
        let taken = q.take();
        assert_eq!(taken.count, BACKLOG_MAX);
        let ids = request_ids(&taken);
        assert_eq!(ids.len(), BACKLOG_MAX);
        late.join().unwrap();
        // In the order they came.
        let next = q.take();
        assert_eq!(next.count, 1);
        assert_eq!(request_ids(&next), [format!("req-{BACKLOG_MAX}")]);
        assert_eq!(ids[7], "req-7");
    }

    #[test]
    fn a_queue_full_of_bytes_holds_requests_back_too() {
        let q = Arc::new(Queue::default());
        let id = event_id();
        // One request's worth of bytes already waits under a bound that small.
        q.push_within(&capture("req-0", &id), 1);
        let q2 = q.clone();
        let late = std::thread::spawn(move || q2.push_within(&capture("req-1", "late"), 1));
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            !late.is_finished(),
            "a request got past a queue full of bytes"
        );
        assert_eq!(request_ids(&q.take()), ["req-0"]);
        late.join().unwrap();
        assert_eq!(request_ids(&q.take()), ["req-1"]);
    }

    #[test]
    fn a_capture_becomes_the_record_the_request_would_have() {
        let id = event_id();
        let c = capture("req-1", &id);
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

    /// A role session refused an action: every part of a capture is set.
    fn session_caller() -> Caller {
        Caller {
            account: "111122223333".into(),
            arn: "arn:aws:sts::111122223333:assumed-role/deploy/ci".into(),
            user_id: "AROAEXAMPLE:ci".into(),
            kind: CallerKind::Role {
                role_name: "deploy".into(),
                session_name: "ci".into(),
            },
            access_key_id: "ASIAEXAMPLE".into(),
            session: Some(Session {
                access_key_id: "ASIAEXAMPLE".into(),
                account: "111122223333".into(),
                kind: SessionKind::Role {
                    role_name: "deploy".into(),
                    role_arn: "arn:aws:iam::111122223333:role/app/deploy".into(),
                    role_id: "AROAEXAMPLE".into(),
                    session_name: "ci".into(),
                },
                issued: 1_796_300_000,
                expires: 1_796_303_600,
                policies: vec![],
                tags: vec![],
                transitive_tag_keys: vec![],
                source_identity: Some("alice".into()),
                mfa_authenticated_at: Some(1_796_299_000),
                chained: false,
            }),
        }
    }

    fn decisions() -> Vec<Noted> {
        vec![Noted {
            entity: "arn:aws:iam::111122223333:role/app/deploy".into(),
            allowed: false,
            detail: DecisionDetail {
                principal: "arn:aws:sts::111122223333:assumed-role/deploy/ci".into(),
                action: "iam:CreateUser".into(),
                resource: "arn:aws:iam::111122223333:user/\u{e9}ve".into(),
                decision: "explicitDeny",
                decided_by: Some("permission_boundary"),
                matched_statements: vec![MatchedDetail {
                    source_policy_id: "boundary".into(),
                    source_policy_type: "permission_boundary",
                    statement_index: 3,
                    sid: Some("NoUsers".into()),
                }],
            },
        }]
    }

    #[test]
    fn a_packed_capture_reads_back_into_the_same_record() {
        let caller = session_caller();
        let params = json!({"userName": "\u{e9}ve", "path": "/x/", "tags": [{"key": "k"}]});
        let decisions = decisions();
        let id = event_id();
        let c = Capture {
            api: Api::Query(ward_protocol::model::Service::Iam),
            action: "CreateUser",
            caller: Some(Who::of(&caller)),
            access_key_id: Some("ASIAEXAMPLE"),
            account: "",
            parameters: Parameters::Value(&params),
            error: Some(("AccessDenied", "User: … is not authorized")),
            response: Some(r#"{"user":{"userName":"x"}}"#),
            request_id: "req-9",
            now: 1_796_303_363,
            source_ip: Some("10.0.0.9"),
            region: "eu-west-1",
            user_agent: Some("aws-cli/2.15"),
            decisions: std::borrow::Cow::Borrowed(&decisions),
            event_id: &id,
        };
        let q = Queue::default();
        q.push(&c);
        q.push(&capture("req-10", &id));
        let taken = q.take();
        let back: Vec<Capture<'_>> = packed::unpack_all(&taken.bytes)
            .map(Option::unwrap)
            .collect();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].caller, c.caller);
        let (direct, direct_keys) = c.clone().render();
        let (json, keys) = back[0].clone().render();
        assert_eq!(json, direct);
        assert_eq!(format!("{keys:?}"), format!("{direct_keys:?}"));
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["userIdentity"]["type"], "AssumedRole");
        assert_eq!(
            v["userIdentity"]["sessionContext"]["sourceIdentity"],
            "alice"
        );
        assert_eq!(
            v["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"],
            "true"
        );
        assert_eq!(v["errorCode"], "AccessDenied");
        assert_eq!(v["requestParameters"], params);
        assert_eq!(v["responseElements"]["user"]["userName"], "x");
        assert_eq!(
            v["additionalEventData"]["decisions"][0]["matchedStatements"][0]["sid"],
            "NoUsers"
        );
        assert_eq!(back[1].request_id, "req-10");
    }

    #[test]
    fn every_decision_and_policy_type_reads_back_as_itself() {
        use ward_policy::{EvalDecision, PolicyType};
        let names = [
            EvalDecision::Allowed.as_str(),
            EvalDecision::ExplicitDeny.as_str(),
            EvalDecision::ImplicitDeny.as_str(),
            PolicyType::Identity.as_str(),
            PolicyType::Resource.as_str(),
            PolicyType::PermissionBoundary.as_str(),
            PolicyType::Session.as_str(),
            PolicyType::Scp.as_str(),
            PolicyType::Rcp.as_str(),
        ];
        // A new policy type fails to compile here until it is listed above.
        let _listed = |t: PolicyType| match t {
            PolicyType::Identity
            | PolicyType::Resource
            | PolicyType::PermissionBoundary
            | PolicyType::Session
            | PolicyType::Scp
            | PolicyType::Rcp => (),
        };
        for n in names {
            assert_eq!(packed::known(n), n);
        }
        assert_eq!(packed::known("nonsense"), "unknown");
    }

    #[test]
    fn a_torn_frame_reads_as_none_not_a_panic() {
        let q = Queue::default();
        q.push(&capture("req-1", "e"));
        let mut bytes = q.take().bytes;
        for cut in 0..bytes.len() {
            let _ = packed::unpack_all(&bytes[..cut]).count();
        }
        // A frame whose insides are cut short.
        bytes[0] = 8;
        bytes[1..4].fill(0);
        assert!(matches!(packed::unpack_all(&bytes).next(), Some(None)));
    }
}
