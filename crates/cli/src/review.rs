//! `ward review`: the "regularly review and update IAM policies" step, from
//! Ward's own record: unused roles, access keys and permissions, and a
//! least-privilege policy generated from what each principal was allowed
//! and used, shown as a diff against its current policies.

use crate::client::{error_text, Client};
use anyhow::{bail, Result};
use clap::Args;
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// One user or role ARN (default: every user and role of the caller's account).
    #[arg(long)]
    principal: Option<String>,
    /// The period reviewed, in days up to now.
    #[arg(long, default_value_t = 90)]
    days: u32,
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
    /// Ward's endpoint (default: `AWS_ENDPOINT_URL`, else http://127.0.0.1:8700).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// The credentials profile (default: `AWS_ACCESS_KEY_ID` or `AWS_PROFILE`).
    #[arg(long)]
    profile: Option<String>,
}

pub fn run(a: &ReviewArgs) -> Result<std::process::ExitCode> {
    let client = Client::from_env(a.endpoint_url.as_deref(), a.profile.as_deref())?;
    let mut input = json!({"Days": a.days});
    if let (Some(p), Some(o)) = (&a.principal, input.as_object_mut()) {
        o.insert("Principal".into(), json!(p));
    }
    let (status, answer) = client.call("WardAdmin.Review", &input)?;
    if status != 200 {
        bail!("review: {}", error_text(&answer));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let principals = answer
        .get("Principals")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    println!(
        "review of {} principal(s) since {}",
        principals.len(),
        text(&answer, "Since")
    );
    for p in &principals {
        println!();
        println!(
            "== {} ({}): {} of {} named action(s) used",
            text(p, "Arn"),
            text(p, "Type"),
            p.get("ActionsUsed").and_then(Value::as_u64).unwrap_or(0),
            p.get("ActionsAllowed").and_then(Value::as_u64).unwrap_or(0),
        );
        for f in p
            .get("Findings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            println!("  {}: {}", text(f, "FindingType"), text(f, "Detail"));
        }
        let diff = text(p, "Diff");
        if diff.is_empty() {
            println!("  current policies are exactly what was used");
        } else {
            println!("  generated least-privilege policy, as a diff against the current policies:");
            for line in diff.lines() {
                println!("    {line}");
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
