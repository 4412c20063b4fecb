//! `ward serve`: open (or create) the data directory, the embedded store and
//! the master key; on first start create the account and its root
//! credentials; then serve IAM and STS on a loopback address.

use anyhow::{bail, Context as _, Result};
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use ward_core::crypto::Sealer;
use ward_core::digest::DigestKey;
use ward_core::iam::Iam;
use ward_core::model::now;
use ward_core::store::{MemStore, Store};
use ward_server::{AppState, Config};
use ward_store::SqliteStore;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "WARD_LISTEN", default_value = "127.0.0.1:8700")]
    listen: SocketAddr,
    /// Data directory (database, master key, root credentials).
    #[arg(long, env = "WARD_DATA_DIR", default_value = "ward-data")]
    data_dir: PathBuf,
    /// The first account's 12-digit id (used on first start only).
    #[arg(long, env = "WARD_ACCOUNT_ID", default_value = "123456789012")]
    account_id: String,
    /// The region Ward reports.
    #[arg(long, env = "WARD_REGION", default_value = "us-east-1")]
    region: String,
    /// Threads serving requests, each with the connections handed to it
    /// (default: one per core).
    #[arg(long, env = "WARD_WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,
    /// Emulator mode for test suites: an in-memory store, the `/moto-api/*`
    /// endpoints, and no authentication until `/moto-api/reset-auth` turns it on.
    #[arg(long, env = "WARD_EMULATOR")]
    emulator: bool,
    /// Log format on stderr: `text`, or `json` (one object a line, with the
    /// request id that the response's `x-amzn-RequestId` carries). The level
    /// comes from `WARD_LOG` (e.g. `info` logs every request; default `warn`).
    #[arg(long, env = "WARD_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Testing aid: run the server's clock this many seconds ahead of the
    /// system's, e.g. to watch temporary credentials expire. Requests signed
    /// at real time then fail the 15-minute SigV4 skew check.
    #[arg(
        long,
        env = "WARD_CLOCK_OFFSET",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    clock_offset: i64,
    /// Do not record requests in the audit trail (recorded by default).
    #[arg(long, env = "WARD_NO_AUDIT")]
    no_audit: bool,
    /// Seal the audit trail in a signed digest this often (seconds).
    #[arg(long, env = "WARD_AUDIT_DIGEST_INTERVAL", default_value_t = 3600)]
    audit_digest_interval: u64,
    /// Remove audit records older than this many days (once sealed in a
    /// digest; export them first with `ward audit export`). Kept forever
    /// by default.
    #[arg(long, env = "WARD_AUDIT_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    audit_retention_days: Option<u32>,
}

/// Write a file readable only by its owner.
fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    f.write_all(contents)?;
    f.sync_all()?;
    Ok(())
}

/// The master key: `WARD_MASTER_KEY` (64 hex digits), or `master.key` in
/// the data directory, generated on first start.
pub(crate) fn master_key(dir: &Path) -> Result<[u8; 32]> {
    let parse = |s: &str, from: &str| -> Result<[u8; 32]> {
        let bytes = hex::decode(s.trim()).with_context(|| format!("{from} is not hex"))?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| anyhow::anyhow!("{from} must hold 64 hex digits (32 bytes)"))
    };
    if let Ok(k) = std::env::var("WARD_MASTER_KEY") {
        return parse(&k, "WARD_MASTER_KEY");
    }
    let path = dir.join("master.key");
    if path.exists() {
        let s = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        return parse(&s, &path.display().to_string());
    }
    let k = Sealer::generate_key();
    write_private(&path, format!("{}\n", hex::encode(*k)).as_bytes())?;
    Ok(*k)
}

/// The audit trail's digest signing key: `WARD_AUDIT_SIGNING_KEY` (64 hex
/// digits, an Ed25519 seed), or `audit-signing.key` in the data directory,
/// generated on first start (with its public key beside it,
/// `audit-signing.pub.pem`, to keep elsewhere).
pub(crate) fn digest_key(dir: &Path, create: bool) -> Result<Option<DigestKey>> {
    let parse = |s: &str, from: &str| -> Result<DigestKey> {
        let bytes = hex::decode(s.trim()).with_context(|| format!("{from} is not hex"))?;
        let seed = <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| anyhow::anyhow!("{from} must hold 64 hex digits (32 bytes)"))?;
        Ok(DigestKey::from_seed(&seed))
    };
    if let Ok(k) = std::env::var("WARD_AUDIT_SIGNING_KEY") {
        return parse(&k, "WARD_AUDIT_SIGNING_KEY").map(Some);
    }
    let path = dir.join("audit-signing.key");
    if path.exists() {
        let s = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        return parse(&s, &path.display().to_string()).map(Some);
    }
    if !create {
        return Ok(None);
    }
    let seed = DigestKey::generate_seed();
    write_private(&path, format!("{}\n", hex::encode(seed)).as_bytes())?;
    let key = DigestKey::from_seed(&seed);
    let pem = ward_core::digest::public_pem(&key.public());
    let pub_path = dir.join("audit-signing.pub.pem");
    std::fs::write(&pub_path, pem)
        .with_context(|| format!("cannot write `{}`", pub_path.display()))?;
    Ok(Some(key))
}

/// The store of an existing data directory (beside a running server:
/// SQLite's WAL lets both use it), for the offline subcommands.
pub(crate) fn open_existing(dir: &Path) -> Result<Iam<SqliteStore>> {
    let db = dir.join("ward.db");
    if !db.exists() {
        bail!("no Ward store at `{}` (see --data-dir)", db.display());
    }
    let key = master_key(dir)?;
    let store = SqliteStore::open(&db).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Iam::new(Arc::new(store), Sealer::new(&key)))
}

pub fn run(args: &ServeArgs) -> Result<std::process::ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.log_format == "json" {
        logs.json().flatten_event(true).init();
    } else {
        logs.init();
    }
    if args.clock_offset != 0 {
        ward_core::model::set_clock_offset(args.clock_offset);
        tracing::warn!(
            seconds = args.clock_offset,
            "the server's clock runs ahead of the system's (--clock-offset)"
        );
    }
    if args.account_id.len() != 12 || !args.account_id.bytes().all(|b| b.is_ascii_digit()) {
        bail!("--account-id must be 12 digits, not `{}`", args.account_id);
    }
    let config = Config {
        region: args.region.clone(),
        check_time: !args.emulator,
        emulator: args.emulator,
        default_account: args.account_id.clone(),
    };
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();
    if args.emulator {
        let iam = Iam::new(
            Arc::new(MemStore::new()),
            Sealer::new(&Sealer::generate_key()),
        );
        iam.ensure_account(&args.account_id, now())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let banner = vec![
            "Emulator mode: in-memory store; any access key acts as the root user until"
                .to_string(),
            "`POST /moto-api/reset-auth` turns authentication on. Point the AWS CLI at it:"
                .to_string(),
            "  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test".to_string(),
        ];
        return listen(args, AppState::new(iam, config, metrics), banner);
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create `{}`", args.data_dir.display()))?;
    let key = master_key(&args.data_dir)?;
    let db = args.data_dir.join("ward.db");
    if let Some(from) =
        ward_store::schema_upgrade_pending(&db).map_err(|e| anyhow::anyhow!("{e}"))?
    {
        // Every row is copied once: a large audit trail takes a while.
        tracing::warn!(
            from,
            to = ward_store::SCHEMA_VERSION,
            "upgrading the store's schema (copies every row once)"
        );
    }
    let store = SqliteStore::open(&db).map_err(|e| anyhow::anyhow!("{e}"))?;
    let iam = Iam::new(Arc::new(store), Sealer::new(&key));
    let moved = iam
        .migrate_audit_layout()
        .map_err(|e| anyhow::anyhow!("moving the audit trail to the current layout: {e}"))?;
    if moved > 0 {
        tracing::warn!(records = moved, "audit trail moved to the current layout");
    }
    let creds_path = args.data_dir.join("root-credentials");
    let first_start = !creds_path.exists();
    if first_start {
        iam.ensure_account(&args.account_id, now())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let k = iam
            .create_access_key(&args.account_id, None, now())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let ini = format!(
            "# Ward root credentials of account {}. Keep this file private.\n[ward]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            args.account_id, k.key.id, k.secret
        );
        write_private(&creds_path, ini.as_bytes())?;
    }
    let creds_path = std::fs::canonicalize(&creds_path).unwrap_or(creds_path);
    let banner = vec![
        format!(
            "{} root credentials of account {}: {}",
            if first_start { "Created the" } else { "The" },
            args.account_id,
            creds_path.display()
        ),
        String::new(),
        "Point the AWS CLI at it:".to_string(),
        format!(
            "  export AWS_SHARED_CREDENTIALS_FILE={}",
            creds_path.display()
        ),
        "  export AWS_PROFILE=ward".to_string(),
    ];
    listen(args, AppState::new(iam, config, metrics), banner)
}

/// Bind, print how to use the server, and serve until Ctrl-C.
fn listen<S: Store>(
    args: &ServeArgs,
    state: AppState<S>,
    banner: Vec<String>,
) -> Result<std::process::ExitCode> {
    let state = Arc::new(state);
    if !args.no_audit {
        let key = if args.emulator {
            None
        } else {
            digest_key(&args.data_dir, true)?
        };
        state.start_auditing(ward_server::TrailConfig {
            key,
            digest_every: std::time::Duration::from_secs(args.audit_digest_interval.max(1)),
            retention: args.audit_retention_days.map(|d| i64::from(d) * 86_400),
        });
    }
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let endpoint = format!("http://{addr}");
    println!("Ward is serving IAM and STS at {endpoint}");
    for l in banner {
        println!("{l}");
    }
    println!("  export AWS_ENDPOINT_URL={endpoint}");
    println!(
        "  export AWS_REGION={0} AWS_DEFAULT_REGION={0}",
        args.region
    );
    println!("  aws sts get-caller-identity");
    ward_server::serve(listener, state.clone(), workers(args.workers), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .context("the server stopped")?;
    // The records of the last moments before Ctrl-C.
    state.flush_audit();
    Ok(std::process::ExitCode::SUCCESS)
}

/// Worker threads for `--workers`: as given, or one per core.
pub(crate) fn workers(given: Option<u16>) -> usize {
    given.map_or_else(
        || std::thread::available_parallelism().map_or(2, usize::from),
        usize::from,
    )
}
