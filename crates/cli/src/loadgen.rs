//! `ward bench-server`: request throughput and latency of a real `ward
//! serve` (same process, separate runtime, SQLite store with durable
//! writes) driven over loopback by keep-alive HTTP/1.1 connections whose
//! requests are signed with SigV4. A connection sending the same request
//! again within the second resends it as signed (what wrk or oha do with a
//! fixed request); the server verifies every signature in full either way.
//! `--sign-each` signs every request afresh, as an SDK does.
//!
//! Scenarios: `GetCallerIdentity`, `AssumeRole`, durable `CreateUser` (a new
//! name each time), and one `ListUsers` page with N users in the account.

use anyhow::{anyhow, bail, Result};
use clap::Args;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use ward_core::crypto::Sealer;
use ward_core::iam::{Entity, Iam};
use ward_core::model::now;
use ward_core::store::Store;
use ward_server::{AppState, Config};
use ward_store::SqliteStore;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Seconds per scenario and concurrency level.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Users in the account for the ListUsers page.
    #[arg(long, default_value_t = 200_000)]
    users: usize,
    /// Run only the scenarios whose name contains this (case-insensitive),
    /// e.g. `--only getcaller` for profiling one path.
    #[arg(long)]
    only: Option<String>,
    /// Record every request in the audit trail (as `ward serve` does);
    /// run once with and once without to see what recording costs.
    #[arg(long)]
    audit: bool,
    /// Run each scenario (but the ListUsers page) twice in this run, with
    /// the audit trail off and on, and print what recording keeps.
    #[arg(long)]
    compare_audit: bool,
    /// Rounds of `--compare-audit` per scenario (each server once a
    /// round, alternating which goes first): more rounds, a steadier
    /// median on a noisy machine.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=99))]
    rounds: u32,
    /// Sign every request afresh, as an SDK does (the load generator then
    /// spends more of the machine's CPU), instead of resending a request
    /// identical to the one before as it was signed.
    #[arg(long)]
    sign_each: bool,
    /// The server's worker threads (as `ward serve --workers`; default: one
    /// per core). The load generator runs on this machine too, on one
    /// thread of its own.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,
    /// Drive GetCallerIdentity and AssumeRole with wrk (on PATH; Debian:
    /// `apt-get install wrk`) instead of the built-in load generator: one
    /// request signed here, resent as signed by `wrk -t1 -cN --latency`.
    /// CreateUser (a new name each time) and the ListUsers page keep the
    /// built-in generator.
    #[arg(long)]
    wrk: bool,
}

impl LoadArgs {
    fn workers(&self) -> usize {
        crate::serve::workers(self.workers)
    }
}

const ACCOUNT: &str = "123456789012";

struct Key {
    id: String,
    secret: String,
    token: Option<String>,
}

/// The headers of a SigV4-signed `POST /` carrying `body`, `authorization`
/// last (`content-length` is left to the sender).
fn signed_headers(
    host: &str,
    key: &Key,
    service: &str,
    body: &str,
    amz_date: &str,
) -> Result<Vec<(String, String)>> {
    let mut headers = vec![
        ("host".to_string(), host.to_string()),
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded; charset=utf-8".to_string(),
        ),
        ("x-amz-date".to_string(), amz_date.to_string()),
    ];
    crate::client::sign_post(
        &mut headers,
        body,
        &key.id,
        &key.secret,
        key.token.as_deref(),
        "us-east-1",
        service,
    )?;
    Ok(headers)
}

/// Run `wrk -t1 -c{conns} --latency` for `secs` seconds against `addr`
/// with one request signed now (valid for the 15 minutes SigV4 allows).
fn wrk(
    addr: SocketAddr,
    key: &Key,
    service: &str,
    body: &str,
    conns: usize,
    secs: u64,
) -> Result<Stats> {
    let amz_date = ward_sigv4::format_amz_date(now());
    let headers = signed_headers(&addr.to_string(), key, service, body, &amz_date)?;
    let lua_str = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
    let mut script = format!("wrk.method = \"POST\"\nwrk.body = {}\n", lua_str(body));
    for (k, v) in &headers {
        // wrk adds a `Host` of its own unless the table has one by that
        // exact name; two would change what was signed.
        let k = if k == "host" { "Host" } else { k.as_str() };
        script.push_str(&format!("wrk.headers[{}] = {}\n", lua_str(k), lua_str(v)));
    }
    let path = std::env::temp_dir().join(format!("ward-bench-{}.lua", std::process::id()));
    std::fs::write(&path, script)?;
    let out = std::process::Command::new("wrk")
        .arg("-t1")
        .arg(format!("-c{conns}"))
        .arg(format!("-d{secs}s"))
        .arg("--latency")
        .arg("-s")
        .arg(&path)
        .arg(format!("http://{addr}/"))
        .output();
    let _ = std::fs::remove_file(&path);
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("--wrk: `wrk` is not on PATH (Debian: apt-get install wrk)")
        }
        Err(e) => bail!("--wrk: running wrk: {e}"),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "--wrk: wrk failed ({}): {}{}",
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_wrk(&text)
}

/// wrk's report (`--latency`): requests, seconds, req/s, p50, p99, and the
/// non-2xx answers and socket errors as errors.
fn parse_wrk(text: &str) -> Result<Stats> {
    let duration = |v: &str| -> Option<f64> {
        let split = v.find(|c: char| c.is_ascii_alphabetic())?;
        let (n, unit) = v.split_at(split);
        let n: f64 = n.parse().ok()?;
        Some(match unit {
            "us" => n,
            "ms" => n * 1e3,
            "s" => n * 1e6,
            "m" => n * 60e6,
            "h" => n * 3600e6,
            _ => return None,
        })
    };
    let (mut requests, mut seconds, mut rps) = (None, None, None);
    let (mut p50, mut p99, mut errors) = (None, None, 0u64);
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            [n, "requests", "in", t, ..] => {
                requests = n.parse::<usize>().ok();
                seconds = duration(t.trim_end_matches(',')).map(|us| us / 1e6);
            }
            ["Requests/sec:", r] => rps = r.parse::<f64>().ok(),
            ["50%", t] => p50 = duration(t),
            ["99%", t] => p99 = duration(t),
            ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse::<u64>()?,
            ["Socket", "errors:", rest @ ..] => {
                errors += rest
                    .iter()
                    .filter_map(|x| x.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    match (requests, seconds, rps, p50, p99) {
        (Some(requests), Some(seconds), Some(rps), Some(p50_us), Some(p99_us)) => Ok(Stats {
            rps,
            requests,
            seconds,
            p50_us,
            p99_us,
            errors,
            cpu_us: None,
        }),
        _ => bail!("--wrk: could not read wrk's report:\n{text}"),
    }
}

/// One keep-alive connection.
struct Conn {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
    host: String,
    /// The last request sent: its body, `x-amz-date` and signed bytes.
    last: Option<(String, String, Vec<u8>)>,
    sign_each: bool,
}

impl Conn {
    async fn open(addr: SocketAddr, sign_each: bool) -> Result<Conn> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        Ok(Conn {
            r: BufReader::new(r),
            w,
            host: addr.to_string(),
            last: None,
            sign_each,
        })
    }

    /// POST a signed Query request; the HTTP status and body.
    async fn call(&mut self, key: &Key, service: &str, body: &str) -> Result<(u16, String)> {
        let amz_date = ward_sigv4::format_amz_date(now());
        match &self.last {
            Some((b, d, bytes)) if !self.sign_each && b == body && *d == amz_date => {
                self.w.write_all(bytes).await?;
                return self.answer().await;
            }
            _ => {}
        }
        let headers = signed_headers(&self.host, key, service, body, &amz_date)?;
        let mut req = String::with_capacity(512 + body.len());
        req.push_str("POST / HTTP/1.1\r\n");
        for (k, v) in &headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
        self.w.write_all(req.as_bytes()).await?;
        self.last = Some((body.to_string(), amz_date, req.into_bytes()));
        self.answer().await
    }

    /// Read one answer: the HTTP status and body.
    async fn answer(&mut self) -> Result<(u16, String)> {
        // Status line and headers.
        let mut line = String::new();
        self.r.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("bad status line `{line}`"))?;
        let mut len = 0usize;
        loop {
            line.clear();
            self.r.read_line(&mut line).await?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse()?;
                }
            }
        }
        let mut buf = vec![0u8; len];
        self.r.read_exact(&mut buf).await?;
        Ok((status, String::from_utf8_lossy(&buf).into_owned()))
    }
}

struct Stats {
    rps: f64,
    /// Requests answered, and the seconds they took.
    requests: usize,
    seconds: f64,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
    /// CPU time this process spent per request, in µs (`--compare-audit`).
    cpu_us: Option<f64>,
}

/// The CPU time this process has used, user and system, all threads
/// (those gone included), from `/proc/self/stat` (Linux; `None` elsewhere).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: utime and stime are the 14th and 15th fields of the line.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // The kernel reports in USER_HZ, 100 on every Linux architecture Ward
    // builds for.
    Some(ticks / 100.0)
}

/// Run `conns` connections for `secs` seconds; `body(n)` makes the n-th request.
async fn drive(
    addr: SocketAddr,
    key: Arc<Key>,
    service: &'static str,
    conns: usize,
    secs: u64,
    sign_each: bool,
    body: Arc<dyn Fn(u64) -> String + Send + Sync>,
) -> Result<Stats> {
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (key, body, counter, errors) =
            (key.clone(), body.clone(), counter.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<u32> = Vec::new();
            let mut c = Conn::open(addr, sign_each).await?;
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let b = body(n);
                let t = Instant::now();
                let (status, _) = c.call(&key, service, &b).await?;
                lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                if status != 200 {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let el = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |q: f64| {
        let i = ((all.len().saturating_sub(1)) as f64 * q).round() as usize;
        all.get(i).copied().unwrap_or(0) as f64
    };
    Ok(Stats {
        rps: all.len() as f64 / el,
        requests: all.len(),
        seconds: el,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        errors: errors.load(Ordering::Relaxed),
        cpu_us: None,
    })
}

pub fn run(args: &LoadArgs) -> Result<std::process::ExitCode> {
    if args.compare_audit {
        return compare(args);
    }
    let server = Server::start(args.audit, args.workers())?;
    let client_rt = client_runtime()?;
    header(args, &server);
    for (name, conns) in scenarios(args) {
        let mut s = client_rt.block_on(server.drive(name, conns, args))?;
        server.drain(&mut s);
        row(name, conns, &s);
    }
    if !wanted(args, "ListUsers") {
        return Ok(std::process::ExitCode::SUCCESS);
    }
    server.list_users(args, &client_rt)
}

/// Whether `--only` asks for the scenario `name`.
fn wanted(args: &LoadArgs, name: &str) -> bool {
    args.only
        .as_ref()
        .is_none_or(|o| name.to_lowercase().contains(&o.to_lowercase()))
}

/// The scenarios asked for (but the ListUsers page), with their connections.
fn scenarios(args: &LoadArgs) -> Vec<(&'static str, usize)> {
    let mut out = Vec::new();
    for conns in [1usize, 8] {
        for name in ["GetCallerIdentity", "AssumeRole"] {
            out.push((name, conns));
        }
    }
    out.push(("CreateUser (durable)", 8));
    out.retain(|(name, _)| wanted(args, name));
    out
}

fn client_runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ward-loadgen")
        .enable_all()
        .build()?)
}

/// How requests are sent, for the report's first line.
fn mode(args: &LoadArgs) -> &'static str {
    if args.wrk {
        "GetCallerIdentity and AssumeRole driven by wrk -t1 (one request signed once), CreateUser by the built-in generator"
    } else if args.sign_each {
        "every request signed afresh"
    } else {
        "a request identical to the one before resent as signed"
    }
}

fn header(args: &LoadArgs, server: &Server) {
    println!(
        "ward bench-server: {} s per run, server on {} ({} worker threads), SQLite with synchronous=FULL, audit trail {}, {}",
        args.seconds,
        server.addr,
        args.workers(),
        if server.audit { "on" } else { "off" },
        mode(args)
    );
    println!(
        "{:<34} {:>5} {:>11} {:>10} {:>10} {:>7}",
        "scenario", "conns", "req/s", "p50 µs", "p99 µs", "errors"
    );
}

fn row(name: &str, conns: usize, s: &Stats) {
    println!(
        "{name:<34} {conns:>5} {:>11.0} {:>10.0} {:>10.0} {:>7}",
        s.rps, s.p50_us, s.p99_us, s.errors
    );
}

/// `--compare-audit`: two servers up at once, one recording and one not,
/// driven in turns; per scenario the median req/s of each and the median of
/// the rounds' ratios.
fn compare(args: &LoadArgs) -> Result<std::process::ExitCode> {
    let off = Server::start(false, args.workers())?;
    let on = Server::start(true, args.workers())?;
    let client_rt = client_runtime()?;
    println!(
        "ward bench-server --compare-audit: {} rounds of {} s per server and scenario, servers on {} (audit off) and {} (audit on), {} worker threads each, SQLite with synchronous=FULL, {}; the recording server's time includes storing what its appender had left when a turn ended; cpu: this process's CPU µs per request (servers, appender, built-in load generator), the median of the rounds",
        args.rounds,
        args.seconds,
        off.addr,
        on.addr,
        args.workers(),
        mode(args)
    );
    println!(
        "{:<22} {:>5} {:>12} {:>12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>12}",
        "scenario",
        "conns",
        "off req/s",
        "on req/s",
        "off p50",
        "on p50",
        "off p99",
        "on p99",
        "off cpu",
        "on cpu",
        "kept"
    );
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    for (name, conns) in scenarios(args) {
        let (mut a, mut b, mut kept) = (Vec::new(), Vec::new(), Vec::new());
        // Each scenario runs `rounds` times on each server, alternating
        // which goes first, so the machine's drift (other tenants, CPU
        // steal) falls on both alike.
        for round in 0..args.rounds {
            let mut pair = [None, None];
            for first_on in [round % 2 == 1, round % 2 == 0] {
                let server = if first_on { &on } else { &off };
                // Recording is a process-wide switch: off while the other
                // server runs, so it notes nothing.
                ward_core::audit::set_recording(first_on);
                let cpu = process_cpu_seconds();
                let mut s = client_rt.block_on(server.drive(name, conns, args))?;
                server.drain(&mut s);
                // This process's CPU (both servers, their appenders, the
                // built-in load generator; not wrk) per request answered.
                s.cpu_us = match (cpu, process_cpu_seconds()) {
                    (Some(a), Some(b)) if s.requests > 0 => Some((b - a) * 1e6 / s.requests as f64),
                    _ => None,
                };
                if s.errors > 0 {
                    bail!("{name}: {} requests failed", s.errors);
                }
                if let Some(slot) = pair.get_mut(usize::from(first_on)) {
                    *slot = Some(s);
                }
            }
            let [Some(x), Some(y)] = pair else {
                continue;
            };
            kept.push(y.rps / x.rps * 100.0);
            a.push(x);
            b.push(y);
        }
        let med = |v: &[Stats], f: fn(&Stats) -> f64| median(v.iter().map(f).collect());
        let (lo, hi) = kept
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), k| (l.min(*k), h.max(*k)));
        let cpu = |v: &[Stats]| -> String {
            let c: Vec<f64> = v.iter().filter_map(|s| s.cpu_us).collect();
            if c.is_empty() {
                "-".into()
            } else {
                format!("{:.1}", median(c))
            }
        };
        println!(
            "{name:<22} {conns:>5} {:>12.0} {:>12.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8} {:>8} {:>5.1} % kept (rounds {lo:.0}–{hi:.0} %)",
            med(&a, |s| s.rps),
            med(&b, |s| s.rps),
            med(&a, |s| s.p50_us),
            med(&b, |s| s.p50_us),
            med(&a, |s| s.p99_us),
            med(&b, |s| s.p99_us),
            cpu(&a),
            cpu(&b),
            median(kept.clone()),
        );
    }
    ward_core::audit::set_recording(true);
    Ok(std::process::ExitCode::SUCCESS)
}

/// A server under test: its state (and store), address, runtime and the keys the
/// scenarios sign with.
struct Server {
    audit: bool,
    dir: std::path::PathBuf,
    state: Arc<AppState<SqliteStore>>,
    addr: SocketAddr,
    /// Stops the server, and its thread.
    serving: Option<(
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<std::io::Result<()>>,
    )>,
    root: Arc<Key>,
    user: Arc<Key>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.serving.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    fn start(audit: bool, workers: usize) -> Result<Server> {
        let dir = std::env::temp_dir().join(format!("ward-bench-{}-{audit}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let store = Arc::new(SqliteStore::open(&dir.join("ward.db")).map_err(|e| anyhow!("{e}"))?);
        let iam = Iam::new(store, Sealer::new(&Sealer::generate_key()));
        let e = |e: ward_core::ApiError| anyhow!("{e}");
        iam.ensure_account(ACCOUNT, now()).map_err(e)?;
        let root = iam.create_access_key(ACCOUNT, None, now()).map_err(e)?;
        iam.create_user(ACCOUNT, "bench", None, vec![], None, now())
            .map_err(e)?;
        let uk = iam
            .create_access_key(ACCOUNT, Some("bench"), now())
            .map_err(e)?;
        iam.put_inline(ACCOUNT, Entity::User, "bench", "assume", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#).map_err(e)?;
        let trust = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}"#
        );
        iam.create_role(
            ACCOUNT,
            "bench-role",
            None,
            &trust,
            None,
            None,
            vec![],
            None,
            now(),
        )
        .map_err(e)?;
        let state = Arc::new(AppState::new(iam, Config::default(), None));
        if audit {
            state.start_auditing(ward_server::TrailConfig::default());
        }
        // The server on its own threads, served as `ward serve` serves.
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = state.clone();
        let thread = std::thread::Builder::new()
            .name("ward-accept".into())
            .spawn(move || {
                ward_server::serve(listener, serving, workers, async {
                    let _ = stopped.await;
                })
            })?;
        Ok(Server {
            audit,
            dir,
            state,
            addr,
            serving: Some((stop, thread)),
            root: Arc::new(Key {
                id: root.key.id.clone(),
                secret: root.secret.clone(),
                token: None,
            }),
            user: Arc::new(Key {
                id: uk.key.id.clone(),
                secret: uk.secret.clone(),
                token: None,
            }),
        })
    }

    /// Store the records the audit appender still holds from the run just
    /// ended, and charge the time to the run: recording counts as keeping
    /// up only if what it left behind is stored too.
    fn drain(&self, s: &mut Stats) {
        if !self.audit {
            return;
        }
        let t = Instant::now();
        self.state.flush_audit();
        s.seconds += t.elapsed().as_secs_f64();
        if s.seconds > 0.0 {
            s.rps = s.requests as f64 / s.seconds;
        }
    }

    /// Run one scenario.
    async fn drive(&self, name: &str, conns: usize, args: &LoadArgs) -> Result<Stats> {
        let (key, service, body): (_, _, Arc<dyn Fn(u64) -> String + Send + Sync>) = match name {
            "GetCallerIdentity" => (
                self.root.clone(),
                "sts",
                Arc::new(|_| "Action=GetCallerIdentity&Version=2011-06-15".to_string()),
            ),
            "AssumeRole" => (
                self.user.clone(),
                "sts",
                Arc::new(|n| {
                    format!("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A{ACCOUNT}%3Arole%2Fbench-role&RoleSessionName=s{n}")
                }),
            ),
            _ => {
                // Names stay new across rounds.
                let base = u64::try_from(now()).unwrap_or(0) * 1_000_000;
                (
                    self.root.clone(),
                    "iam",
                    Arc::new(move |n| {
                        format!(
                            "Action=CreateUser&Version=2010-05-08&UserName=load-{}",
                            base + n
                        )
                    }),
                )
            }
        };
        // Every GetCallerIdentity is the same request, and so can every
        // AssumeRole be; CreateUser needs a new name each time.
        if args.wrk && service == "sts" {
            return wrk(self.addr, &key, service, &body(0), conns, args.seconds);
        }
        drive(
            self.addr,
            key,
            service,
            conns,
            args.seconds,
            args.sign_each,
            body,
        )
        .await
    }

    /// The ListUsers page scenario over `--users` users.
    fn list_users(
        &self,
        args: &LoadArgs,
        client_rt: &tokio::runtime::Runtime,
    ) -> Result<std::process::ExitCode> {
        let store = &self.state.iam.store;
        // ListUsers over a large account: load the users straight into the store.
        let have = store
            .read(|tx| tx.count("user", &format!("{ACCOUNT}/")))
            .map_err(|e| anyhow!("{e}"))? as usize;
        let mut n = have;
        let t = Instant::now();
        while n < args.users {
            let upto = (n + 20_000).min(args.users);
            store
                .write(|tx| -> Result<(), ward_core::store::StoreError> {
                    for i in n..upto {
                        let name = format!("bulk-{i:07}");
                        let u = ward_core::model::User {
                            account: ACCOUNT.into(),
                            arn: format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
                            id: ward_core::model::new_id("AIDA"),
                            name: name.clone(),
                            path: "/".into(),
                            created: now(),
                            tags: vec![],
                            permissions_boundary: None,
                        };
                        let v = serde_json::to_vec(&u)
                            .map_err(|e| ward_core::store::StoreError(e.to_string()))?;
                        tx.put("user", &format!("{ACCOUNT}/{name}"), &v)?;
                    }
                    Ok(())
                })
                .map_err(|e| anyhow!("{e}"))?;
            n = upto;
        }
        if args.users > have {
            println!(
                "(loaded {} users in {:.1} s)",
                args.users - have,
                t.elapsed().as_secs_f64()
            );
        }
        let page: Arc<dyn Fn(u64) -> String + Send + Sync> = Arc::new(|n| {
            // Pages from different places of the account.
            format!(
                "Action=ListUsers&Version=2010-05-08&MaxItems=100&Marker={ACCOUNT}%2Fbulk-{:07}",
                (n * 7919) % 190_000
            )
        });
        let s = client_rt.block_on(drive(
            self.addr,
            self.root.clone(),
            "iam",
            1,
            args.seconds,
            args.sign_each,
            page,
        ))?;
        row(
            &format!("ListUsers page of 100 ({} users)", args.users.max(have)),
            1,
            &s,
        );
        if s.errors > 0 {
            bail!("some requests failed");
        }
        Ok(std::process::ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// wrk 4.1's report with `--latency`, as it prints it.
    const REPORT: &str = "Running 3s test @ http://127.0.0.1:8711/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   125.10us   50.21us   2.01ms   90.11%
    Req/Sec    61.20k     3.10k   66.10k    80.00%
  Latency Distribution
     50%  118.00us
     75%  131.00us
     90%  150.00us
     99%    1.25ms
  183456 requests in 3.00s, 89.21MB read
  Socket errors: connect 0, read 2, write 1, timeout 0
  Non-2xx or 3xx responses: 5
Requests/sec:  61152.11
Transfer/sec:     29.74MB
";

    #[test]
    fn wrk_reports_are_read() {
        let s = parse_wrk(REPORT).unwrap();
        assert_eq!(s.requests, 183_456);
        assert!((s.seconds - 3.0).abs() < 1e-9);
        assert!((s.rps - 61_152.11).abs() < 1e-6);
        assert!((s.p50_us - 118.0).abs() < 1e-9);
        assert!((s.p99_us - 1250.0).abs() < 1e-9);
        assert_eq!(s.errors, 8);
        // A clean run counts no errors; a minute-long one reads as 60 s.
        let clean = REPORT
            .replace(
                "  Socket errors: connect 0, read 2, write 1, timeout 0\n",
                "",
            )
            .replace("  Non-2xx or 3xx responses: 5\n", "")
            .replace("requests in 3.00s", "requests in 1.00m");
        let s = parse_wrk(&clean).unwrap();
        assert_eq!(s.errors, 0);
        assert!((s.seconds - 60.0).abs() < 1e-9);
        // Without the latency distribution (no --latency), nothing is made up.
        let short = REPORT.replace("     99%    1.25ms\n", "");
        assert!(parse_wrk(&short).is_err());
    }
}
