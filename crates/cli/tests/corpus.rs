#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The data-driven corpus: every case under `crates/policy/tests/data/`
//! runs through the real `ward policy eval` binary, and each result is
//! compared with the expectation written beside the case (decision,
//! deciding policy type, and where given the matched Sids, the context keys
//! reported missing, the AccessDenied sentence, or the error message).

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policy/tests/data")
}

/// Run `ward policy eval` on JSON Lines and return one result per line.
fn eval(lines: &[String]) -> Vec<Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(["policy", "eval"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn check(id: &str, got: &Value, expect: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    assert!(expect.is_object(), "{id}: no expectation");
    if let Some(e) = expect.get("error") {
        let msg = got
            .pointer("/error/policy_error/message")
            .or_else(|| got.pointer("/error/message"));
        if msg != Some(e) {
            bad.push(format!("{id}: expected error {e}, got {got}"));
        }
        return bad;
    }
    for key in ["decision", "decided_by", "message", "missing_context_keys"] {
        if let Some(want) = expect.get(key) {
            if got.get(key) != Some(want) {
                bad.push(format!(
                    "{id}: {key} expected {want}, got {}",
                    got.get(key).unwrap_or(&Value::Null)
                ));
            }
        }
    }
    if let Some(want) = expect.get("matched_sids") {
        let mut got_sids: Vec<String> = got["matched_statements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["sid"].to_string())
            .collect();
        let mut want: Vec<String> = want
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.to_string())
            .collect();
        got_sids.sort();
        got_sids.dedup();
        want.sort();
        want.dedup();
        if got_sids != want {
            bad.push(format!(
                "{id}: matched sids expected {want:?}, got {got_sids:?}"
            ));
        }
    }
    bad
}

#[test]
fn corpus_files_through_ward_policy_eval() {
    let mut failures = Vec::new();
    let mut count = 0;
    let mut files: Vec<_> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p.to_string_lossy().ends_with(".expected.json")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 4, "corpus files missing");
    for f in files {
        let data: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        assert!(data["source"]
            .as_str()
            .unwrap()
            .starts_with("https://docs.aws.amazon.com/"));
        let cases = data["cases"].as_array().unwrap();
        let lines: Vec<String> = cases
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.as_object_mut().unwrap().remove("expect");
                c.to_string()
            })
            .collect();
        let results = eval(&lines);
        assert_eq!(
            results.len(),
            cases.len(),
            "{}: one result per case",
            f.display()
        );
        for (c, r) in cases.iter().zip(&results) {
            let id = c["id"].as_str().unwrap();
            assert_eq!(r["id"], c["id"]);
            failures.extend(check(id, r, &c["expect"]));
            count += 1;
        }
    }
    assert!(count >= 30, "only {count} corpus cases");
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The 20 cases generated from the shared benchmark workload, with decisions
/// worked out by hand from the policies (not copied from the engine).
#[test]
fn bench_workload_cases_decide_correctly() {
    let lines: Vec<String> = std::fs::read_to_string(data_dir().join("bench-cases.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(data_dir().join("bench-cases.expected.json")).unwrap(),
    )
    .unwrap();
    let results = eval(&lines);
    assert_eq!(results.len(), 20);
    let mut failures = Vec::new();
    for r in &results {
        let id = r["id"].as_str().unwrap();
        failures.extend(check(id, r, &expected["expect"][id]));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_malformed_line_does_not_stop_the_stream() {
    let good = r#"{"id":"ok","request":{"principal":"arn:aws:iam::111111111111:user/a","action":"s3:GetObject","resource":"*"},"policies":{}}"#;
    let results = eval(&[
        good.to_string(),
        "{not json".to_string(),
        r#"{"id":7,"request":{}}"#.to_string(),
        good.to_string(),
    ]);
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["decision"], "implicitDeny");
    assert!(results[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    assert_eq!(results[2]["id"], 7);
    assert!(results[2]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("malformed"));
    assert_eq!(results[3]["decision"], "implicitDeny");
}

/// A case cut short (its last string never closed) is answered as
/// malformed, and the case on the next line still gets its answer.
#[test]
fn a_truncated_line_does_not_swallow_the_next_case() {
    let good = r#"{"id":"ok","request":{"principal":"arn:aws:iam::111111111111:user/a","action":"s3:GetObject","resource":"*"},"policies":{}}"#;
    let results = eval(&[
        r#"{"id":"cut","request":{"principal":"arn:aws:iam::1"#.to_string(),
        good.to_string(),
        good.to_string(),
    ]);
    assert_eq!(results.len(), 3, "{results:?}");
    assert!(results[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    assert_eq!(results[1]["id"], "ok");
    assert_eq!(results[1]["decision"], "implicitDeny");
    assert_eq!(results[2]["decision"], "implicitDeny");
}

#[test]
fn validate_exit_status_and_findings() {
    let dir = std::env::temp_dir().join(format!("ward-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        "{\n \"Version\": \"2012-10-17\",\n \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:Get Object\", \"Resource\": \"*\"}]\n}",
    )
    .unwrap();
    let good = dir.join("good.json");
    std::fs::write(
        &good,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:PassRole","Resource":"*"}]}"#,
    )
    .unwrap();
    let run = |p: &PathBuf| {
        Command::new(env!("CARGO_BIN_EXE_ward"))
            .args(["policy", "validate", "--json"])
            .arg(p)
            .output()
            .unwrap()
    };
    let out = run(&bad);
    assert_eq!(out.status.code(), Some(1));
    let f: Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(f["severity"], "ERROR");
    assert_eq!(f["code"], "INVALID_ACTION");
    assert_eq!(f["line"], 3);
    // A security warning is not an error: exit 0.
    let out = run(&good);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("PASS_ROLE_WITH_STAR_IN_RESOURCE"));
    std::fs::remove_dir_all(&dir).ok();
}
