//! `ward apply FILE [--plan]`: converge a running Ward to an environment
//! model (`docs/apply.md`) through its API — the same validation,
//! authorization and (later) audit as any other call.

use crate::client::{error_text, Client};
use anyhow::{bail, Context as _, Result};
use clap::Args;
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The environment model (TOML).
    file: PathBuf,
    /// Print what would change; change nothing.
    #[arg(long)]
    plan: bool,
    /// Ward's endpoint (default: `AWS_ENDPOINT_URL`, else http://127.0.0.1:8700).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// The credentials profile (default: `AWS_ACCESS_KEY_ID` or `AWS_PROFILE`).
    #[arg(long)]
    profile: Option<String>,
}

/// The `Changes` of an answer: (sign, change).
fn list(answer: &Value) -> Vec<(String, String)> {
    answer
        .get("Changes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|c| {
                    let field =
                        |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    (field("Sign"), field("Change"))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn run(a: &ApplyArgs) -> Result<std::process::ExitCode> {
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("cannot read `{}`", a.file.display()))?;
    // Checked here first, so a bad file names its line without a round trip.
    if let Err(e) = ward_core::apply::parse_model(&text) {
        bail!("{}: {}", a.file.display(), e.message);
    }
    let client = Client::from_env(a.endpoint_url.as_deref(), a.profile.as_deref())?;
    let input = json!({"Document": text});
    let (status, plan) = client.call("WardAdmin.Plan", &input)?;
    if status != 200 {
        bail!("{}: {}", a.file.display(), error_text(&plan));
    }
    let changes = list(&plan);
    if changes.is_empty() {
        println!(
            "{}: nothing to change ({})",
            a.file.display(),
            client.endpoint
        );
        return Ok(std::process::ExitCode::SUCCESS);
    }
    if a.plan {
        for (sign, what) in &changes {
            println!("{sign} {what}");
        }
        println!(
            "{} change(s) would be made at {}; nothing applied (--plan)",
            changes.len(),
            client.endpoint
        );
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let total = changes.len();
    eprintln!("applying {total} change(s) to {} ...", client.endpoint);
    // In steps, so progress shows as it goes (about 50 steps at most).
    let step = (total / 50).max(1);
    let mut done = 0usize;
    loop {
        let input = json!({"Document": text, "MaxChanges": step});
        let (status, out) = client.call("WardAdmin.Apply", &input)?;
        if status != 200 {
            bail!("{}: {}", a.file.display(), error_text(&out));
        }
        let made = list(&out);
        for (sign, what) in &made {
            done += 1;
            println!("[{done}/{total}] {sign} {what}");
        }
        let remaining = out.get("Remaining").and_then(Value::as_u64).unwrap_or(0);
        if remaining == 0 {
            break;
        }
        if made.is_empty() || done > total {
            bail!("the server's plan does not converge ({remaining} change(s) left); nothing more applied");
        }
    }
    let n = done;
    println!("applied {n} change(s)");
    Ok(std::process::ExitCode::SUCCESS)
}
