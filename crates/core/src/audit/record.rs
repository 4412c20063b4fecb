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

/// One entry of `resources`.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "ARN")]
    pub arn: String,
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
    /// The answer as CloudTrail records it, as JSON text (`None`: `null`);
    /// spliced into the record's text by [`Record::to_json`].
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
        for r in &self.resources {
            out.push(("ResourceType", r.kind.to_string()));
            out.push(("ResourceName", r.arn.clone()));
        }
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

    /// The record as JSON text.
    pub fn to_json(&self) -> String {
        // Records are about a kilobyte: one allocation instead of doubling
        // from serde_json's small start.
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

/// `responseElements` is written as `null` and spliced in afterwards: the
/// answer is JSON text already, and serde_json would parse it again to
/// embed it.
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
                    kind: "AWS::IAM::User",
                    arn: "bob".into(),
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
}
