//! A CloudTrail record, typed: written straight to JSON in CloudTrail's
//! field order (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>),
//! without building a JSON tree first, and with its lookup attributes read
//! from the fields (the same as [`super::attributes_of`] reads from the
//! JSON).

use serde::Serialize;
use serde_json::Value;

/// `userIdentity`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// `Root`, `IAMUser`, `AssumedRole`, `Unknown`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub access_key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_context: Option<Value>,
}

/// One entry of `resources`: a resource's ARN, the account that owns it,
/// and its type (`AWS::IAM::Role`), as CloudTrail lists them
/// (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>).
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    #[serde(rename = "ARN")]
    pub arn: String,
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// `additionalEventData`: Ward's decision and the authorization decisions
/// behind it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Additional {
    /// `allowed`, `denied` or `error`.
    pub ward_decision: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<super::DecisionDetail>,
}

/// A CloudTrail record of one API call.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub event_version: &'static str,
    pub user_identity: UserIdentity,
    pub event_time: String,
    pub event_source: &'static str,
    pub event_name: String,
    pub aws_region: String,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    pub user_agent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub request_parameters: Value,
    /// The answer as CloudTrail records it, as JSON text (`None`: `null`),
    /// written as it is by [`Record::to_json`] (serde writes `null` in its
    /// place, for `with_answer` to fill in).
    #[serde(serialize_with = "null")]
    pub response_elements: Option<String>,
    #[serde(rename = "requestID")]
    pub request_id: String,
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub read_only: bool,
    pub resources: Vec<Resource>,
    pub event_type: &'static str,
    pub management_event: bool,
    pub recipient_account_id: String,
    pub event_category: &'static str,
    pub additional_event_data: Additional,
}

impl Record {
    /// The lookup attributes (as [`super::attributes_of`] finds them in the
    /// JSON).
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = vec![
            ("EventId", self.event_id.clone()),
            ("EventName", self.event_name.clone()),
            ("EventSource", self.event_source.to_string()),
            ("ReadOnly", self.read_only.to_string()),
        ];
        let u = &self.user_identity;
        let username = match u.kind {
            "IAMUser" => u.user_name.clone(),
            "AssumedRole" => u
                .arn
                .as_deref()
                .and_then(|a| a.rsplit('/').next())
                .map(str::to_string),
            "Root" => Some("root".to_string()),
            _ => None,
        };
        if let Some(n) = username {
            out.push(("Username", n));
        }
        if !u.access_key_id.is_empty() {
            out.push(("AccessKeyId", u.access_key_id.clone()));
        }
        super::resource_attributes(&self.request_parameters, &mut out);
        out.sort();
        out.dedup();
        out
    }

    /// A record of `name` at `time` by IAM user bob (for tests).
    #[cfg(test)]
    pub(crate) fn example(event_id: &str, name: &str, time: i64) -> Record {
        Record {
            event_version: "1.11",
            user_identity: UserIdentity {
                kind: "IAMUser",
                arn: Some("arn:aws:iam::111:user/bob".into()),
                user_name: Some("bob".into()),
                access_key_id: "AKIAX".into(),
                ..UserIdentity::default()
            },
            event_time: crate::model::iso8601(time),
            event_source: "iam.amazonaws.com",
            event_name: name.into(),
            aws_region: "us-east-1".into(),
            source_ip_address: "127.0.0.1".into(),
            user_agent: "test".into(),
            error_code: None,
            error_message: None,
            request_parameters: Value::Null,
            response_elements: None,
            request_id: "r".into(),
            event_id: event_id.into(),
            read_only: name.starts_with("List"),
            resources: vec![],
            event_type: "AwsApiCall",
            management_event: true,
            recipient_account_id: "111".into(),
            event_category: "Management",
            additional_event_data: Additional::default(),
        }
    }

    /// The record as JSON text: what serde writes of it (the same fields,
    /// order and escapes; a property test holds the two together), written
    /// by hand. A
    /// record is made for every request, and serde spends most of its time
    /// escaping the field names and scanning values byte by byte; here the
    /// names are literals and a value is copied whole when a quick scan
    /// finds nothing to escape in it.
    pub fn to_json(&self) -> String {
        let mut o =
            String::with_capacity(1536 + self.response_elements.as_ref().map_or(0, String::len));
        o.push_str("{\"eventVersion\":");
        string(&mut o, self.event_version);
        let u = &self.user_identity;
        o.push_str(",\"userIdentity\":{\"type\":");
        string(&mut o, u.kind);
        opt_field(&mut o, ",\"principalId\":", u.principal_id.as_deref());
        opt_field(&mut o, ",\"arn\":", u.arn.as_deref());
        opt_field(&mut o, ",\"accountId\":", u.account_id.as_deref());
        o.push_str(",\"accessKeyId\":");
        string(&mut o, &u.access_key_id);
        opt_field(&mut o, ",\"userName\":", u.user_name.as_deref());
        if let Some(c) = &u.session_context {
            o.push_str(",\"sessionContext\":");
            value(&mut o, c);
        }
        o.push_str("},\"eventTime\":");
        string(&mut o, &self.event_time);
        o.push_str(",\"eventSource\":");
        string(&mut o, self.event_source);
        o.push_str(",\"eventName\":");
        string(&mut o, &self.event_name);
        o.push_str(",\"awsRegion\":");
        string(&mut o, &self.aws_region);
        o.push_str(",\"sourceIPAddress\":");
        string(&mut o, &self.source_ip_address);
        o.push_str(",\"userAgent\":");
        string(&mut o, &self.user_agent);
        opt_field(&mut o, ",\"errorCode\":", self.error_code.as_deref());
        opt_field(&mut o, ",\"errorMessage\":", self.error_message.as_deref());
        o.push_str(",\"requestParameters\":");
        value(&mut o, &self.request_parameters);
        o.push_str(",\"responseElements\":");
        o.push_str(self.response_elements.as_deref().unwrap_or("null"));
        o.push_str(",\"requestID\":");
        string(&mut o, &self.request_id);
        o.push_str(",\"eventID\":");
        string(&mut o, &self.event_id);
        o.push_str(if self.read_only {
            ",\"readOnly\":true,\"resources\":["
        } else {
            ",\"readOnly\":false,\"resources\":["
        });
        for (i, r) in self.resources.iter().enumerate() {
            o.push_str(if i == 0 { "{\"ARN\":" } else { ",{\"ARN\":" });
            string(&mut o, &r.arn);
            o.push_str(",\"accountId\":");
            string(&mut o, &r.account_id);
            o.push_str(",\"type\":");
            string(&mut o, r.kind);
            o.push('}');
        }
        o.push_str("],\"eventType\":");
        string(&mut o, self.event_type);
        o.push_str(if self.management_event {
            ",\"managementEvent\":true"
        } else {
            ",\"managementEvent\":false"
        });
        o.push_str(",\"recipientAccountId\":");
        string(&mut o, &self.recipient_account_id);
        o.push_str(",\"eventCategory\":");
        string(&mut o, self.event_category);
        o.push_str(",\"additionalEventData\":{\"wardDecision\":");
        string(&mut o, self.additional_event_data.ward_decision);
        if !self.additional_event_data.decisions.is_empty() {
            o.push_str(",\"decisions\":");
            decisions(&mut o, &self.additional_event_data.decisions);
        }
        o.push_str("}}");
        o
    }

    /// The record as serde writes it, with `responseElements` spliced in:
    /// what [`Record::to_json`] must write, byte for byte (the tests'
    /// reference).
    #[cfg(test)]
    fn to_json_serde(&self) -> String {
        let mut out =
            Vec::with_capacity(2048 + self.response_elements.as_ref().map_or(0, String::len));
        if serde_json::to_writer(&mut out, self).is_err() {
            return String::new();
        }
        let text = String::from_utf8(out).unwrap_or_default();
        match &self.response_elements {
            Some(answer) => with_answer(text, answer),
            None => text,
        }
    }
}

/// A JSON string: copied whole when nothing in it needs an escape (the
/// usual case: names, ARNs, ids, times), else written by serde_json.
fn string(o: &mut String, s: &str) {
    // A fold without an early exit: the compiler checks many bytes at once.
    let plain = !s.bytes().fold(false, |esc, b| {
        esc | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        o.push('"');
        o.push_str(s);
        o.push('"');
    } else {
        o.push_str(&serde_json::to_string(s).unwrap_or_default());
    }
}

/// `,"name":value` when there is a value (serde's `skip_serializing_if`).
fn opt_field(o: &mut String, name: &str, v: Option<&str>) {
    if let Some(v) = v {
        o.push_str(name);
        string(o, v);
    }
}

/// A JSON value (request parameters, a session context), in serde's order
/// and form: objects, arrays, strings and literals by hand, numbers by
/// serde. Values come from parsed input, whose depth serde_json's parser
/// caps (128), so the recursion is bounded.
fn value(o: &mut String, v: &Value) {
    match v {
        Value::Null => o.push_str("null"),
        Value::Bool(true) => o.push_str("true"),
        Value::Bool(false) => o.push_str("false"),
        Value::String(s) => string(o, s),
        Value::Number(n) => o.push_str(&n.to_string()),
        Value::Array(a) => {
            o.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                value(o, v);
            }
            o.push(']');
        }
        Value::Object(m) => {
            o.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                string(o, k);
                o.push(':');
                value(o, v);
            }
            o.push('}');
        }
    }
}

/// `decisions`, as serde writes [`super::DecisionDetail`]s.
fn decisions(o: &mut String, ds: &[super::DecisionDetail]) {
    o.push('[');
    for (i, d) in ds.iter().enumerate() {
        o.push_str(if i == 0 {
            "{\"principal\":"
        } else {
            ",{\"principal\":"
        });
        string(o, &d.principal);
        o.push_str(",\"action\":");
        string(o, &d.action);
        o.push_str(",\"resource\":");
        string(o, &d.resource);
        o.push_str(",\"decision\":");
        string(o, d.decision);
        o.push_str(",\"decidedBy\":");
        match d.decided_by {
            Some(b) => string(o, b),
            None => o.push_str("null"),
        }
        o.push_str(",\"matchedStatements\":[");
        for (j, m) in d.matched_statements.iter().enumerate() {
            o.push_str(if j == 0 {
                "{\"sourcePolicyId\":"
            } else {
                ",{\"sourcePolicyId\":"
            });
            string(o, &m.source_policy_id);
            o.push_str(",\"sourcePolicyType\":");
            string(o, m.source_policy_type);
            o.push_str(",\"statementIndex\":");
            o.push_str(itoa::Buffer::new().format(m.statement_index));
            o.push_str(",\"sid\":");
            match &m.sid {
                Some(sid) => string(o, sid),
                None => o.push_str("null"),
            }
            o.push('}');
        }
        o.push_str("]}");
    }
    o.push(']');
}

/// Through serde, `responseElements` is written as `null` and spliced in
/// afterwards ([`with_answer`]): the answer is JSON text already, and
/// serde_json would parse it again to embed it.
fn null<S: serde::Serializer>(_: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_unit()
}

/// A record's text with its `responseElements` filled in. A record is
/// written with `"responseElements":null` between `requestParameters` and
/// `requestID` (see [`Record`]); inside a JSON string a quote is escaped,
/// so the unescaped sequence occurs only at the top level.
pub(crate) fn with_answer(event: String, answer: &str) -> String {
    const NULL: &str = ",\"responseElements\":null,";
    match event.find(NULL) {
        Some(i) => {
            let (head, tail) = event.split_at(i);
            let tail = tail.get(NULL.len()..).unwrap_or_default();
            let mut out = String::with_capacity(event.len() + answer.len());
            out.push_str(head);
            out.push_str(",\"responseElements\":");
            out.push_str(answer);
            out.push(',');
            out.push_str(tail);
            out
        }
        None => event,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_from_fields_match_attributes_from_json() {
        for (kind, arn, name) in [
            ("IAMUser", Some("arn:aws:iam::1:user/bob"), Some("bob")),
            (
                "AssumedRole",
                Some("arn:aws:sts::1:assumed-role/r/sess"),
                None,
            ),
            ("Root", Some("arn:aws:iam::1:root"), None),
            ("Unknown", None, None),
        ] {
            let r = Record {
                event_version: "1.11",
                user_identity: UserIdentity {
                    kind,
                    arn: arn.map(str::to_string),
                    user_name: name.map(str::to_string),
                    access_key_id: "AKIAX".into(),
                    ..UserIdentity::default()
                },
                event_time: "2026-11-29T00:00:00Z".into(),
                event_source: "iam.amazonaws.com",
                event_name: "GetUser".into(),
                aws_region: "us-east-1".into(),
                source_ip_address: "127.0.0.1".into(),
                user_agent: "test".into(),
                error_code: None,
                error_message: None,
                request_parameters: serde_json::json!({"userName": "bob"}),
                response_elements: None,
                request_id: "r".into(),
                event_id: "e".into(),
                read_only: true,
                resources: vec![Resource {
                    arn: "arn:aws:iam::1:user/bob".into(),
                    account_id: "1".into(),
                    kind: "AWS::IAM::User",
                }],
                event_type: "AwsApiCall",
                management_event: true,
                recipient_account_id: "1".into(),
                event_category: "Management",
                additional_event_data: Additional::default(),
            };
            let v: Value = serde_json::from_str(&r.to_json()).unwrap();
            assert_eq!(r.attributes(), super::super::attributes_of(&v), "{kind}");
        }
    }

    fn arbitrary_record() -> impl proptest::strategy::Strategy<Value = Record> {
        use proptest::prelude::*;
        // Any text: quotes, backslashes, control characters, non-ASCII.
        let text = || ".{0,12}";
        let opt = || proptest::option::of(".{0,12}");
        (
            (
                prop_oneof![Just("IAMUser"), Just("AssumedRole"), Just("Root")],
                opt(),
                opt(),
                opt(),
                text(),
                opt(),
                proptest::option::of(text()),
            ),
            (text(), text(), text(), text(), opt(), opt(), proptest::option::of(text())),
            (
                any::<bool>(),
                proptest::collection::vec(text(), 0..3),
                proptest::option::of(proptest::collection::vec(text(), 0..3)),
                proptest::option::of(text()),
                any::<bool>(),
            ),
        )
            .prop_map(|(u, e, x)| {
                let (kind, principal, arn, account, key, user, ctx) = u;
                let (time, name, agent, ip, code, message, parameter) = e;
                let (read_only, resources, params, answer, with_decision) = x;
                let mut r = Record {
                    event_version: "1.11",
                    user_identity: UserIdentity {
                        kind,
                        principal_id: principal,
                        arn,
                        account_id: account,
                        access_key_id: key,
                        user_name: user,
                        session_context: ctx.map(|c| {
                            serde_json::json!({"attributes": {"creationDate": c, "mfaAuthenticated": "false"}})
                        }),
                    },
                    event_time: time,
                    event_source: "iam.amazonaws.com",
                    event_name: name,
                    aws_region: "us-east-1".into(),
                    source_ip_address: ip,
                    user_agent: agent,
                    error_code: code,
                    error_message: message,
                    request_parameters: match (params, parameter) {
                        (None, _) => Value::Null,
                        (Some(v), p) => {
                            let mut m = serde_json::Map::new();
                            for (i, s) in v.into_iter().enumerate() {
                                m.insert(format!("k{i}"), Value::String(s));
                            }
                            if let Some(p) = p {
                                // Nested values too: arrays, numbers,
                                // literals, objects.
                                m.insert(
                                    "nested".into(),
                                    serde_json::json!([1, -2.5, true, false, null, {"x": p, "a": []}]),
                                );
                                m.insert("policyDocument".into(), Value::String(p));
                            }
                            Value::Object(m)
                        }
                    },
                    response_elements: answer.map(|a| serde_json::json!({ "a": a }).to_string()),
                    request_id: "r".into(),
                    event_id: "e".into(),
                    read_only,
                    resources: resources
                        .into_iter()
                        .map(|arn| Resource {
                            arn,
                            account_id: "111".into(),
                            kind: "AWS::IAM::User",
                        })
                        .collect(),
                    event_type: "AwsApiCall",
                    management_event: true,
                    recipient_account_id: "111".into(),
                    event_category: "Management",
                    additional_event_data: Additional {
                        ward_decision: "allowed",
                        decisions: vec![],
                    },
                };
                if with_decision {
                    r.additional_event_data.decisions = {
                            let principal = r.event_name.clone();
                            vec![
                                super::super::DecisionDetail {
                                    principal: principal.clone(),
                                    action: "iam:GetUser".into(),
                                    resource: r.user_agent.clone(),
                                    decision: "allowed",
                                    decided_by: Some("identity"),
                                    matched_statements: vec![
                                        super::super::MatchedDetail {
                                            source_policy_id: principal,
                                            source_policy_type: "identity",
                                            statement_index: 3,
                                            sid: r.error_code.clone(),
                                        },
                                        super::super::MatchedDetail {
                                            source_policy_id: "p\"q".into(),
                                            source_policy_type: "resource",
                                            statement_index: 0,
                                            sid: None,
                                        },
                                    ],
                                },
                                super::super::DecisionDetail {
                                    principal: "arn:aws:iam::111:user/bob".into(),
                                    action: "iam:PassRole".into(),
                                    resource: "*".into(),
                                    decision: "denied",
                                    decided_by: None,
                                    matched_statements: vec![],
                                },
                            ]
                    };
                }
                r
            })
    }

    proptest::proptest! {
        /// The hand-written JSON is serde's, byte for byte, whatever the
        /// strings hold.
        #[test]
        fn hand_written_json_is_serdes(r in arbitrary_record()) {
            let text = r.to_json();
            proptest::prop_assert_eq!(&text, &r.to_json_serde());
            let parsed: Value = serde_json::from_str(&text).unwrap();
            proptest::prop_assert_eq!(parsed["eventName"].as_str(), Some(r.event_name.as_str()));
        }
    }
}
