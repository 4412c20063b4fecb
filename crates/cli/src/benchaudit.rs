//! `ward bench-audit`: the audit trail at scale. Stores N synthetic
//! CloudTrail records (realistic size and mix: 100 users, 20 operations,
//! mostly reads, 30 days) in a fresh SQLite store through the same append
//! path the server uses (hash chain, index, last-access rows), then times
//! `LookupEvents` pages by every lookup attribute, by time range, and deep
//! in a page chain.

use anyhow::{anyhow, Result};
use clap::Args;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use ward_core::audit::{attributes_of, Access, EventKeys};
use ward_core::crypto::Sealer;
use ward_core::iam::Iam;
use ward_store::SqliteStore;

#[derive(Debug, Args)]
pub struct BenchAuditArgs {
    /// Records to store.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Timed runs of each query.
    #[arg(long, default_value_t = 30)]
    runs: usize,
}

const ACCOUNT: &str = "123456789012";

/// Records a batch, as the server's appender takes them.
const BATCH: u64 = 1024;
const DAYS: i64 = 30;

/// Operations and how often they occur (per 1000).
const OPS: &[(&str, bool, u32)] = &[
    ("GetCallerIdentity", true, 300),
    ("GetUser", true, 150),
    ("ListUsers", true, 100),
    ("GetRole", true, 80),
    ("ListRoles", true, 60),
    ("AssumeRole", true, 60),
    ("ListAttachedUserPolicies", true, 40),
    ("GetPolicy", true, 30),
    ("GetPolicyVersion", true, 25),
    ("ListGroupsForUser", true, 20),
    ("SimulatePrincipalPolicy", true, 15),
    ("LookupEvents", true, 10),
    ("CreateUser", false, 20),
    ("PutUserPolicy", false, 20),
    ("AttachRolePolicy", false, 15),
    ("CreateAccessKey", false, 15),
    ("TagUser", false, 15),
    ("UpdateAssumeRolePolicy", false, 10),
    ("DeleteUser", false, 10),
    ("CreatePolicyVersion", false, 5),
];

fn key_of(user: u64) -> String {
    format!("AKIABENCH{user:011}")
}

fn record(n: u64, time: i64) -> (String, EventKeys) {
    let r = fastrand::u32(..1000);
    let mut acc = 0;
    let (op, read_only) = OPS
        .iter()
        .find(|(_, _, w)| {
            acc += w;
            r < acc
        })
        .map_or(("GetCallerIdentity", true), |(o, ro, _)| (*o, *ro));
    let user = fastrand::u64(..100);
    let target = fastrand::u64(..100);
    let source = if op == "AssumeRole" || op == "GetCallerIdentity" {
        "sts.amazonaws.com"
    } else if op == "LookupEvents" {
        "cloudtrail.amazonaws.com"
    } else {
        "iam.amazonaws.com"
    };
    // What the request names, and the record's `resources` (as the server
    // makes them: `ward_core::audit::resources_of`).
    let parameters = if op.contains("User") && op != "ListUsers" {
        json!({"userName": format!("user-{target}")})
    } else if op.contains("Role") && op != "ListRoles" {
        json!({"roleArn": format!("arn:aws:iam::{ACCOUNT}:role/role-{target}")})
    } else {
        json!({})
    };
    let resources = ward_core::audit::resources_of(&parameters, ACCOUNT);
    // UUIDv7: the time in milliseconds first, as the server makes them.
    let event_id = {
        let ms = u64::try_from(time).unwrap_or(0) * 1000 + n % 1000;
        let h = format!("{:012x}", ms & 0xffff_ffff_ffff);
        format!(
            "{}-{}-7{:03x}-{:04x}-{:012x}",
            h.get(..8).unwrap_or_default(),
            h.get(8..12).unwrap_or_default(),
            fastrand::u16(..0xfff),
            fastrand::u16(..),
            fastrand::u64(..1 << 48)
        )
    };
    let v = json!({
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": format!("AIDABENCH{user:012}"),
            "arn": format!("arn:aws:iam::{ACCOUNT}:user/user-{user}"),
            "accountId": ACCOUNT,
            "accessKeyId": key_of(user),
            "userName": format!("user-{user}"),
        },
        "eventTime": ward_core::model::iso8601(time),
        "eventSource": source,
        "eventName": op,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "10.0.0.12",
        "userAgent": "aws-cli/1.36.0 md/Botocore#1.35.0 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.2 md/pyimpl#CPython cfg/retry-mode#legacy botocore/1.35.0",
        "requestParameters": parameters,
        "responseElements": null,
        "requestID": format!("{:032x}", fastrand::u128(..)),
        "eventID": event_id,
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "resources": resources,
        "additionalEventData": {"wardDecision": "allowed", "decisions": [{
            "principal": format!("arn:aws:iam::{ACCOUNT}:user/user-{user}"),
            "action": format!("{}:{op}", source.trim_end_matches(".amazonaws.com")),
            "resource": "*", "decision": "allowed", "decidedBy": "IAM Policy",
            "matchedStatements": [{"sourcePolicyId": "ops", "sourcePolicyType": "IAM Policy", "statementIndex": 0, "sid": null}],
        }]},
    });
    let keys = EventKeys {
        account: ACCOUNT.into(),
        time,
        attributes: attributes_of(&v),
        region: "us-east-1".into(),
        key_used: Some((key_of(user), "iam".into())),
        accesses: vec![Access {
            entity: format!("arn:aws:iam::{ACCOUNT}:user/user-{user}"),
            action: format!("iam:{op}"),
            resource: "*".into(),
            allowed: true,
        }],
    };
    (v.to_string(), keys)
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn run(a: &BenchAuditArgs) -> Result<std::process::ExitCode> {
    let dir = std::env::temp_dir().join(format!("ward-bench-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = bench(a, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn bench(a: &BenchAuditArgs, dir: &std::path::Path) -> Result<std::process::ExitCode> {
    let store = Arc::new(SqliteStore::open(&dir.join("ward.db")).map_err(|e| anyhow!("{e}"))?);
    let iam = Iam::new(store, Sealer::new(&Sealer::generate_key()));
    let api = |e: ward_core::ApiError| anyhow!("{}: {}", e.code, e.message);
    let now = ward_core::model::now();
    let t0 = now - DAYS * 86_400;
    let step = (DAYS * 86_400) as f64 / a.records.max(1) as f64;
    println!(
        "ward bench-audit: storing {} records over {DAYS} days (SQLite, synchronous=FULL, batches of {BATCH})",
        a.records
    );
    let started = Instant::now();
    let mut mid_event_id = String::new();
    let mut n = 0u64;
    let mut storing = std::time::Duration::ZERO;
    while n < a.records {
        let batch: Vec<(String, EventKeys)> = (n..(n + BATCH).min(a.records))
            .map(|i| record(i, t0 + (i as f64 * step) as i64))
            .collect();
        if n <= a.records / 2 && a.records / 2 < n + BATCH {
            if let Some((_, k)) = batch.get(usize::try_from(a.records / 2 - n)?) {
                if let Some((_, id)) = k.attributes.iter().find(|(at, _)| *at == "EventId") {
                    mid_event_id = id.clone();
                }
            }
        }
        let before = n;
        n += batch.len() as u64;
        let t = Instant::now();
        iam.record_events(&batch).map_err(api)?;
        storing += t.elapsed();
        if n / 100_000 != before / 100_000 || n == a.records {
            eprintln!(
                "  {n} records stored ({:.0} records/s)",
                n as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    let size = std::fs::metadata(dir.join("ward.db")).map_or(0, |m| m.len());
    println!(
        "stored in {:.1} s, {:.1} s of it in the store ({:.0} records/s stored); database {:.0} MB",
        started.elapsed().as_secs_f64(),
        storing.as_secs_f64(),
        a.records as f64 / storing.as_secs_f64(),
        size as f64 / 1e6
    );
    let mid = t0 + DAYS * 86_400 / 2;
    type Q<'a> = (
        &'a str,
        Option<(&'a str, String)>,
        Option<i64>,
        Option<i64>,
        usize,
    );
    let queries: Vec<Q<'_>> = vec![
        ("newest page (no attribute)", None, None, None, 1),
        (
            "EventName=GetUser",
            Some(("EventName", "GetUser".into())),
            None,
            None,
            1,
        ),
        (
            "EventName=CreatePolicyVersion (0.5%)",
            Some(("EventName", "CreatePolicyVersion".into())),
            None,
            None,
            1,
        ),
        (
            "Username=user-42",
            Some(("Username", "user-42".into())),
            None,
            None,
            1,
        ),
        (
            "AccessKeyId of user-42",
            Some(("AccessKeyId", key_of(42))),
            None,
            None,
            1,
        ),
        (
            "EventId (one record, mid-trail)",
            Some(("EventId", mid_event_id.clone())),
            None,
            None,
            1,
        ),
        (
            "ReadOnly=false",
            Some(("ReadOnly", "false".into())),
            None,
            None,
            1,
        ),
        (
            "EventSource=cloudtrail (1%)",
            Some(("EventSource", "cloudtrail.amazonaws.com".into())),
            None,
            None,
            1,
        ),
        (
            "ResourceType=AWS::IAM::Role",
            Some(("ResourceType", "AWS::IAM::Role".into())),
            None,
            None,
            1,
        ),
        (
            "ResourceName=user-7",
            Some(("ResourceName", "user-7".into())),
            None,
            None,
            1,
        ),
        ("one hour 15 days ago", None, Some(mid), Some(mid + 3600), 1),
        (
            "Username=user-42, that hour",
            Some(("Username", "user-42".into())),
            Some(mid),
            Some(mid + 3600),
            1,
        ),
        (
            "EventName=GetUser, 10th page",
            Some(("EventName", "GetUser".into())),
            None,
            None,
            10,
        ),
    ];
    println!(
        "{:<40} {:>8} {:>9} {:>9} {:>9}",
        "LookupEvents (50 a page)", "events", "p50 ms", "p95 ms", "max ms"
    );
    for (name, attr, start, end, pages) in &queries {
        let mut times = Vec::with_capacity(a.runs);
        let mut found = 0;
        for _ in 0..a.runs {
            let t = Instant::now();
            let mut token: Option<String> = None;
            for _ in 0..*pages {
                let page = iam
                    .lookup_events(
                        ACCOUNT,
                        attr.as_ref().map(|(k, v)| (*k, v.as_str())),
                        *start,
                        *end,
                        50,
                        token.as_deref(),
                    )
                    .map_err(api)?;
                found = page.events.len();
                token = page.next_token;
                if token.is_none() {
                    break;
                }
            }
            times.push(t.elapsed());
        }
        times.sort();
        let p = |q: f64| {
            times
                .get(((times.len() as f64 - 1.0) * q) as usize)
                .copied()
                .unwrap_or_default()
        };
        println!(
            "{name:<40} {found:>8} {:>9.2} {:>9.2} {:>9.2}",
            ms(p(0.5)),
            ms(p(0.95)),
            ms(p(1.0))
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}
