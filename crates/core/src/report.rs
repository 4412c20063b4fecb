//! The credential report (`GenerateCredentialReport`, `GetCredentialReport`):
//! one CSV line per IAM user and one for the root user, with AWS's columns
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_getting-report.html>).
//! Generated at once and kept for four hours, as AWS keeps it.

use crate::error::{ApiError, ApiResult};
use crate::iam::{get, put, Iam, Paging};
use crate::model::{iso8601, AccessKey, KeyStatus};
use crate::store::Store;
use serde::{Deserialize, Serialize};

const KIND: &str = "credential_report";
/// Seconds a report stays current.
pub const REPORT_LIFETIME: i64 = 4 * 3600;

/// AWS's columns, in AWS's order.
pub const COLUMNS: &[&str] = &[
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub generated: i64,
    pub csv: String,
}

/// The eight access-key columns of up to two keys, oldest first.
fn key_columns(keys: &[AccessKey]) -> Vec<String> {
    let mut keys: Vec<&AccessKey> = keys.iter().collect();
    keys.sort_by_key(|k| k.created);
    let mut out = Vec::new();
    for i in 0..2 {
        match keys.get(i) {
            Some(k) => {
                out.push((k.status == KeyStatus::Active).to_string());
                out.push(iso8601(k.created));
                match &k.last_used {
                    Some(u) => {
                        out.push(iso8601(u.at));
                        out.push(u.region.clone());
                        out.push(u.service.clone());
                    }
                    None => out.extend(["N/A".to_string(), "N/A".into(), "N/A".into()]),
                }
            }
            None => out.extend([
                "false".to_string(),
                "N/A".into(),
                "N/A".into(),
                "N/A".into(),
                "N/A".into(),
            ]),
        }
    }
    out
}

impl<S: Store> Iam<S> {
    /// `GenerateCredentialReport`: `true` when a new report was started
    /// (`STARTED`), `false` when the current one is recent (`COMPLETE`).
    pub fn generate_credential_report(&self, account: &str, now: i64) -> ApiResult<bool> {
        if let Some(r) = self.store.read(|tx| get::<Report>(tx, KIND, account))? {
            if now - r.generated < REPORT_LIFETIME {
                return Ok(false);
            }
        }
        // The keys' last use as of every write so far: index what writes
        // committed since the trail's appender last ran.
        self.record_events::<&str>(&[])?;
        let acct = self.account(account)?.ok_or_else(ApiError::internal)?;
        let mut lines = vec![COLUMNS.join(",")];
        let mut root = vec![
            "<root_account>".to_string(),
            format!("arn:{}:iam::{account}:root", self.partition),
            iso8601(acct.created),
            "not_supported".into(),
            "no_information".into(),
            "not_supported".into(),
            "not_supported".into(),
            // Root MFA is managed outside the API.
            "false".into(),
        ];
        root.extend(key_columns(&self.list_access_keys(account, None)?));
        root.extend(["false", "N/A", "false", "N/A"].map(String::from));
        lines.push(root.join(","));
        let mut paging = Paging::default();
        loop {
            let page = self.list_users(account, None, &paging)?;
            for u in &page.items {
                let mfa = !self
                    .list_mfa_devices(account, &u.name, &Paging::default())?
                    .items
                    .is_empty();
                let mut row = vec![
                    u.name.clone(),
                    u.arn.clone(),
                    iso8601(u.created),
                    "false".into(),
                    "N/A".into(),
                    "N/A".into(),
                    "N/A".into(),
                    mfa.to_string(),
                ];
                row.extend(key_columns(&self.list_access_keys(account, Some(&u.name))?));
                row.extend(["false", "N/A", "false", "N/A"].map(String::from));
                lines.push(row.join(","));
            }
            match page.marker {
                Some(m) => paging.marker = Some(m),
                None => break,
            }
        }
        let r = Report {
            generated: now,
            csv: lines.join("\n") + "\n",
        };
        self.write(|tx| put(tx, KIND, account, &r))?;
        Ok(true)
    }

    /// `GetCredentialReport`: the current report, or AWS's errors when there
    /// is none or it is older than four hours.
    pub fn credential_report(&self, account: &str, now: i64) -> ApiResult<Report> {
        let r = self
            .store
            .read(|tx| get::<Report>(tx, KIND, account))?
            .ok_or_else(|| {
                ApiError::new(
                    "ReportNotPresent",
                    410,
                    "Credential report not present. Call GenerateCredentialReport to generate one.",
                )
            })?;
        if now - r.generated >= REPORT_LIFETIME {
            return Err(ApiError::new(
                "ReportExpired",
                410,
                "Credential report is expired. Call GenerateCredentialReport to generate a new one.",
            ));
        }
        Ok(r)
    }
}
