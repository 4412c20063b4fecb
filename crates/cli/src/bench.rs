//! `ward policy bench`: how long one full decision takes.
//!
//! Policies are compiled once; the timed path is `evaluate(&request, &layers)`
//! only — no JSON, no compilation. Each decision is timed on its own (the
//! clock's own cost, measured in the same run, is subtracted), giving p50
//! and p99; a separate untimed loop gives decisions per second on one core.
//! With `--unrelated N` the same cases are run a second time with N extra
//! identity policies about other services attached to every principal, to
//! show that the cost does not grow with policies that cannot apply.

use anyhow::{bail, Context as _, Result};
use clap::Args;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use ward_policy::case::{parse_case, Case};
use ward_policy::{evaluate, Policy, PolicySet, PolicyType};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Cases in `ward policy eval` format, one per line.
    #[arg(long, default_value = "crates/policy/tests/data/bench-cases.jsonl")]
    cases: PathBuf,
    /// Timed decisions per case.
    #[arg(long, default_value_t = 200_000)]
    iterations: usize,
    /// Also run with this many unrelated identity policies per principal (0: skip).
    #[arg(long, default_value_t = 1000)]
    unrelated: usize,
    /// Print one line per case as well.
    #[arg(long)]
    per_case: bool,
}

struct Stats {
    p50: f64,
    p99: f64,
    mean: f64,
    per_sec: f64,
}

fn clock_overhead() -> f64 {
    let mut v: Vec<u64> = (0..100_000)
        .map(|_| {
            let t = Instant::now();
            black_box(());
            u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX)
        })
        .collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0) as f64
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(i).copied().unwrap_or(0) as f64
}

fn measure(cases: &[Case], iterations: usize, overhead: f64, per_case: bool) -> Stats {
    // Warm up.
    for c in cases {
        for _ in 0..1000 {
            black_box(evaluate(black_box(&c.request), black_box(&c.layers)));
        }
    }
    let mut all: Vec<u64> = Vec::with_capacity(cases.len() * iterations);
    // Interleave cases so no single case enjoys a perfectly warm cache.
    let mut per: Vec<Vec<u64>> = vec![Vec::with_capacity(iterations); cases.len()];
    for _ in 0..iterations {
        for (i, c) in cases.iter().enumerate() {
            let t = Instant::now();
            let d = evaluate(black_box(&c.request), black_box(&c.layers));
            black_box(&d);
            let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
            drop(d);
            let adj = (ns as f64 - overhead).max(0.0) as u64;
            all.push(adj);
            if let Some(p) = per.get_mut(i) {
                p.push(adj);
            }
        }
    }
    all.sort_unstable();
    if per_case {
        for (c, p) in cases.iter().zip(per.iter_mut()) {
            p.sort_unstable();
            let d = evaluate(&c.request, &c.layers);
            println!(
                "  {:<40} {:>13}  p50 {:>6.0} ns  p99 {:>6.0} ns",
                c.id.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                d.decision.as_str(),
                percentile(p, 0.5),
                percentile(p, 0.99)
            );
        }
    }
    // Throughput: untimed loop over all cases.
    let rounds = iterations.max(1);
    let start = Instant::now();
    for _ in 0..rounds {
        for c in cases {
            black_box(evaluate(black_box(&c.request), black_box(&c.layers)));
        }
    }
    let el: Duration = start.elapsed();
    let n = (rounds * cases.len()) as f64;
    Stats {
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        mean: all.iter().sum::<u64>() as f64 / all.len().max(1) as f64,
        per_sec: n / el.as_secs_f64(),
    }
}

/// N identity policies about services no case asks for.
fn unrelated_policies(n: usize) -> Result<Vec<Arc<Policy>>> {
    let services = [
        "rds",
        "sns",
        "glue",
        "athena",
        "ecs",
        "eks",
        "redshift",
        "cloudformation",
    ];
    (0..n)
        .map(|i| {
            let svc = services.get(i % services.len()).copied().unwrap_or("ec2");
            let text = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"U{i}","Effect":"Allow","Action":["{svc}:Describe*","{svc}:Get*"],"Resource":"arn:aws:{svc}:*:111111111111:thing/{i}/*","Condition":{{"StringEquals":{{"aws:PrincipalTag/team":"t{i}"}}}}}},{{"Effect":"Deny","Action":"{svc}:Delete*","Resource":"*"}}]}}"#
            );
            Policy::parse(&format!("unrelated-{i}"), &text, PolicyType::Identity)
                .map(Arc::new)
                .map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect()
}

pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.cases)
        .with_context(|| format!("cannot read `{}`", args.cases.display()))?;
    let mut cases = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        cases.push(parse_case(line).map_err(|e| anyhow::anyhow!("line {}: {e}", n + 1))?);
    }
    if cases.is_empty() {
        bail!("`{}` holds no case", args.cases.display());
    }
    let overhead = clock_overhead();
    println!(
        "ward policy bench: {} cases x {} timed decisions (clock overhead {overhead:.0} ns subtracted)",
        cases.len(),
        args.iterations
    );
    let base = measure(&cases, args.iterations, overhead, args.per_case);
    println!(
        "baseline:   p50 {:>6.0} ns   p99 {:>6.0} ns   mean {:>6.0} ns   {:>10.0} decisions/s",
        base.p50, base.p99, base.mean, base.per_sec
    );
    if args.unrelated > 0 {
        let extra = unrelated_policies(args.unrelated)?;
        for c in &mut cases {
            let mut ps: Vec<Arc<Policy>> = c.layers.identity.policies().to_vec();
            ps.extend(extra.iter().cloned());
            c.layers.identity = PolicySet::new(ps);
        }
        let with = measure(&cases, args.iterations, overhead, false);
        println!(
            "+{:<5} unrelated identity policies per principal: p50 {:>6.0} ns   p99 {:>6.0} ns   {:>10.0} decisions/s   (p50 ratio {:.2})",
            args.unrelated,
            with.p50,
            with.p99,
            with.per_sec,
            if base.p50 > 0.0 { with.p50 / base.p50 } else { 0.0 }
        );
    }
    Ok(ExitCode::SUCCESS)
}
