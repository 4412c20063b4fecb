//! `ward audit verify`: walk the audit trail's hash chain in the data
//! directory and report every edited, deleted, inserted or reordered record.

use anyhow::{anyhow, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check the trail; exit status 1 when anything is wrong.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The server's data directory.
    #[arg(long, env = "WARD_DATA_DIR", default_value = "ward-data")]
    data_dir: PathBuf,
}

pub fn run(cmd: &AuditCmd) -> Result<std::process::ExitCode> {
    match cmd {
        AuditCmd::Verify(a) => {
            let iam = crate::serve::open_existing(&a.data_dir)?;
            let (n, findings) = iam
                .verify_audit()
                .map_err(|e| anyhow!("{}: {}", e.code, e.message))?;
            for f in &findings {
                println!("record {}: {}", f.seq, f.problem);
            }
            if findings.is_empty() {
                println!("audit trail intact: {n} records, hash chain verified");
                Ok(std::process::ExitCode::SUCCESS)
            } else {
                println!(
                    "audit trail NOT intact: {} problem(s) in {n} records",
                    findings.len()
                );
                Ok(std::process::ExitCode::from(1))
            }
        }
    }
}
