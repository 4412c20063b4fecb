//! `ward audit export`: the trail as CloudTrail log files, so tools that
//! read CloudTrail's S3 delivery read Ward's trail unchanged:
//! `AWSLogs/{account}/CloudTrail/{region}/{YYYY}/{MM}/{DD}/{account}_CloudTrail_{region}_{YYYYMMDDTHHmmZ}_{16 characters}.json.gz`,
//! each `{"Records": [...]}` compressed with gzip
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-examples.html>).
//! One file holds an account's records of one region and five minutes, as
//! CloudTrail delivers about every five minutes; the file's time is the end
//! of its five minutes.

use anyhow::{anyhow, Context as _, Result};
use clap::Args;
use flate2::write::GzEncoder;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    dir: crate::audit::DataDir,
    /// Where to write `AWSLogs/...`.
    #[arg(long)]
    out: PathBuf,
    /// Only records at or after this time (ISO 8601, e.g. 2026-11-29T00:00:00Z).
    #[arg(long)]
    start: Option<String>,
    /// Only records before this time (ISO 8601).
    #[arg(long)]
    end: Option<String>,
}

/// (account, region, five-minute window start).
type FileKey = (String, String, i64);

const WINDOW: i64 = 300;

fn time_arg(s: &Option<String>, name: &str) -> Result<Option<i64>> {
    s.as_deref()
        .map(|t| {
            ward_core::model::parse_iso8601(t).ok_or_else(|| {
                anyhow!("--{name} `{t}` is not an ISO 8601 time like 2026-11-29T00:00:00Z")
            })
        })
        .transpose()
}

fn unique() -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..16)
        .map(|_| char::from(A.get(fastrand::usize(..A.len())).copied().unwrap_or(b'A')))
        .collect()
}

/// Write one log file; its path.
fn write_file(
    out: &Path,
    (account, region, window): &FileKey,
    records: &[String],
) -> Result<PathBuf> {
    let delivered = ward_core::model::iso8601(window + WINDOW); // 2026-11-29T18:35:00Z
    let (y, m, d) = (
        delivered.get(0..4).unwrap_or("0000"),
        delivered.get(5..7).unwrap_or("00"),
        delivered.get(8..10).unwrap_or("00"),
    );
    let stamp = format!(
        "{y}{m}{d}T{}{}Z",
        delivered.get(11..13).unwrap_or("00"),
        delivered.get(14..16).unwrap_or("00")
    );
    let dir = out
        .join("AWSLogs")
        .join(account)
        .join("CloudTrail")
        .join(region)
        .join(y)
        .join(m)
        .join(d);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let path = dir.join(format!(
        "{account}_CloudTrail_{region}_{stamp}_{}.json.gz",
        unique()
    ));
    let file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    let mut gz = GzEncoder::new(file, flate2::Compression::default());
    gz.write_all(b"{\"Records\":[")?;
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            gz.write_all(b",")?;
        }
        gz.write_all(r.as_bytes())?;
    }
    gz.write_all(b"]}")?;
    gz.finish()?.sync_all()?;
    Ok(path)
}

pub fn run(a: &ExportArgs) -> Result<std::process::ExitCode> {
    let start = time_arg(&a.start, "start")?;
    let end = time_arg(&a.end, "end")?;
    let iam = crate::serve::open_existing(&a.dir.data_dir)?;
    let api = |e: ward_core::ApiError| anyhow!("{}: {}", e.code, e.message);
    let (first, last) = iam.audit_bounds().map_err(api)?;
    let total = last.saturating_sub(first) + 1;
    let mut pending: BTreeMap<FileKey, Vec<String>> = BTreeMap::new();
    let mut held = 0usize;
    let (mut files, mut records) = (0usize, 0usize);
    let mut seq = first;
    let mut shown = 0u64;
    while seq <= last {
        let batch = iam.audit_range(seq, 2000).map_err(api)?;
        if batch.is_empty() {
            break;
        }
        for s in &batch {
            seq = s.seq + 1;
            let v: serde_json::Value = serde_json::from_str(&s.event)
                .with_context(|| format!("record {} is not JSON", s.seq))?;
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
            let t = ward_core::model::parse_iso8601(&field("eventTime")).unwrap_or(0);
            if start.is_some_and(|s| t < s) || end.is_some_and(|e| t >= e) {
                continue;
            }
            let key = (
                field("recipientAccountId"),
                field("awsRegion"),
                t - t.rem_euclid(WINDOW),
            );
            pending.entry(key).or_default().push(s.event.clone());
            held += 1;
            records += 1;
        }
        // Bounded memory: write what is held every 50,000 records.
        if held >= 50_000 {
            for (k, recs) in std::mem::take(&mut pending) {
                write_file(&a.out, &k, &recs)?;
                files += 1;
            }
            held = 0;
        }
        let done = seq.saturating_sub(first);
        if total >= 100_000 && done * 10 / total > shown {
            shown = done * 10 / total;
            eprintln!("  {}% ({done} of {total} records read)", shown * 10);
        }
    }
    for (k, recs) in pending {
        write_file(&a.out, &k, &recs)?;
        files += 1;
    }
    println!(
        "exported {records} record(s) in {files} CloudTrail log file(s) under {}",
        a.out.join("AWSLogs").display()
    );
    Ok(std::process::ExitCode::SUCCESS)
}
