//! `ward bench-server`: request throughput and latency of a real `ward
//! serve` (same process, separate runtime, SQLite store with durable
//! writes) driven over loopback by keep-alive HTTP/1.1 connections that
//! sign every request with SigV4, as an SDK does.
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
use ward_sigv4::SecretKey;
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
}

const ACCOUNT: &str = "123456789012";

struct Key {
    id: String,
    secret: String,
    token: Option<String>,
}

/// One keep-alive connection.
struct Conn {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
    host: String,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        Ok(Conn {
            r: BufReader::new(r),
            w,
            host: addr.to_string(),
        })
    }

    /// POST a signed Query request; the HTTP status and body.
    async fn call(&mut self, key: &Key, service: &str, body: &str) -> Result<(u16, String)> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let amz_date = ward_sigv4::format_amz_date(i64::try_from(now)?);
        let mut headers = vec![
            ("host".to_string(), self.host.clone()),
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            ),
            ("x-amz-date".to_string(), amz_date),
        ];
        if let Some(t) = &key.token {
            headers.push(("x-amz-security-token".to_string(), t.clone()));
        }
        let hash = ward_sigv4::sha256_hex(body.as_bytes());
        let auth = {
            let req = ward_sigv4::Request {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                body_sha256: &hash,
            };
            ward_sigv4::authorization_header(
                &req,
                &key.id,
                &SecretKey::new(key.secret.clone()),
                "us-east-1",
                service,
            )
            .map_err(|e| anyhow!("{e}"))?
        };
        let mut req = String::with_capacity(512 + body.len());
        req.push_str("POST / HTTP/1.1\r\n");
        for (k, v) in &headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!(
            "authorization: {auth}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ));
        self.w.write_all(req.as_bytes()).await?;
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
    p50_us: f64,
    p99_us: f64,
    errors: u64,
}

/// Run `conns` connections for `secs` seconds; `body(n)` makes the n-th request.
async fn drive(
    addr: SocketAddr,
    key: Arc<Key>,
    service: &'static str,
    conns: usize,
    secs: u64,
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
            let mut c = Conn::open(addr).await?;
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
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        errors: errors.load(Ordering::Relaxed),
    })
}

pub fn run(args: &LoadArgs) -> Result<std::process::ExitCode> {
    if !args.compare_audit {
        let results = std::cell::RefCell::new(Vec::new());
        return run_once(args, args.audit, &results);
    }
    let off = std::cell::RefCell::new(Vec::new());
    let on = std::cell::RefCell::new(Vec::new());
    run_once(args, false, &off)?;
    println!();
    run_once(args, true, &on)?;
    println!();
    println!("audit trail on vs off (same run):");
    for ((name, conns, a), (_, _, b)) in off.borrow().iter().zip(on.borrow().iter()) {
        println!(
            "{name:<34} {conns:>5} {a:>9.0} -> {b:>9.0} req/s  {:>5.1} % kept",
            b / a * 100.0
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// One server, every scenario wanted; (scenario, connections, req/s) into
/// `results`.
fn run_once(
    args: &LoadArgs,
    audit: bool,
    results: &std::cell::RefCell<Vec<(String, usize, f64)>>,
) -> Result<std::process::ExitCode> {
    let dir = std::env::temp_dir().join(format!("ward-bench-{}-{audit}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = Arc::new(SqliteStore::open(&dir.join("ward.db")).map_err(|e| anyhow!("{e}"))?);
    let iam = Iam::new(store.clone(), Sealer::new(&Sealer::generate_key()));
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
    // The server on its own runtime (2 worker threads: this machine's cores).
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = server_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let app = ward_server::router(state);
    server_rt.spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ward-loadgen")
        .enable_all()
        .build()?;
    let rootk = Arc::new(Key {
        id: root.key.id.clone(),
        secret: root.secret.clone(),
        token: None,
    });
    let userk = Arc::new(Key {
        id: uk.key.id.clone(),
        secret: uk.secret.clone(),
        token: None,
    });
    println!(
        "ward bench-server: {} s per run, server on {addr} (2 worker threads), SQLite with synchronous=FULL, audit trail {}",
        args.seconds,
        if audit { "on" } else { "off" }
    );
    println!(
        "{:<34} {:>5} {:>11} {:>10} {:>10} {:>7}",
        "scenario", "conns", "req/s", "p50 µs", "p99 µs", "errors"
    );
    let print = |name: &str, conns: usize, s: &Stats| {
        results.borrow_mut().push((name.to_string(), conns, s.rps));
        println!(
            "{name:<34} {conns:>5} {:>11.0} {:>10.0} {:>10.0} {:>7}",
            s.rps, s.p50_us, s.p99_us, s.errors
        );
    };
    let gci: Arc<dyn Fn(u64) -> String + Send + Sync> =
        Arc::new(|_| "Action=GetCallerIdentity&Version=2011-06-15".to_string());
    let assume: Arc<dyn Fn(u64) -> String + Send + Sync> = Arc::new(|n| {
        format!("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A{ACCOUNT}%3Arole%2Fbench-role&RoleSessionName=s{n}")
    });
    let create: Arc<dyn Fn(u64) -> String + Send + Sync> =
        Arc::new(|n| format!("Action=CreateUser&Version=2010-05-08&UserName=load-{n}"));
    let wanted = |name: &str| {
        args.only
            .as_ref()
            .is_none_or(|o| name.to_lowercase().contains(&o.to_lowercase()))
    };
    for conns in [1usize, 8] {
        if wanted("GetCallerIdentity") {
            let s = client_rt.block_on(drive(
                addr,
                rootk.clone(),
                "sts",
                conns,
                args.seconds,
                gci.clone(),
            ))?;
            print("GetCallerIdentity", conns, &s);
        }
        if wanted("AssumeRole") {
            let s = client_rt.block_on(drive(
                addr,
                userk.clone(),
                "sts",
                conns,
                args.seconds,
                assume.clone(),
            ))?;
            print("AssumeRole", conns, &s);
        }
    }
    if wanted("CreateUser") {
        let s = client_rt.block_on(drive(addr, rootk.clone(), "iam", 8, args.seconds, create))?;
        print("CreateUser (durable)", 8, &s);
    }
    if !wanted("ListUsers") || args.compare_audit {
        server_rt.shutdown_background();
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(std::process::ExitCode::SUCCESS);
    }
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
    let s = client_rt.block_on(drive(addr, rootk, "iam", 1, args.seconds, page))?;
    print(
        &format!("ListUsers page of 100 ({} users)", args.users.max(have)),
        1,
        &s,
    );
    server_rt.shutdown_background();
    let _ = std::fs::remove_dir_all(&dir);
    if s.errors > 0 {
        bail!("some requests failed");
    }
    Ok(std::process::ExitCode::SUCCESS)
}
