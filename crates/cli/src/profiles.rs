//! `ward profiles --user NAME`: an AWS CLI config (`~/.aws/config` format)
//! for one person — a base profile for their own keys and one profile per
//! role they may assume, with `mfa_serial` where the role's trust policy
//! requires MFA — so `aws --profile ROLE ...` asks for the code and assumes
//! the role with the standard client.
//!
//! "May assume" is decided by the same engine the server uses: the user's
//! identity side (policies, groups, boundary) and the role's trust policy
//! must both allow `sts:AssumeRole`, with MFA present when the user has a
//! device. The store is opened read-only beside a running server (SQLite
//! WAL allows it).

use anyhow::{anyhow, Result};
use clap::Args;
use std::fmt::Write as _;
use std::path::PathBuf;
use ward_core::auth::{Caller, CallerKind, RequestInfo};
use ward_core::iam::{Iam, Paging};
use ward_core::model::now;
use ward_core::store::Store;
use ward_policy::ContextValue;

#[derive(Debug, Args)]
pub struct ProfilesArgs {
    /// The IAM user whose profiles to print.
    #[arg(long)]
    user: String,
    /// The account the user is in.
    #[arg(long, env = "WARD_ACCOUNT_ID", default_value = "123456789012")]
    account_id: String,
    /// The server's data directory.
    #[arg(long, env = "WARD_DATA_DIR", default_value = "ward-data")]
    data_dir: PathBuf,
    /// The endpoint the profiles point at.
    #[arg(long, default_value = "http://127.0.0.1:8700")]
    endpoint_url: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// The base profile's name (default: the user name).
    #[arg(long)]
    base_profile: Option<String>,
}

/// The config text for `args` over an opened `iam`.
pub fn render<S: Store>(iam: &Iam<S>, args: &ProfilesArgs) -> Result<String> {
    let e = |e: ward_core::ApiError| anyhow!("{}: {}", e.code, e.message);
    let a = &args.account_id;
    let user = iam.get_user(a, &args.user).map_err(e)?;
    let base = args
        .base_profile
        .clone()
        .unwrap_or_else(|| user.name.clone());
    let mfa = iam
        .list_mfa_devices(a, &user.name, &Paging::default())
        .map_err(e)?
        .items
        .into_iter()
        .next()
        .map(|d| d.serial);
    let caller = Caller {
        account: a.clone(),
        arn: user.arn.clone(),
        user_id: user.id.clone(),
        kind: CallerKind::User {
            name: user.name.clone(),
        },
        access_key_id: String::new(),
        session: None,
    };
    let info = RequestInfo {
        now: now(),
        source_ip: None,
        secure_transport: true,
        region: args.region.clone(),
        user_agent: None,
    };
    let mfa_ctx = vec![
        (
            "aws:MultiFactorAuthPresent".to_string(),
            ContextValue::Single("true".into()),
        ),
        (
            "aws:MultiFactorAuthAge".to_string(),
            ContextValue::Single("0".into()),
        ),
    ];
    let mut out = String::new();
    writeln!(
        out,
        "# AWS CLI config for {} (written by `ward profiles`).\n# Put the user's access key in ~/.aws/credentials under [{base}].\n",
        user.arn
    )?;
    writeln!(out, "[profile {base}]")?;
    writeln!(out, "region = {}", args.region)?;
    writeln!(out, "endpoint_url = {}", args.endpoint_url)?;
    // The user's account, and the other accounts of its organization.
    let mut accounts = vec![a.clone()];
    if let Ok(members) = iam.list_org_accounts(a, None) {
        accounts.extend(members.into_iter().map(|m| m.account).filter(|x| x != a));
    }
    let mut n = 0;
    for acct in &accounts {
        let mut paging = Paging::default();
        loop {
            let page = iam.list_roles(acct, None, &paging).map_err(e)?;
            for role in &page.items {
                let view = iam.role_view(acct, &role.name).map_err(e)?;
                let may = |extra: &[(String, ContextValue)]| {
                    iam.authorize(
                        &caller,
                        "sts:AssumeRole",
                        &role.arn,
                        extra,
                        Some(view.trust.clone()),
                        &info,
                    )
                    .is_ok()
                };
                let without_mfa = may(&[]);
                let with_mfa = may(&mfa_ctx);
                if !(without_mfa || with_mfa) {
                    continue;
                }
                n += 1;
                writeln!(out, "\n[profile {}]", role.name)?;
                writeln!(out, "role_arn = {}", role.arn)?;
                writeln!(out, "source_profile = {base}")?;
                match &mfa {
                    // Send MFA whenever the user has it: policies may ask for it
                    // after the role is assumed, too.
                    Some(serial) => writeln!(out, "mfa_serial = {serial}")?,
                    None if !without_mfa => writeln!(
                        out,
                        "# needs MFA: enable a virtual MFA device for {}, then run `ward profiles` again",
                        user.name
                    )?,
                    None => {}
                }
                writeln!(
                    out,
                    "duration_seconds = {}",
                    role.max_session_duration.min(3600)
                )?;
                writeln!(out, "role_session_name = {}", user.name)?;
                writeln!(out, "region = {}", args.region)?;
                writeln!(out, "endpoint_url = {}", args.endpoint_url)?;
            }
            match page.marker {
                Some(m) => paging.marker = Some(m),
                None => break,
            }
        }
    }
    if n == 0 {
        writeln!(out, "\n# {} may assume no role.", user.name)?;
    }
    Ok(out)
}

pub fn run(args: &ProfilesArgs) -> Result<std::process::ExitCode> {
    let iam = crate::serve::open_existing(&args.data_dir)?;
    print!("{}", render(&iam, args)?);
    Ok(std::process::ExitCode::SUCCESS)
}
