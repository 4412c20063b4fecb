//! `ward-server`: the HTTP edge. One endpoint for every service: a request
//! is read (bounded), its SigV4 signature verified against the stored key,
//! the caller resolved, the operation decoded from the Query protocol
//! (`Action`, `Version`), validated against the AWS model, authorized by the
//! policy engine with the action and resource AWS uses, executed by
//! `ward-core`, and answered in AWS's XML — or with an `<ErrorResponse>`.
//!
//! The server is generic over the store; only the CLI chooses one.

mod admin;
mod authz;
mod ops;
mod orgs;
mod serve;
mod trail;
pub use serve::serve;
pub use trail::TrailConfig;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use ward_core::auth::{CredentialError, RequestInfo};
use ward_core::iam::Iam;
use ward_core::model::now;
use ward_core::store::Store;
use ward_core::ApiError;
use ward_protocol::error::{error_response, ErrorType};
use ward_protocol::model::Service;
use ward_sigv4::SigV4Error;

/// Largest request body accepted (before hashing it).
pub const MAX_BODY: usize = 1 << 20;

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The region reported and expected in credential scopes.
    pub region: String,
    /// Check request timestamps.
    pub check_time: bool,
    /// Emulator mode: `/moto-api/*` endpoints; while authentication is off
    /// (the default) any access key signs as the root user of the default
    /// account, or of the account its 12-digit key id names.
    pub emulator: bool,
    /// The account of emulator mode and of the first start.
    pub default_account: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            region: "us-east-1".into(),
            check_time: true,
            emulator: false,
            default_account: "123456789012".into(),
        }
    }
}

/// Everything a request needs.
#[derive(Debug)]
pub struct AppState<S> {
    pub iam: Iam<S>,
    pub config: Config,
    pub metrics: Option<PrometheusHandle>,
    /// When each access key's last use was last written (at most once a
    /// minute per key, so a busy key does not cost a durable write per call).
    pub last_touch: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    /// Emulator mode: how many more calls pass unauthenticated (`None`: all).
    pub no_auth_left: std::sync::Mutex<Option<u64>>,
    /// The audit trail's appender, once started.
    audit: std::sync::OnceLock<Arc<trail::Queue>>,
}

/// Most signing keys a thread keeps before its cache starts over.
const MAX_SIGNING_KEYS: usize = 50_000;

thread_local! {
    /// SigV4 signing keys by credential scope (access key id, date, region,
    /// service), per serving thread: a key id has one secret for its whole
    /// life, so a key derived once serves every request it signs that day.
    /// The scope is looked up through a reused buffer, without copying.
    static SIGNING_KEYS: std::cell::RefCell<(String, std::collections::HashMap<String, [u8; 32]>)> =
        std::cell::RefCell::new((String::new(), std::collections::HashMap::new()));
}

impl<S> AppState<S> {
    pub fn new(iam: Iam<S>, config: Config, metrics: Option<PrometheusHandle>) -> Self {
        AppState {
            iam,
            config,
            metrics,
            last_touch: std::sync::Mutex::new(std::collections::HashMap::new()),
            no_auth_left: std::sync::Mutex::new(None),
            audit: std::sync::OnceLock::new(),
        }
    }

    /// The signing key for a request's credential scope.
    fn signing_key(&self, p: &ward_sigv4::Parsed, secret: &str) -> [u8; 32] {
        SIGNING_KEYS.with_borrow_mut(|(scope, keys)| {
            // `KEY/DATE/REGION/SERVICE`: no part holds a `/` (the
            // credential was split on them).
            scope.clear();
            for (i, part) in [&p.access_key_id, &p.scope_date, &p.region, &p.service]
                .into_iter()
                .enumerate()
            {
                if i > 0 {
                    scope.push('/');
                }
                scope.push_str(part);
            }
            if let Some(k) = keys.get(scope.as_str()) {
                return *k;
            }
            let k = ward_sigv4::signing_key(
                &ward_sigv4::SecretKey::new(secret),
                &p.scope_date,
                &p.region,
                &p.service,
            );
            if keys.len() >= MAX_SIGNING_KEYS {
                keys.clear();
            }
            keys.insert(scope.clone(), k);
            k
        })
    }

    /// Emulator mode: whether this call passes without authentication
    /// (and count it).
    fn take_no_auth(&self) -> bool {
        if !self.config.emulator {
            return false;
        }
        let Ok(mut left) = self.no_auth_left.lock() else {
            return false;
        };
        match *left {
            None => true,
            Some(0) => false,
            Some(n) => {
                *left = Some(n - 1);
                true
            }
        }
    }

    /// Whether to record a key's use now.
    fn should_touch(&self, key: &str, now: i64) -> bool {
        let Ok(mut m) = self.last_touch.lock() else {
            return false;
        };
        match m.get(key) {
            Some(&t) if now - t < 60 => false,
            _ => {
                m.insert(key.to_string(), now);
                true
            }
        }
    }
}

impl<S: Store> AppState<S> {
    /// Whether requests are recorded.
    fn auditing(&self) -> bool {
        self.audit.get().is_some()
    }

    /// Store the records still waiting for the appender (at shutdown).
    pub fn flush_audit(&self) {
        if let Some(q) = self.audit.get() {
            trail::drain(self, q, true);
        }
    }

    /// Record every API request in the audit trail from now on: a write's
    /// record commits in the write's transaction; the others are stored by a
    /// background appender in batches.
    pub fn start_auditing(self: &Arc<Self>, config: TrailConfig) {
        ward_core::audit::set_recording(true);
        let q = trail::start(self, config);
        let _ = self.audit.set(q);
    }
}

/// What a request revealed, for its audit record.
#[derive(Default)]
pub(crate) struct Seen {
    caller: Option<ward_core::auth::Caller>,
    access_key_id: Option<String>,
    /// The account whose key signed a request without a caller (its
    /// authentication failed); empty when no account has that key.
    key_account: String,
    parameters: serde_json::Value,
    region: String,
    user_agent: Option<String>,
    /// The record was committed with the call's write.
    recorded: bool,
    /// The decisions authorization made while serving the call.
    decisions: Vec<ward_core::audit::Noted>,
    /// The answer's `responseElements` as its XML was written (`Some(None)`:
    /// it has none); `None`: not mirrored.
    response: Option<Option<String>>,
}

/// The axum application. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` (the caller's
/// address is `aws:SourceIp`).
pub fn router<S: Store>(state: Arc<AppState<S>>) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics_handler::<S>))
        .route("/ward/workload/credentials", get(workload_credentials::<S>))
        .route("/moto-api/reset", axum::routing::post(reset::<S>))
        .route("/moto-api/reset-auth", axum::routing::post(reset_auth::<S>))
        .fallback(any(handle::<S>))
        .with_state(state)
}

/// `POST /moto-api/reset`: wipe every record (emulator mode only).
async fn reset<S: Store>(State(st): State<Arc<AppState<S>>>) -> Response {
    if !st.config.emulator {
        return (StatusCode::NOT_FOUND, "only in emulator mode\n").into_response();
    }
    let st2 = st.clone();
    let r = tokio::task::spawn_blocking(move || {
        st2.iam
            .wipe()
            .map_err(|e| ward_core::store::StoreError(e.cause.unwrap_or(e.message)))?;
        st2.iam
            .ensure_account(&st2.config.default_account, now())
            .map_err(|e| ward_core::store::StoreError(e.message))?;
        Ok::<_, ward_core::store::StoreError>(())
    })
    .await;
    match r {
        Ok(Ok(())) => (StatusCode::OK, "{\"status\": \"ok\"}").into_response(),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "reset failed\n").into_response(),
    }
}

/// `POST /moto-api/reset-auth` with a number N: the next N calls pass
/// unauthenticated, every later one is verified and authorized.
async fn reset_auth<S: Store>(State(st): State<Arc<AppState<S>>>, body: Bytes) -> Response {
    if !st.config.emulator {
        return (StatusCode::NOT_FOUND, "only in emulator mode\n").into_response();
    }
    let text = String::from_utf8_lossy(&body);
    let Ok(n) = text.trim().parse::<u64>() else {
        return (
            StatusCode::BAD_REQUEST,
            format!("the body must be a whole number, not `{}`\n", text.trim()),
        )
            .into_response();
    };
    let previous = match st.no_auth_left.lock() {
        Ok(mut left) => {
            let prev = *left;
            *left = Some(n);
            prev
        }
        Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "poisoned\n").into_response(),
    };
    let prev = previous.map_or_else(|| "inf".to_string(), |p| p.to_string());
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        format!("{{\"status\": \"ok\", \"PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT\": \"{prev}\"}}"),
    )
        .into_response()
}

/// The container credentials endpoint of registered workloads: the
/// `Authorization` header carries the workload's token
/// (`AWS_CONTAINER_AUTHORIZATION_TOKEN`); the answer is the JSON document
/// the SDKs' container credentials provider reads.
async fn workload_credentials<S: Store>(
    State(st): State<Arc<AppState<S>>>,
    headers: HeaderMap,
) -> Response {
    let rid = request_id();
    let fail = |status: StatusCode, code: &str, message: &str| {
        let body = serde_json::json!({"Code": code, "Message": message}).to_string();
        (status, [("content-type", "application/json")], body).into_response()
    };
    let Some(token) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
    else {
        return fail(
            StatusCode::UNAUTHORIZED,
            "MissingAuthenticationToken",
            "The Authorization header must carry the workload token",
        );
    };
    let token = token.to_string();
    let st2 = st.clone();
    let r = tokio::task::spawn_blocking(move || st2.iam.workload_credentials(&token, now())).await;
    let (w, role, c) = match r {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::info!(request_id = %rid, code = e.code, "workload credentials refused");
            return fail(StatusCode::FORBIDDEN, e.code, &e.message);
        }
        Err(_) => {
            return fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "internal failure",
            )
        }
    };
    tracing::info!(request_id = %rid, workload = %w.id, role = %role, "workload credentials");
    let body = serde_json::json!({
        "AccessKeyId": c.access_key_id,
        "SecretAccessKey": c.secret_access_key,
        "Token": c.session_token,
        "Expiration": ward_core::model::iso8601(c.expiration),
        "RoleArn": role,
    })
    .to_string();
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

async fn metrics_handler<S: Store>(State(st): State<Arc<AppState<S>>>) -> Response {
    match &st.metrics {
        Some(h) => h.render().into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled\n").into_response(),
    }
}

/// A request id in UUID form, as AWS's (unique, not secret: a fast
/// thread-local generator, no system call per request).
pub fn request_id() -> String {
    ward_core::model::uuid(fastrand::u128(..), None)
}

/// An XML error response.
fn error_xml(service: Service, e: &ApiError, rid: &str) -> Response {
    let ty = match e.fault {
        ward_core::Fault::Sender => ErrorType::Sender,
        ward_core::Fault::Receiver => ErrorType::Receiver,
    };
    if let Some(cause) = &e.cause {
        tracing::error!(request_id = rid, code = e.code, cause = %cause, "internal failure");
    }
    let body = error_response(service.xml_namespace(), ty, e.code, &e.message, rid);
    xml(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
        rid,
    )
}

fn xml(status: StatusCode, body: String, rid: &str) -> Response {
    answer(status, body, rid, "text/xml")
}

/// An answer with its content type and the request id header.
fn answer(status: StatusCode, body: String, rid: &str, content_type: &'static str) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        "content-type",
        axum::http::HeaderValue::from_static(content_type),
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(rid) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

/// A SigV4 failure as the service answers it: IAM words
/// `InvalidClientTokenId` without the final period, STS with it (AWS's own
/// responses: https://github.com/aws/aws-cli/issues/8918 for IAM,
/// https://github.com/broamski/aws-mfa/issues/56 for STS).
pub(crate) fn sigv4_error(api: Api, e: &SigV4Error) -> ApiError {
    let message = e.message();
    let message = match (api, e) {
        (Api::Query(Service::Iam), SigV4Error::InvalidClientTokenId) => {
            message.trim_end_matches('.')
        }
        _ => message.as_str(),
    };
    ApiError::new(e.code(), e.status(), message)
}

/// The protocol and service of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// IAM or STS over the Query protocol (XML out).
    Query(Service),
    /// AWS Organizations over JSON 1.1 (`X-Amz-Target: AWSOrganizationsV20161128.*`).
    Organizations,
    /// Ward's authorization endpoint over JSON 1.1
    /// (`X-Amz-Target: WardAuthorization.Authorize`, see docs/authorize.md).
    Authorization,
    /// Ward's administration over JSON 1.1 (`X-Amz-Target: WardAdmin.Apply`
    /// and `WardAdmin.Plan`, used by `ward apply`).
    Admin,
    /// CloudTrail's `LookupEvents` over JSON 1.1.
    CloudTrail,
}

impl Api {
    fn signing_name(self) -> &'static str {
        match self {
            Api::Query(s) => s.signing_name(),
            Api::Organizations => "organizations",
            Api::Authorization | Api::Admin => "ward",
            Api::CloudTrail => "cloudtrail",
        }
    }
}

/// The `X-Amz-Target` prefixes of the JSON-protocol services.
const JSON_TARGETS: &[(&str, Api)] = &[
    ("AWSOrganizationsV20161128.", Api::Organizations),
    ("WardAuthorization.", Api::Authorization),
    ("WardAdmin.", Api::Admin),
    (
        "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.",
        Api::CloudTrail,
    ),
];

/// A decoded request.
pub(crate) enum Call {
    Query(ward_protocol::query::Params),
    Json {
        api: Api,
        action: String,
        input: serde_json::Value,
    },
}

impl Call {
    fn decode(headers: &HeaderMap, uri: &Uri, body: &[u8]) -> Result<Call, ApiError> {
        let Some(target) = headers.get("x-amz-target") else {
            return ward_protocol::query::Params::parse(uri.query().unwrap_or(""), body)
                .map(Call::Query)
                .map_err(|e| ApiError::new(e.code(), e.status(), e.to_string()));
        };
        let target = target.to_str().unwrap_or("");
        let Some((api, action)) = JSON_TARGETS
            .iter()
            .find_map(|(prefix, api)| Some((*api, target.strip_prefix(prefix)?)))
        else {
            return Err(ApiError::new(
                "UnknownOperationException",
                400,
                format!("Ward does not serve the target `{target}`"),
            ));
        };
        let input = if body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::new(
                    "SerializationException",
                    400,
                    format!("The request body is not valid JSON: {e}"),
                )
            })?
        };
        if !input.is_object() {
            return Err(ApiError::new(
                "SerializationException",
                400,
                "The request body must be a JSON object",
            ));
        }
        Ok(Call::Json {
            api,
            action: action.to_string(),
            input,
        })
    }

    fn action(&self) -> &str {
        match self {
            Call::Query(p) => p.action().unwrap_or(""),
            Call::Json { action, .. } => action,
        }
    }

    /// Operations that change nothing in the store: they run on the async
    /// worker itself (their reads are served from memory or SQLite's page
    /// cache in microseconds); everything else may wait for a durable commit
    /// and runs on the blocking pool.
    fn is_read_only(&self) -> bool {
        let action = self.action();
        match self {
            // An MFA code is recorded as used (durably) before it is accepted.
            Call::Query(p) if p.get("TokenCode").is_some() => false,
            Call::Query(_) => {
                action.starts_with("Get")
                    || action.starts_with("List")
                    || action.starts_with("Simulate")
                    || action == "AssumeRole"
            }
            Call::Json { api, .. } => {
                *api == Api::Authorization
                    || *api == Api::CloudTrail
                    || action == "Plan"
                    || action.starts_with("Describe")
                    || action.starts_with("List")
            }
        }
    }

    /// Read-only operations quick enough to answer on the worker thread
    /// that serves the connection. A worker serves many connections one
    /// request at a time, so a read that may take milliseconds (a trail
    /// lookup, a simulation, a whole-account listing or report, a plan)
    /// goes to the blocking pool like a write.
    fn runs_inline(&self) -> bool {
        if !self.is_read_only() {
            return false;
        }
        match self {
            Call::Query(p) => {
                let action = p.action().unwrap_or("");
                !(action.starts_with("Simulate")
                    || action == "GetAccountAuthorizationDetails"
                    || action == "GetCredentialReport"
                    || action.starts_with("GetServiceLastAccessedDetails"))
            }
            Call::Json { api, action, .. } => *api != Api::CloudTrail && action != "Plan",
        }
    }

    /// The API, from the credential scope's service or the `Version`.
    fn api(&self, scope_service: Option<&str>) -> Api {
        match self {
            Call::Json { api, .. } => *api,
            Call::Query(p) => match (scope_service, p.version()) {
                (Some("sts"), _) | (_, Some("2011-06-15")) => Api::Query(Service::Sts),
                _ => Api::Query(Service::Iam),
            },
        }
    }
}

pub(crate) async fn handle<S: Store>(
    State(st): State<Arc<AppState<S>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let started = Instant::now();
    let rid = request_id();
    let source_ip = Some(peer.ip().to_string());
    // Read at most MAX_BODY bytes: a larger body (by its Content-Length, or
    // as it streams in) is refused before it is buffered or hashed.
    let (body, call) = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => {
            let call = Call::decode(&headers, &uri, &body);
            (body, call)
        }
        Err(e) => {
            let too_large = e.into_inner().is::<http_body_util::LengthLimitError>();
            let err = if too_large {
                ApiError::new(
                    "RequestEntityTooLarge",
                    413,
                    format!("Request body exceeds the limit of {MAX_BODY} bytes"),
                )
            } else {
                ApiError::new(
                    "IncompleteBody",
                    400,
                    "The request body ended before the length its headers announced",
                )
            };
            (Bytes::new(), Err(err))
        }
    };
    // Errors before the service is known answer in the protocol asked for.
    let fallback = if headers.contains_key("x-amz-target") {
        Api::Authorization
    } else {
        Api::Query(Service::Iam)
    };
    let read_only = call.as_ref().map_or(true, Call::is_read_only);
    let inline = call.as_ref().map_or(true, Call::runs_inline);
    let ((api, action, result, touch), mut seen) = if inline && !st.config.emulator {
        process(
            &st, &method, &uri, &headers, &body, call, fallback, source_ip, &rid,
        )
    } else {
        let st2 = st.clone();
        let rid2 = rid.clone();
        tokio::task::spawn_blocking(move || {
            process(
                &st2, &method, &uri, &headers, &body, call, fallback, source_ip, &rid2,
            )
        })
        .await
        .unwrap_or_else(|_| {
            (
                (fallback, String::new(), Err(ApiError::internal()), None),
                Seen::default(),
            )
        })
    };
    // The audit record (unless it committed with the call's write).
    if !seen.recorded {
        if let Some(q) = st.audit.get() {
            let source_ip = peer.ip().to_string();
            let response = match (&result, seen.response.take()) {
                (Ok(_), Some(mirrored)) => mirrored,
                (Ok(body), None) => trail::response_elements(api, &action, read_only, body),
                (Err(_), _) => None,
            };
            let event_id = trail::event_id();
            q.push(&trail::Capture {
                api,
                action: &action,
                caller: seen.caller.as_ref().map(trail::Who::of),
                access_key_id: seen.access_key_id.as_deref(),
                // No owner known (no key, or no such key): the account
                // Ward was first started with, its operator's.
                account: if seen.key_account.is_empty() {
                    &st.config.default_account
                } else {
                    &seen.key_account
                },
                parameters: trail::Parameters::Value(&seen.parameters),
                error: result.as_ref().err().map(|e| (e.code, e.message.as_str())),
                response: response.as_deref(),
                request_id: &rid,
                now: now(),
                source_ip: Some(&source_ip),
                region: if seen.region.is_empty() {
                    &st.config.region
                } else {
                    &seen.region
                },
                user_agent: seen.user_agent.as_deref(),
                decisions: std::borrow::Cow::Borrowed(&seen.decisions),
                event_id: &event_id,
            });
        }
    }
    if let Some((key, service, region)) = touch {
        // Record the key's last use off the request path; best effort, a
        // failure does not fail the call.
        let st2 = st.clone();
        tokio::task::spawn_blocking(move || {
            let _ = st2.iam.touch_access_key(&key, now(), service, &region);
        });
    }
    let label = metric_label(api, &action, result.as_ref().err());
    let status;
    let resp = match (result, api) {
        (Ok(body), Api::Query(_)) => {
            status = 200;
            xml(StatusCode::OK, body, &rid)
        }
        (Ok(body), Api::Organizations | Api::Authorization | Api::Admin | Api::CloudTrail) => {
            status = 200;
            json(StatusCode::OK, body, &rid)
        }
        (Err(e), Api::Query(service)) => {
            status = e.status;
            error_xml(service, &e, &rid)
        }
        (Err(e), Api::Organizations | Api::Authorization | Api::Admin | Api::CloudTrail) => {
            status = e.status;
            error_json(&e, &rid)
        }
    };
    count_request(label, status == 200, started.elapsed().as_secs_f64());
    tracing::info!(
        request_id = %rid,
        action = %action,
        status,
        source_ip = %peer.ip(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    resp
}

/// The action as a metrics label. The name is the client's choice, so it is
/// used only when it is known to be an operation: a call that was served, a
/// Query operation of the AWS model, or a JSON-protocol call refused for
/// another reason than an unknown target or a failed authentication.
/// Anything else counts as `(unknown)`, so made-up names cannot add series
/// without end.
fn metric_label<'a>(api: Api, action: &'a str, error: Option<&ApiError>) -> &'a str {
    const UNKNOWN: &str = "(unknown)";
    let known = match (api, error) {
        (_, None) => true,
        (Api::Query(service), Some(_)) => service.operation(action).is_some(),
        (_, Some(e)) => !matches!(
            e.code,
            "UnknownOperationException"
                | "SerializationException"
                | "MissingAuthenticationToken"
                | "IncompleteSignature"
                | "InvalidClientTokenId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "RequestEntityTooLarge"
                | "IncompleteBody"
        ),
    };
    if known && !action.is_empty() {
        action
    } else {
        UNKNOWN
    }
}

/// One action's request metrics, as handles registered on first use.
struct ActionMetrics {
    /// By outcome: `ok`, `error`.
    outcomes: [Option<metrics::Counter>; 2],
    seconds: metrics::Histogram,
}

/// Most actions whose handles a thread keeps (client-chosen names of
/// unknown actions could otherwise grow the table without end).
const MAX_METRIC_ACTIONS: usize = 1024;

thread_local! {
    /// Each serving thread's handles by action: a request then costs a map
    /// probe instead of registering its labels with the recorder.
    static ACTION_METRICS: std::cell::RefCell<std::collections::HashMap<String, ActionMetrics>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// `ward_requests_total{action, outcome}` and `ward_request_seconds{action}`.
fn count_request(action: &str, ok: bool, seconds: f64) {
    ACTION_METRICS.with_borrow_mut(|m| {
        if !m.contains_key(action) {
            if m.len() >= MAX_METRIC_ACTIONS {
                m.clear();
            }
            let seconds = metrics::histogram!("ward_request_seconds", "action" => action.to_string());
            m.insert(
                action.to_string(),
                ActionMetrics {
                    outcomes: [None, None],
                    seconds,
                },
            );
        }
        let Some(h) = m.get_mut(action) else {
            return;
        };
        let (i, outcome) = if ok { (0, "ok") } else { (1, "error") };
        if let Some(slot) = h.outcomes.get_mut(i) {
            slot.get_or_insert_with(|| {
                metrics::counter!("ward_requests_total", "action" => action.to_string(), "outcome" => outcome)
            })
            .increment(1);
        }
        h.seconds.record(seconds);
    });
}

/// Resolve a parsed SigV4 request's credentials and verify its signature:
/// the caller, or the error the service answers.
pub(crate) fn authenticate<S: Store, H: AsRef<str>>(
    st: &AppState<S>,
    sreq: &ward_sigv4::Request<'_, H>,
    parsed: &ward_sigv4::Parsed,
    now: i64,
    api: Api,
) -> Result<ward_core::auth::Caller, ApiError> {
    let (caller, secret) = st
        .iam
        .credentials(&parsed.access_key_id, parsed.security_token.as_deref(), now)
        .map_err(|e| match e {
            CredentialError::InvalidClientTokenId => {
                sigv4_error(api, &SigV4Error::InvalidClientTokenId)
            }
            CredentialError::ExpiredToken => sigv4_error(api, &SigV4Error::ExpiredToken),
            CredentialError::Internal(e) => e,
        })?;
    let opts = ward_sigv4::Options {
        now,
        // Every service but S3 normalizes the path.
        normalize_path: parsed.service != "s3",
        check_time: st.config.check_time,
    };
    let key = st.signing_key(parsed, secret.as_str());
    ward_sigv4::verify_with_key(sreq, parsed, &key, opts).map_err(|e| sigv4_error(api, &e))?;
    Ok(caller)
}

/// [`dispatch`], with the request's audit record committed together with
/// the call's first write (when the call writes and auditing is on).
#[allow(clippy::too_many_arguments)]
fn dispatch_recorded<S: Store>(
    st: &AppState<S>,
    api: Api,
    action: &str,
    call: &Call,
    caller: &ward_core::auth::Caller,
    info: &RequestInfo,
    rid: &str,
    seen: &mut Seen,
) -> Result<String, ApiError> {
    let with_write = st.auditing() && !call.is_read_only();
    // The answer's `responseElements`, written with the XML (taken below,
    // on this thread, whatever the outcome).
    let mirror = match api {
        Api::Query(service)
            if st.auditing() && trail::wants_elements(action, call.is_read_only()) =>
        {
            ward_protocol::elements::mirror_next_response(
                service == ward_protocol::model::Service::Sts,
            );
            true
        }
        _ => false,
    };
    if with_write {
        ward_core::audit::set_pending(trail::record(&trail::Capture {
            api,
            action,
            caller: Some(trail::Who::of(caller)),
            access_key_id: Some(&caller.access_key_id),
            account: "",
            parameters: trail::Parameters::Value(&seen.parameters),
            error: None,
            response: None,
            request_id: rid,
            now: info.now,
            source_ip: info.source_ip.as_deref(),
            region: &info.region,
            user_agent: info.user_agent.as_deref(),
            // Added when the write commits (`ward_core::audit::finish_in_place`).
            decisions: std::borrow::Cow::Borrowed(&[]),
            event_id: &trail::event_id(),
        }));
        let _ = ward_core::audit::take_committed();
    }
    let result = dispatch(st, api, call, caller, info, rid);
    if mirror {
        seen.response = ward_protocol::elements::take_mirrored();
    }
    if with_write {
        // Still waiting: no write committed it; the edge records the outcome.
        seen.recorded = ward_core::audit::take_pending().is_none();
        // Committed: its answer follows it to the appender, which chains the
        // record with it as `responseElements`.
        if let (Some(mut w), Some(q)) = (ward_core::audit::take_committed(), st.audit.get()) {
            // Decisions made after the write committed go into the record
            // too: it is finished again with all of them (the waiting row
            // keeps those it committed with).
            if let Some(draft) = w.draft.take() {
                let before = draft.0.additional_event_data.decisions.len();
                if ward_core::audit::with_decisions(|d| d.len()) > before {
                    (w.event, w.keys) = ward_core::audit::with_decisions(|d| {
                        ward_core::audit::finish(draft, d.to_vec())
                    });
                }
            }
            w.answer = match (&result, seen.response.take()) {
                (Ok(_), Some(mirrored)) => mirrored,
                (Ok(body), None) => trail::response_elements(api, action, false, body),
                (Err(_), _) => None,
            };
            q.push_written(w);
        }
    }
    result
}

/// Run a decoded call for an authenticated caller.
fn dispatch<S: Store>(
    st: &AppState<S>,
    api: Api,
    call: &Call,
    caller: &ward_core::auth::Caller,
    info: &RequestInfo,
    rid: &str,
) -> Result<String, ApiError> {
    match (api, call) {
        (Api::Query(service), Call::Query(p)) => {
            ops::dispatch(st, service, p.action().unwrap_or(""), p, caller, info, rid)
        }
        (Api::Organizations, Call::Json { action, input, .. }) => {
            orgs::dispatch(st, action, input, caller, info).map(|v| v.to_string())
        }
        (Api::Authorization, Call::Json { action, input, .. }) => {
            authz::dispatch(st, action, input, caller, info).map(|v| v.to_string())
        }
        (Api::Admin, Call::Json { action, input, .. }) => {
            admin::dispatch(st, action, input, caller, info).map(|v| v.to_string())
        }
        (Api::CloudTrail, Call::Json { action, input, .. }) => {
            trail::lookup(st, action, input, caller, info).map(|v| v.to_string())
        }
        _ => Err(ApiError::internal()),
    }
}

/// A JSON-protocol answer.
fn json(status: StatusCode, body: String, rid: &str) -> Response {
    answer(status, body, rid, "application/x-amz-json-1.1")
}

/// A JSON-protocol error: `{"__type": CODE, "Message": ...}`.
fn error_json(e: &ApiError, rid: &str) -> Response {
    if let Some(cause) = &e.cause {
        tracing::error!(request_id = rid, code = e.code, cause = %cause, "internal failure");
    }
    let body = serde_json::json!({"__type": e.code, "Message": e.message}).to_string();
    json(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
        rid,
    )
}

/// The service, the action, the answer, and an access key whose last use
/// should be recorded (key id, signing service, region).
type Outcome = (
    Api,
    String,
    Result<String, ApiError>,
    Option<(String, &'static str, String)>,
);

#[allow(clippy::too_many_arguments)]
fn process<S: Store>(
    st: &AppState<S>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    call: Result<Call, ApiError>,
    fallback: Api,
    source_ip: Option<String>,
    rid: &str,
) -> (Outcome, Seen) {
    let mut seen = Seen::default();
    ward_core::audit::clear_decisions();
    let o = process_inner(
        st, method, uri, headers, body, call, fallback, source_ip, rid, &mut seen,
    );
    seen.decisions = ward_core::audit::take_decisions();
    (o, seen)
}

#[allow(clippy::too_many_arguments)]
fn process_inner<S: Store>(
    st: &AppState<S>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    call: Result<Call, ApiError>,
    fallback: Api,
    source_ip: Option<String>,
    rid: &str,
    seen: &mut Seen,
) -> Outcome {
    let query = uri.query().unwrap_or("");
    let call = match call {
        Ok(c) => c,
        Err(e) => return (fallback, String::new(), Err(e), None),
    };
    let action = call.action().to_string();
    // The request's parameters as CloudTrail records them (only read by
    // the audit record).
    seen.parameters = match &call {
        _ if !st.auditing() => serde_json::Value::Null,
        Call::Query(p) => trail::query_parameters(p),
        Call::Json {
            api: Api::Admin,
            input,
            ..
        } => serde_json::json!({
            "documentLength": input.get("Document").and_then(|d| d.as_str()).map_or(0, str::len),
            "maxChanges": input.get("MaxChanges").cloned().unwrap_or(serde_json::Value::Null),
        }),
        Call::Json {
            api: Api::Authorization,
            input,
            ..
        } => serde_json::json!({
            "actions": input.get("Actions").cloned().unwrap_or(serde_json::Value::Null),
            "resources": input.get("Resources").cloned().unwrap_or(serde_json::Value::Null),
        }),
        Call::Json { input, .. } => input.clone(),
    };
    seen.user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Authentication.
    // The headers borrowed as text (a value that is not UTF-8 is read
    // lossily, the one case that copies).
    let hdrs: Vec<(Cow<'_, str>, Cow<'_, str>)> = headers
        .iter()
        .map(|(k, v)| {
            (
                Cow::Borrowed(k.as_str()),
                String::from_utf8_lossy(v.as_bytes()),
            )
        })
        .collect();
    let body_hash = ward_sigv4::sha256_hex(body);
    let sreq = ward_sigv4::Request {
        method: method.as_str(),
        path: uri.path(),
        query,
        headers: &hdrs,
        body_sha256: &body_hash,
    };
    let parsed = ward_sigv4::parse(&sreq);
    let service = call.api(parsed.as_ref().ok().map(|p| p.service.as_str()));
    let now = now();
    if st.take_no_auth() {
        // Emulator without authentication: the root of the default account,
        // or of the account a 12-digit access key id names.
        let account = parsed
            .as_ref()
            .ok()
            .map(|p| p.access_key_id.as_str())
            .filter(|k| k.len() == 12 && k.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or(&st.config.default_account)
            .to_string();
        if let Err(e) = st.iam.ensure_account(&account, now) {
            return (service, action, Err(e), None);
        }
        let caller = ward_core::auth::Caller {
            arn: format!("arn:aws:iam::{account}:root"),
            user_id: account.clone(),
            account,
            kind: ward_core::auth::CallerKind::Root,
            access_key_id: parsed
                .as_ref()
                .map(|p| p.access_key_id.clone())
                .unwrap_or_default(),
            session: None,
        };
        let info = RequestInfo {
            now,
            source_ip,
            secure_transport: false,
            region: parsed
                .as_ref()
                .map_or_else(|_| st.config.region.clone(), |p| p.region.clone()),
            user_agent: None,
        };
        seen.caller = Some(caller.clone());
        seen.region = info.region.clone();
        let result = dispatch_recorded(st, service, &action, &call, &caller, &info, rid, seen);
        return (service, action, result, None);
    }
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => return (service, action, Err(sigv4_error(service, &e)), None),
    };
    seen.access_key_id = Some(parsed.access_key_id.clone());
    seen.region = parsed.region.clone();
    let caller = match authenticate(st, &sreq, &parsed, now, service) {
        Ok(c) => c,
        Err(e) => {
            // A real key with a wrong signature: the attempt goes into the
            // key owner's trail, where LookupEvents finds it.
            if st.auditing() {
                if let Ok((c, _)) =
                    st.iam
                        .credentials(&parsed.access_key_id, parsed.security_token.as_deref(), now)
                {
                    seen.key_account = c.account;
                }
            }
            return (service, action, Err(e), None);
        }
    };
    seen.caller = Some(caller.clone());
    // Credentials from `GetSessionToken` without MFA may not call IAM, and
    // no such credentials may call STS but for `AssumeRole` and
    // `GetCallerIdentity` (AWS: https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html;
    // AWS answers IAM with `InvalidClientTokenId`).
    if let (ward_core::auth::CallerKind::UserSession { .. }, Some(s)) =
        (&caller.kind, &caller.session)
    {
        if service == Api::Query(Service::Iam) && s.mfa_authenticated_at.is_none() {
            return (
                service,
                action,
                Err(sigv4_error(service, &SigV4Error::InvalidClientTokenId)),
                None,
            );
        }
        if service == Api::Query(Service::Sts)
            && !matches!(
                action.as_str(),
                "AssumeRole" | "GetCallerIdentity" | "GetSessionToken"
            )
        {
            return (
                service,
                action.clone(),
                Err(ApiError::access_denied(format!(
                    "Cannot call {action} with session credentials from GetSessionToken"
                ))),
                None,
            );
        }
    }
    let info = RequestInfo {
        now,
        source_ip,
        secure_transport: false,
        region: parsed.region.clone(),
        user_agent: headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let result = dispatch_recorded(st, service, &action, &call, &caller, &info, rid, seen);
    // A key's last use: from the audit trail when recording, else here.
    let touch = (result.is_ok()
        && !st.auditing()
        && !caller.access_key_id.starts_with("ASIA")
        && st.should_touch(&caller.access_key_id, now))
    .then(|| {
        (
            caller.access_key_id.clone(),
            service.signing_name(),
            parsed.region.clone(),
        )
    });
    (service, action, result, touch)
}
