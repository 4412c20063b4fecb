//! `ward workload register | revoke`: workloads carry roles. Registering a
//! workload against an instance profile prints the two environment
//! variables the AWS SDKs' and CLI's container credentials provider reads;
//! the server's `/ward/workload/credentials` then hands out the profile's
//! role credentials, refreshed by the SDK before they expire.

use anyhow::{anyhow, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use ward_core::model::now;

#[derive(Debug, Subcommand)]
pub enum WorkloadCmd {
    /// Register a workload for an instance profile; print its environment.
    Register(RegisterArgs),
    /// Revoke a workload's token.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The instance profile whose role the workload carries.
    #[arg(long)]
    instance_profile: String,
    #[arg(long, env = "WARD_ACCOUNT_ID", default_value = "123456789012")]
    account_id: String,
    /// The server's data directory.
    #[arg(long, env = "WARD_DATA_DIR", default_value = "ward-data")]
    data_dir: PathBuf,
    /// The server's endpoint, as the workload reaches it.
    #[arg(long, default_value = "http://127.0.0.1:8700")]
    endpoint_url: String,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The workload id `register` printed.
    #[arg(long)]
    id: String,
    #[arg(long, env = "WARD_ACCOUNT_ID", default_value = "123456789012")]
    account_id: String,
    #[arg(long, env = "WARD_DATA_DIR", default_value = "ward-data")]
    data_dir: PathBuf,
}

pub fn run(cmd: &WorkloadCmd) -> Result<std::process::ExitCode> {
    let e = |e: ward_core::ApiError| anyhow!("{}: {}", e.code, e.message);
    match cmd {
        WorkloadCmd::Register(a) => {
            let iam = crate::serve::open_existing(&a.data_dir)?;
            let (w, token) = iam
                .register_workload(&a.account_id, &a.instance_profile, now())
                .map_err(e)?;
            println!(
                "# workload {} carries instance profile {}",
                w.id, w.instance_profile
            );
            println!(
                "export AWS_CONTAINER_CREDENTIALS_FULL_URI={}/ward/workload/credentials",
                a.endpoint_url.trim_end_matches('/')
            );
            println!("export AWS_CONTAINER_AUTHORIZATION_TOKEN={token}");
        }
        WorkloadCmd::Revoke(a) => {
            let iam = crate::serve::open_existing(&a.data_dir)?;
            if !iam.revoke_workload(&a.account_id, &a.id).map_err(e)? {
                anyhow::bail!("no workload `{}` in account {}", a.id, a.account_id);
            }
            println!("revoked {}", a.id);
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
