//! `ward audit`: check the audit trail in a data directory (its hash chain
//! and its signed digests), print the digest public key, and export the
//! trail as CloudTrail log files.

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check the trail; exit status 1 when anything is wrong.
    Verify(VerifyArgs),
    /// Print the public key digests are signed with (PEM), to keep elsewhere.
    PublicKey(DataDir),
    /// Seal the records stored since the last digest now.
    Seal(DataDir),
    /// Write the trail as CloudTrail log files (gzip JSON, CloudTrail's names).
    Export(crate::export::ExportArgs),
}

#[derive(Debug, Args)]
pub struct DataDir {
    /// The server's data directory.
    #[arg(long, env = "WARD_DATA_DIR", default_value = "ward-data")]
    pub(crate) data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    dir: DataDir,
    /// The digests' public key (PEM) kept outside the data directory; by
    /// default the key in the data directory, which someone able to rewrite
    /// the trail could have replaced too.
    #[arg(long)]
    public_key: Option<PathBuf>,
}

fn api(e: ward_core::ApiError) -> anyhow::Error {
    anyhow!("{}: {}", e.code, e.message)
}

pub fn run(cmd: &AuditCmd) -> Result<std::process::ExitCode> {
    match cmd {
        AuditCmd::Verify(a) => verify(a),
        AuditCmd::PublicKey(d) => {
            let key = crate::serve::digest_key(&d.data_dir, false)?
                .ok_or_else(|| anyhow!("no audit signing key in `{}`", d.data_dir.display()))?;
            print!("{}", ward_core::digest::public_pem(&key.public()));
            Ok(std::process::ExitCode::SUCCESS)
        }
        AuditCmd::Seal(d) => {
            let iam = crate::serve::open_existing(&d.data_dir)?;
            let key = crate::serve::digest_key(&d.data_dir, false)?
                .ok_or_else(|| anyhow!("no audit signing key in `{}`", d.data_dir.display()))?;
            match iam.seal_audit(&key, ward_core::model::now()).map_err(api)? {
                Some(d) => println!(
                    "digest {} seals records {}..={} (hash {})",
                    d.number, d.start, d.end, d.end_hash
                ),
                None => println!("nothing to seal: every record is in a digest"),
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        AuditCmd::Export(a) => crate::export::run(a),
    }
}

fn verify(a: &VerifyArgs) -> Result<std::process::ExitCode> {
    let iam = crate::serve::open_existing(&a.dir.data_dir)?;
    let (n, findings) = iam.verify_audit().map_err(api)?;
    for f in &findings {
        println!("record {}: {}", f.seq, f.problem);
    }
    let public = match &a.public_key {
        Some(p) => {
            let pem = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read `{}`", p.display()))?;
            Some(
                ward_core::digest::public_from_pem(&pem)
                    .map_err(|e| anyhow!("`{}` is not an Ed25519 public key: {e}", p.display()))?,
            )
        }
        None => crate::serve::digest_key(&a.dir.data_dir, false)?.map(|k| k.public()),
    };
    let (digest_problems, sealed) = match public {
        None => {
            if !iam.audit_digests().map_err(api)?.is_empty() {
                bail!("the trail has digests but no public key was found; pass --public-key");
            }
            (0, "no digests (no signing key)".to_string())
        }
        Some(key) => {
            let r = iam.verify_digests(&key).map_err(api)?;
            for f in &r.findings {
                println!("digest {}: {}", f.digest, f.problem);
            }
            let (first, last) = iam.audit_bounds().map_err(api)?;
            let fp = ward_core::digest::fingerprint(&key);
            let mut sealed = format!(
                "{} digest(s) verified with key {}",
                r.digests,
                fp.get(..16).unwrap_or_default()
            );
            if r.sealed_through >= first {
                sealed.push_str(&format!("; records {first}..={} sealed", r.sealed_through));
            }
            if last > r.sealed_through {
                sealed.push_str(&format!(
                    "; the {} newest not yet (the next digest seals them)",
                    last - r.sealed_through.max(first.saturating_sub(1))
                ));
            }
            (r.findings.len(), sealed)
        }
    };
    let (first, _) = iam.audit_bounds().map_err(api)?;
    let retention = if first > 1 {
        format!(" (records before {first} removed by retention)")
    } else {
        String::new()
    };
    let unchained = iam.unchained_records().map_err(api)?;
    if unchained > 0 {
        // Committed with their writes; the server chains them within moments
        // of running (they were waiting when it stopped).
        println!("{unchained} record(s) committed with writes are not chained yet (`ward serve` chains them when it next runs)");
    }
    if findings.is_empty() && digest_problems == 0 {
        println!("audit trail intact: {n} records{retention}, hash chain verified; {sealed}");
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        println!(
            "audit trail NOT intact: {} problem(s) in {n} records and its digests",
            findings.len() + digest_problems
        );
        Ok(std::process::ExitCode::from(1))
    }
}
