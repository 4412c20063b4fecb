//! `ward`: the command line. Subcommands:
//!
//! - `ward policy eval [--input FILE]`: decide authorization cases (JSON or
//!   JSON Lines) and print one JSON result a line.
//! - `ward policy validate [FILE] [--type TYPE]`: review a policy document
//!   and print Access-Analyzer-style findings; exit status 1 on an ERROR.
//! - `ward policy bench [--cases FILE]`: per-decision latency and throughput
//!   on the cases (policies compiled once, one core).
//!
//! - `ward serve`: IAM and STS over the AWS wire protocol on an embedded store.
//!
//! Only this crate uses `anyhow`, does I/O and wires a store into the server.

mod apply;
mod audit;
mod bench;
mod benchaudit;
mod client;
mod export;
mod loadgen;
mod profiles;
mod review;
mod serve;
mod workload;

// A faster allocator for the server's many small, short-lived allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};
use std::io::{BufRead, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use ward_policy::{validate, PolicyType, Severity};

#[derive(Debug, Parser)]
#[command(name = "ward", version, about = "AWS-compatible IAM you run yourself")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve IAM and STS over the AWS wire protocol, on an embedded store.
    Serve(serve::ServeArgs),
    /// The IAM policy language: evaluate, validate, benchmark.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Measure the server: req/s and latency of GetCallerIdentity, AssumeRole,
    /// durable CreateUser, and a ListUsers page in a large account.
    BenchServer(loadgen::LoadArgs),
    /// Benchmark the audit trail: store N records, time LookupEvents pages.
    BenchAudit(benchaudit::BenchAuditArgs),
    /// Converge a running Ward to an environment model (TOML; docs/apply.md).
    Apply(apply::ApplyArgs),
    /// The audit trail: verify its hash chain.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Virtual MFA helpers.
    #[command(subcommand)]
    Mfa(MfaCmd),
    /// Print an AWS CLI config for a user: a base profile and one profile
    /// per role the user may assume (with `mfa_serial`), from the store.
    Profiles(profiles::ProfilesArgs),
    /// Review unused access and generate least-privilege policies from the trail.
    Review(review::ReviewArgs),
    /// Workloads that carry roles through the container credentials provider.
    #[command(subcommand)]
    Workload(workload::WorkloadCmd),
}

#[derive(Debug, Subcommand)]
enum MfaCmd {
    /// Print the TOTP code of a virtual MFA device's base32 seed, as an
    /// authenticator app shows it (e.g. the file `aws iam
    /// create-virtual-mfa-device --outfile F --bootstrap-method
    /// Base32StringSeed` wrote).
    Code(MfaCodeArgs),
}

#[derive(Debug, Args)]
struct MfaCodeArgs {
    /// A file holding the base32 seed (standard input when `-`).
    #[arg(long)]
    seed_file: PathBuf,
    /// Codes of 30-second steps from now: -1 the previous, 1 the next.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    step: i64,
}

fn mfa_code(a: &MfaCodeArgs) -> Result<ExitCode> {
    let seed = read_input(Some(&a.seed_file))?;
    let seed = seed.trim();
    if seed.is_empty()
        || !seed
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    {
        bail!("`{}` does not hold a base32 seed", a.seed_file.display());
    }
    let at = ward_core::model::now() + a.step * ward_core::mfa::STEP;
    let code = ward_core::mfa::totp_code(seed, at).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{code}");
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
enum PolicyCmd {
    /// Decide authorization cases: one JSON case (or JSON Lines) in, one JSON result a line out.
    Eval(EvalArgs),
    /// Review a policy document; exit status 1 when there is an ERROR finding.
    Validate(ValidateArgs),
    /// Measure decisions: p50/p99 per decision and decisions per second on one core.
    Bench(bench::BenchArgs),
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// Read cases from FILE instead of standard input.
    #[arg(long, short)]
    input: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ValidateArgs {
    /// The policy document (standard input when absent or `-`).
    file: Option<PathBuf>,
    /// The policy type: identity, resource (trust policies too), permission-boundary, session, scp, rcp.
    #[arg(long = "type", short = 't', default_value = "identity")]
    policy_type: String,
    /// Print findings as JSON (one object a line) instead of text.
    #[arg(long)]
    json: bool,
}

fn read_input(path: Option<&PathBuf>) -> Result<String> {
    match path {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::read_to_string(p).with_context(|| format!("cannot read `{}`", p.display()))
        }
        _ => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read standard input")?;
            Ok(s)
        }
    }
}

/// Split input into cases: a whole JSON document if it is one value,
/// otherwise one case per non-empty line.
fn cases(text: &str) -> Vec<&str> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && serde_json::from_str::<serde_json::Value>(trimmed).is_ok() {
        return vec![trimmed];
    }
    text.lines().filter(|l| !l.trim().is_empty()).collect()
}

fn eval(args: &EvalArgs) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut run = |text: &str| -> Result<()> {
        let v = ward_policy::case::eval_text(text);
        serde_json::to_writer(&mut out, &v)?;
        out.write_all(b"\n")?;
        Ok(())
    };
    match &args.input {
        Some(p) if p.as_os_str() != "-" => {
            let text = read_input(Some(p))?;
            for c in cases(&text) {
                run(c)?;
            }
        }
        _ => {
            // Stream standard input line by line so a pipe gets answers as it writes.
            let stdin = std::io::stdin();
            let mut buf = String::new();
            for line in stdin.lock().lines() {
                let line = line.context("cannot read standard input")?;
                let held = buf.trim().len();
                buf.push_str(&line);
                buf.push('\n');
                if line.trim().is_empty() {
                    continue;
                }
                // A line that is a complete value is a case. A value cut short
                // (a pretty-printed case spanning lines) keeps reading; anything
                // else is a malformed case, answered at once — and when the
                // lines held so far were a case cut short (`{"id": "a` with no
                // end) and this line is a case of its own, those lines are the
                // malformed case and this one is answered after them.
                match serde_json::from_str::<serde_json::Value>(buf.trim()) {
                    Err(e) if e.is_eof() => continue,
                    Err(_)
                        if held > 0
                            && serde_json::from_str::<serde_json::Value>(line.trim()).is_ok() =>
                    {
                        let earlier = buf.get(..buf.len() - line.len() - 1).unwrap_or_default();
                        run(earlier.trim())?;
                        run(line.trim())?;
                        buf.clear();
                    }
                    _ => {
                        run(buf.trim())?;
                        buf.clear();
                    }
                }
            }
            if !buf.trim().is_empty() {
                run(buf.trim())?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn validate_cmd(args: &ValidateArgs) -> Result<ExitCode> {
    let Some(ty) = PolicyType::from_name(&args.policy_type) else {
        bail!(
            "unknown policy type `{}`: use identity, resource, permission-boundary, session, scp or rcp",
            args.policy_type
        );
    };
    let text = read_input(args.file.as_ref())?;
    let findings = validate(&text, ty);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let name = args
        .file
        .as_ref()
        .map_or_else(|| "<stdin>".to_string(), |p| p.display().to_string());
    for f in &findings {
        if args.json {
            let v = serde_json::json!({
                "severity": f.severity.as_str(), "code": f.code, "message": f.message,
                "path": f.path, "line": f.line, "column": f.column,
            });
            writeln!(out, "{v}")?;
        } else {
            writeln!(
                out,
                "{name}:{}:{}: {} {}: {} [{}]",
                f.line, f.column, f.severity, f.code, f.message, f.path
            )?;
        }
    }
    if findings.is_empty() && !args.json {
        writeln!(out, "{name}: no findings")?;
    }
    let error = findings.iter().any(|f| f.severity == Severity::Error);
    Ok(if error {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match &cli.command {
        Command::Serve(a) => serve::run(a),
        Command::BenchServer(a) => loadgen::run(a),
        Command::BenchAudit(a) => benchaudit::run(a),
        Command::Policy(PolicyCmd::Eval(a)) => eval(a),
        Command::Policy(PolicyCmd::Validate(a)) => validate_cmd(a),
        Command::Policy(PolicyCmd::Bench(a)) => bench::run(a),
        Command::Mfa(MfaCmd::Code(a)) => mfa_code(a),
        Command::Profiles(a) => profiles::run(a),
        Command::Review(a) => review::run(a),
        Command::Apply(a) => apply::run(a),
        Command::Audit(c) => audit::run(c),
        Command::Workload(c) => workload::run(c),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ward: {e:#}");
            ExitCode::from(2)
        }
    }
}
