//! How the trail is stored: records in segments, hash-chained, indexed per
//! segment.
//!
//! A *segment* is one row holding consecutive records (one batch of the
//! appender, at most [`SEGMENT_MAX`]; one record when it commits with a
//! write), keyed by its first sequence number, zero-padded, so segments are
//! appended at the right edge of SQLite's B-tree and a backward scan lists
//! the newest first. Each record in it is `{seq, prev, hash, event}`:
//! `event` is the CloudTrail record (JSON), `hash` = SHA-256(`prev` ‖ `seq` ‖
//! `event`), `prev` the hash of the record before (64 zeros for the first),
//! stored compactly with the JSON compressed (LZ4).
//!
//! The index has one row per segment and lookup attribute value
//! (`{account}␁{attribute}␁{value}␁{segment}` → the positions in the
//! segment), and one per segment and account (`{account}␁time␁{segment}` →
//! the time range and positions). So recording costs a few rows per batch,
//! not several rows per record. `EventId`s are time-ordered (UUIDv7), so an
//! event id is found through the time index.
//!
//! Records are in time order but for the moments between a request and its
//! record being stored, so a time range is found by binary search over
//! sequence numbers (with [`SLACK`] seconds of tolerance).

use super::record::with_answer;
use super::{attributes_of, track_access, EventKeys, ATTRIBUTES, INDEXED};
use crate::error::{ApiError, ApiResult};
use crate::iam::Iam;
use crate::store::{Store, StoreError, Tx, TxMut};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub(crate) const RECORD: &str = "trail";
pub(crate) const INDEX: &str = "trail_idx";
pub(crate) const HEAD: &str = "trail_head";
const BASE: &str = "trail_base";
/// Segments committed with a write whose index rows and last-access data
/// the appender has yet to add: segment key → [`PendingKeys`] (the layout
/// before [`WAITING`]; still indexed when found).
const PENDING: &str = "trail_pending";
/// Records committed with a write and not yet chained: key (the record's
/// time-ordered event id) → [`Waiting`]. The appender chains them in its
/// next batch from the copy the write hands it in memory ([`Written`],
/// with the call's `responseElements`), deleting the row; a row whose copy
/// never arrives is chained from the row itself.
const WAITING: &str = "trail_waiting";
/// How long the appender waits for a write's record to arrive in memory
/// before chaining it from its waiting row, without `responseElements`
/// (seconds).
const ANSWER_WAIT: i64 = 2;
/// Waiting records chained in one batch, at most.
const WAITING_MAX: usize = 4096;
const ZERO: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Records in one segment, at most.
pub const SEGMENT_MAX: usize = 256;

/// How far out of time order records may be stored (seconds).
const SLACK: i64 = 60;

/// One stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub seq: u64,
    pub prev: String,
    pub hash: String,
    /// The CloudTrail record, as JSON text.
    pub event: String,
}

/// The record layout's mark.
const BINARY: &[u8; 2] = b"W2";
/// The layout of a record kept uncompressed inside a compressed segment:
/// `W3`, the sequence number, the two hashes, the record's JSON text.
const RAW: &[u8; 2] = b"W3";
/// The segment layout's mark.
const SEGMENT: &[u8; 2] = b"S1";
/// A compressed segment's mark: `S2`, then an [`SEGMENT`] layout's body
/// (without its mark) compressed with LZ4 as one block, its size prepended.
/// One block for the whole segment: records of one trail repeat each
/// other's names, ARNs and agents, so they compress several times better
/// together than one by one, and the compressor's table is made once.
const SEGMENT_LZ4: &[u8; 2] = b"S2";

impl Stored {
    /// The stored bytes: `W2`, the sequence number (8 bytes, big-endian),
    /// the two hashes (32 bytes each), and the record compressed with LZ4.
    pub fn encode(&self) -> Vec<u8> {
        let (Ok(prev), Ok(hash)) = (hex::decode(&self.prev), hex::decode(&self.hash)) else {
            // Not hashes this code made: keep them as they are.
            return serde_json::to_vec(self).unwrap_or_default();
        };
        if prev.len() != 32 || hash.len() != 32 {
            return serde_json::to_vec(self).unwrap_or_default();
        }
        let body = lz4_flex::compress_prepend_size(self.event.as_bytes());
        let mut out = Vec::with_capacity(2 + 8 + 64 + body.len());
        out.extend_from_slice(BINARY);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&prev);
        out.extend_from_slice(&hash);
        out.extend_from_slice(&body);
        out
    }

    /// Bytes as [`Stored::encode`] writes them (or JSON).
    pub fn decode(bytes: &[u8]) -> Result<Stored, String> {
        let (rest, compressed) = match (bytes.strip_prefix(BINARY), bytes.strip_prefix(RAW)) {
            (Some(rest), _) => (rest, true),
            (None, Some(rest)) => (rest, false),
            (None, None) => return serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        };
        let seq = rest
            .get(..8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or("truncated record")?;
        let prev = rest.get(8..40).ok_or("truncated record")?;
        let hash = rest.get(40..72).ok_or("truncated record")?;
        let body = rest.get(72..).ok_or("truncated record")?;
        let event = if compressed {
            lz4_flex::decompress_size_prepended(body).map_err(|e| e.to_string())?
        } else {
            body.to_vec()
        };
        Ok(Stored {
            seq,
            prev: hex::encode(prev),
            hash: hex::encode(hash),
            event: String::from_utf8(event).map_err(|e| e.to_string())?,
        })
    }
}

/// A length-prefixed piece (4 bytes, big-endian, then the bytes) and what
/// follows it; `None` when truncated.
fn framed(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
    Some((b.get(4..4 + len)?, b.get(4 + len..)?))
}

/// A segment in the [`SEGMENT`] layout: a compressed one decompressed.
pub(crate) fn open(seg: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    let Some(rest) = seg.strip_prefix(SEGMENT_LZ4) else {
        return Ok(std::borrow::Cow::Borrowed(seg));
    };
    let size = rest
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or("truncated segment")? as usize;
    if size > 64 << 20 {
        return Err(format!("segment claims {size} bytes"));
    }
    let mut out = vec![0u8; 2 + size];
    if let Some(m) = out.get_mut(..2) {
        m.copy_from_slice(SEGMENT);
    }
    let n = lz4_flex::block::decompress_into(
        rest.get(4..).unwrap_or_default(),
        out.get_mut(2..).unwrap_or_default(),
    )
    .map_err(|e| e.to_string())?;
    if n != size {
        return Err(format!("segment decompressed to {n} bytes, not {size}"));
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// A segment's records, as encoded bytes each (`S1`, then each record's
/// length, 4 bytes big-endian, and bytes); a lone record is a segment of one.
pub(crate) fn split(seg: &[u8]) -> Result<Vec<&[u8]>, String> {
    let Some(mut rest) = seg.strip_prefix(SEGMENT) else {
        return Ok(vec![seg]);
    };
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (body, after) = framed(rest).ok_or("truncated segment")?;
        out.push(body);
        rest = after;
    }
    Ok(out)
}

pub(crate) fn join(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + records.iter().map(|r| r.len() + 4).sum::<usize>());
    out.extend_from_slice(SEGMENT);
    for r in records {
        out.extend_from_slice(&u32::try_from(r.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(r);
    }
    out
}

pub(crate) fn key(seq: u64) -> String {
    format!("{seq:020}")
}

pub fn chain_hash(prev: &str, seq: u64, event: &str) -> String {
    hex::encode(chain_digest(prev.as_bytes(), seq, event.as_bytes()))
}

/// [`chain_hash`] as bytes, from the previous hash's hex text.
fn chain_digest(prev_hex: &[u8], seq: u64, event: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev_hex);
    let mut n = itoa::Buffer::new();
    h.update(n.format(seq).as_bytes());
    h.update(event);
    h.finalize().into()
}

/// Lowercase hex of a hash, without allocating.
fn hex32(b: &[u8; 32]) -> [u8; 64] {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (o, x) in out.chunks_exact_mut(2).zip(b) {
        if let [hi, lo] = o {
            *hi = D.get(usize::from(x >> 4)).copied().unwrap_or(b'0');
            *lo = D.get(usize::from(x & 15)).copied().unwrap_or(b'0');
        }
    }
    out
}

/// A record in the [`RAW`] layout, appended to a segment body being built
/// (its length, then its bytes).
fn encode_into(out: &mut Vec<u8>, seq: u64, prev: &[u8; 32], hash: &[u8; 32], event: &[u8]) {
    let len = u32::try_from(2 + 8 + 64 + event.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(RAW);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(prev);
    out.extend_from_slice(hash);
    out.extend_from_slice(event);
}

/// A segment body (records as [`encode_into`] appends them) compressed in
/// the [`SEGMENT_LZ4`] layout.
fn compress_segment(body: &[u8]) -> Vec<u8> {
    // Compressed into a buffer of its own first: the crate fills one it
    // allocates without zeroing it, where a buffer of ours would be zeroed
    // at the worst case's size (the body's, and more) only to be cut to a
    // fifth of it.
    let packed = lz4_flex::block::compress(body);
    let mut out = Vec::with_capacity(2 + 4 + packed.len());
    out.extend_from_slice(SEGMENT_LZ4);
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&packed);
    out
}

/// The chain head: the last sequence number and hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Head {
    pub(crate) seq: u64,
    pub(crate) hash: String,
}

fn store_err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

fn head_of(tx: &dyn Tx) -> Result<Head, StoreError> {
    Ok(match tx.get(HEAD, "head")? {
        Some(b) => serde_json::from_slice(&b).map_err(store_err)?,
        None => Head {
            seq: 0,
            hash: ZERO.into(),
        },
    })
}

/// The oldest record kept: records up to `seq` (whose hash is `hash`) were
/// removed by retention.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Base {
    pub seq: u64,
    pub hash: String,
}

fn base_of(tx: &dyn Tx) -> Result<Base, StoreError> {
    Ok(match tx.get(BASE, "base")? {
        Some(b) => serde_json::from_slice(&b).map_err(store_err)?,
        None => Base {
            seq: 0,
            hash: ZERO.into(),
        },
    })
}

/// A record's `eventTime`, read without parsing the whole record.
pub(crate) fn event_time(event: &str) -> Option<i64> {
    const FIELD: &str = "\"eventTime\":\"";
    let at = event.find(FIELD)? + FIELD.len();
    crate::model::parse_iso8601(event.get(at..at + 20)?)
}

fn positions(text: &str) -> Vec<usize> {
    if text.is_empty() {
        // A lone record's index entry.
        return vec![0];
    }
    text.split(',').filter_map(|p| p.parse().ok()).collect()
}

fn positions_text(p: &[usize]) -> String {
    p.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

/// A time row: `{earliest} {latest} {positions}` (or one time: a lone record).
fn time_row(v: &[u8]) -> (i64, i64, Vec<usize>) {
    let text = std::str::from_utf8(v).unwrap_or("");
    let mut parts = text.splitn(3, ' ');
    let t0 = parts.next().and_then(|t| t.parse().ok()).unwrap_or(0);
    let t1 = parts.next().and_then(|t| t.parse().ok()).unwrap_or(t0);
    (t0, t1, positions(parts.next().unwrap_or("")))
}

/// A record's index rows: (index key suffix before the segment, account).
fn index_rows(keys: &EventKeys) -> impl Iterator<Item = (String, &str)> + '_ {
    keys.attributes
        .iter()
        .filter(|(a, _)| INDEXED.contains(a) && *a != "EventId")
        .map(move |(a, v)| {
            (
                format!("{}\u{1}{a}\u{1}{v}\u{1}", keys.account),
                keys.account.as_str(),
            )
        })
}

/// Write one segment of chained records with their index rows.
fn write_segment(
    tx: &mut dyn TxMut,
    records: &[Stored],
    keys: &[&EventKeys],
) -> Result<(), StoreError> {
    let Some(first) = records.first() else {
        return Ok(());
    };
    let seg = key(first.seq);
    let bytes: Vec<Vec<u8>> = records.iter().map(Stored::encode).collect();
    tx.put(RECORD, &seg, &join(&bytes))?;
    index_segment(tx, &seg, keys)
}

/// A segment's index rows: one per lookup value, one per account.
fn index_segment(tx: &mut dyn TxMut, seg: &str, keys: &[&EventKeys]) -> Result<(), StoreError> {
    // (account, attribute, value) → positions; the row keys are formatted
    // once per distinct value, not once per record.
    let mut grouped: BTreeMap<(&str, &str, &str), Vec<usize>> = BTreeMap::new();
    let mut times: BTreeMap<&str, (i64, i64, Vec<usize>)> = BTreeMap::new();
    for (pos, k) in keys.iter().enumerate() {
        for (a, v) in &k.attributes {
            if INDEXED.contains(a) && *a != "EventId" {
                grouped
                    .entry((k.account.as_str(), a, v.as_str()))
                    .or_default()
                    .push(pos);
            }
        }
        let t = times
            .entry(k.account.as_str())
            .or_insert((k.time, k.time, Vec::new()));
        t.0 = t.0.min(k.time);
        t.1 = t.1.max(k.time);
        t.2.push(pos);
    }
    for ((account, a, v), p) in grouped {
        tx.put(
            INDEX,
            &format!("{account}\u{1}{a}\u{1}{v}\u{1}{seg}"),
            positions_text(&p).as_bytes(),
        )?;
    }
    for (acct, (t0, t1, p)) in times {
        tx.put(
            INDEX,
            &format!("{acct}\u{1}time\u{1}{seg}"),
            format!("{t0} {t1} {}", positions_text(&p)).as_bytes(),
        )?;
    }
    Ok(())
}

/// A write's record as it committed, handed from the write to the appender
/// in memory with the call's answer; its waiting row is the durable copy,
/// chained from the store only if this one never arrives (a crash, a
/// failed batch).
#[derive(Debug, Clone)]
pub struct Written {
    /// The waiting row's key.
    pub key: String,
    /// The record, as JSON text, with `"responseElements":null`.
    pub event: String,
    pub keys: EventKeys,
    /// The call's `responseElements` (JSON text); `None`: nothing to record.
    pub answer: Option<String>,
    /// The record as it committed, with the decisions made by then, for
    /// the edge to finish again when the request makes more after its write
    /// (`AssumeRole` spends its MFA code, a write, before its trust policy
    /// and the caller's policies decide). The edge takes it; the appender
    /// never sees it.
    pub draft: Option<super::Draft>,
}

/// Append events inside a write transaction: the records writes committed
/// (`written`, handed over in memory with their answers, then those still
/// waiting in the store past [`ANSWER_WAIT`], oldest first), then `events`,
/// chained, in segments. A waiting row younger than that is left for its
/// record to arrive in memory (its write committed a moment ago), unless
/// `force`.
pub(crate) fn append<E: AsRef<[u8]>>(
    tx: &mut dyn TxMut,
    events: &[(E, EventKeys)],
    written: Vec<Written>,
    force: bool,
    now: i64,
) -> Result<(), StoreError> {
    index_pending(tx)?;
    let mut arrived: Vec<(String, EventKeys)> = Vec::with_capacity(written.len());
    for w in written {
        // Not there: chained already (it waited too long), or its write
        // never committed.
        if tx.delete(WAITING, &w.key)? {
            let event = match &w.answer {
                Some(a) => with_answer(w.event, a),
                None => w.event,
            };
            arrived.push((event, w.keys));
        }
    }
    let mut waiting: Vec<(String, EventKeys)> = Vec::new();
    // Taken rows are deleted, so each scan starts at the next one; a long
    // backlog (after a crash) is chained over several batches. Keys are
    // time-ordered event ids: past the first young row all are young.
    'scan: while waiting.len() < WAITING_MAX {
        let rows = tx.scan(WAITING, "", None, 512)?;
        if rows.is_empty() {
            break;
        }
        for (k, v) in rows {
            let young = |t: i64| !force && now - t < ANSWER_WAIT;
            if event_id_time(&k).is_some_and(young) {
                break 'scan;
            }
            let w = Waiting::decode(&v).map_err(store_err)?;
            if young(w.keys.time) {
                break 'scan;
            }
            tx.delete(WAITING, &k)?;
            waiting.push((w.event, w.keys.keys()));
        }
    }
    waiting.append(&mut arrived);
    if events.is_empty() && waiting.is_empty() {
        return Ok(());
    }
    let mut head = head_of(tx)?;
    let all: Vec<(&[u8], &EventKeys)> = waiting
        .iter()
        .map(|(e, k)| (e.as_bytes(), k))
        .chain(events.iter().map(|(e, k)| (e.as_ref(), k)))
        .collect();
    // The chain in bytes: hex only for hashing (the chain hashes the
    // previous hash's hex text) and for the head.
    let mut prev_hex: [u8; 64] = [b'0'; 64];
    let mut prev = [0u8; 32];
    match hex::decode(&head.hash)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
    {
        Some(b) => {
            prev = b;
            prev_hex = hex32(&b);
        }
        None if head.hash == ZERO => {}
        None => {
            return Err(StoreError(format!(
                "audit chain head `{}` is not a hash",
                head.hash
            )))
        }
    }
    let mut body = Vec::new();
    for chunk in all.chunks(SEGMENT_MAX) {
        let first = head.seq + 1;
        body.clear();
        body.reserve(chunk.iter().map(|(e, _)| e.len() + 80).sum::<usize>());
        for (event, _) in chunk.iter().copied() {
            let seq = head.seq + 1;
            let hash = chain_digest(&prev_hex, seq, event);
            encode_into(&mut body, seq, &prev, &hash, event);
            prev = hash;
            prev_hex = hex32(&hash);
            head.seq = seq;
        }
        let keys: Vec<&EventKeys> = chunk.iter().map(|(_, k)| *k).collect();
        let seg_key = key(first);
        tx.put(RECORD, &seg_key, &compress_segment(&body))?;
        index_segment(tx, &seg_key, &keys)?;
    }
    head.hash = String::from_utf8_lossy(&prev_hex).into_owned();
    tx.put(HEAD, "head", &serde_json::to_vec(&head).map_err(store_err)?)?;
    track_access(tx, all.iter().map(|(_, k)| *k))
}

/// A record committed with a write, waiting to be chained.
#[derive(Debug)]
struct Waiting {
    event: String,
    keys: PendingKeys,
}

/// A waiting row's mark of an earlier layout: the record kept as it is,
/// its keys as JSON. Rows without a mark hold the record compressed alone.
const WAITING_RAW: &[u8; 2] = b"R1";

/// The waiting row's mark: `R2`, the record's length and the payload's
/// (4 bytes each, big-endian), then the payload — the record, then its
/// keys in [`encode_keys`]'s binary layout — compressed with LZ4 against
/// [`WAITING_DICT`].
///
/// A write's transaction holds the store's one writer, and with it every
/// other write, until its commit is fsynced; a bigger row is more pages to
/// write and sync. A lone record compresses poorly on its own (LZ4 finds
/// nothing to refer back to in a kilobyte of unique names), but most of it
/// is CloudTrail's field names and fixed values, which the dictionary
/// holds: about 1.5 KB becomes about 0.6 KB, made before the transaction.
const WAITING_LZ4: &[u8; 2] = b"R2";

/// The dictionary [`WAITING_LZ4`] rows are compressed against: a record
/// such as Ward writes, with the keys' usual values. Rows in that layout
/// can only be read with this exact text: never change it (a new
/// dictionary needs a new mark).
const WAITING_DICT: &[u8] = br#"{"eventVersion":"1.11","userIdentity":{"type":"AssumedRole","principalId":"AROA","arn":"arn:aws:sts::","accountId":"","accessKeyId":"ASIA","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA","arn":"arn:aws:iam::","accountId":"","userName":""},"attributes":{"creationDate":"2026-","mfaAuthenticated":"false"}}},"userIdentity":{"type":"IAMUser","principalId":"AIDA","arn":"arn:aws:iam::","accountId":"","accessKeyId":"AKIA","userName":""},"userIdentity":{"type":"Root","principalId":"","arn":"arn:aws:iam::123456789012:root","accountId":"123456789012","accessKeyId":"AKIA"},"eventTime":"2026-","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","awsRegion":"us-east-1","sourceIPAddress":"127.0.0.1","userAgent":"aws-cli/2 md/Botocore#1 ua/2.1 os/linux#6 md/arch#x86_64 lang/python#3.11 aws-sdk-rust/1 api/iam#1 os/linux lang/rust#1","requestParameters":{"roleArn":"arn:aws:iam::","roleSessionName":"","policyArn":"arn:aws:iam::aws:policy/","groupName":"","roleName":"","path":"/","policyDocument":"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"","userName":""},"responseElements":null,"requestID":"","eventID":"","readOnly":false,"resources":[{"type":"AWS::IAM::Role","ARN":""},{"type":"AWS::IAM::Policy","ARN":"arn:aws:iam::"},{"type":"AWS::IAM::User","ARN":""}],"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"","eventCategory":"Management","errorCode":"AccessDenied","errorMessage":"User: arn:aws:iam:: is not authorized to perform: iam: on resource: arn:aws:iam:: because no identity-based policy allows the iam: action","additionalEventData":{"wardDecision":"allowed","decisions":[{"principal":"arn:aws:iam::","action":"iam:","resource":"arn:aws:iam::","decision":"allowed","decidedBy":"identity","matchedStatements":[]}]}}123456789012us-east-1iamarn:aws:iam::123456789012:iam:Createarn:aws:iam::123456789012:user/"#;

/// Append a length-prefixed string (4 bytes, big-endian).
fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A waiting row's keys, but for the lookup attributes (read back from the
/// record itself): account, time, region, the long-term key used and the
/// accesses, strings length-prefixed.
fn encode_keys(out: &mut Vec<u8>, k: &PendingKeys) {
    put_str(out, &k.account);
    out.extend_from_slice(&k.time.to_be_bytes());
    put_str(out, &k.region);
    match &k.key_used {
        Some((id, service)) => {
            out.push(1);
            put_str(out, id);
            put_str(out, service);
        }
        None => out.push(0),
    }
    out.extend_from_slice(
        &u32::try_from(k.accesses.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for (entity, action, resource, allowed) in &k.accesses {
        put_str(out, entity);
        put_str(out, action);
        put_str(out, resource);
        out.push(u8::from(*allowed));
    }
}

/// Reads [`encode_keys`]'s layout; `None` where it is cut short.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.bytes(4)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = usize::try_from(self.u32()?).ok()?;
        String::from_utf8(self.bytes(n)?.to_vec()).ok()
    }
    fn byte(&mut self) -> Option<u8> {
        Some(*self.bytes(1)?.first()?)
    }
}

fn decode_keys(b: &[u8], event: &str) -> Option<PendingKeys> {
    let mut r = Reader(b);
    let account = r.str()?;
    let time = i64::from_be_bytes(r.bytes(8)?.try_into().ok()?);
    let region = r.str()?;
    let key_used = match r.byte()? {
        0 => None,
        _ => Some((r.str()?, r.str()?)),
    };
    let n = r.u32()?;
    let mut accesses = Vec::new();
    for _ in 0..n {
        accesses.push((r.str()?, r.str()?, r.str()?, r.byte()? != 0));
    }
    if !r.0.is_empty() {
        return None;
    }
    let record: serde_json::Value = serde_json::from_str(event).ok()?;
    Some(PendingKeys {
        account,
        time,
        attributes: attributes_of(&record)
            .into_iter()
            .map(|(a, v)| (a.to_string(), v))
            .collect(),
        region,
        key_used,
        accesses,
    })
}

impl Waiting {
    /// The row in [`WAITING_LZ4`]'s layout, made before the write's
    /// transaction holds the store.
    fn encode(event: &str, keys: &PendingKeys) -> Result<Vec<u8>, StoreError> {
        let mut payload = Vec::with_capacity(event.len() + 256);
        payload.extend_from_slice(event.as_bytes());
        encode_keys(&mut payload, keys);
        let packed = lz4_flex::block::compress_with_dict(&payload, WAITING_DICT);
        let len =
            |n: usize| u32::try_from(n).map_err(|_| StoreError("audit record too large".into()));
        let mut out = Vec::with_capacity(10 + packed.len());
        out.extend_from_slice(WAITING_LZ4);
        out.extend_from_slice(&len(event.len())?.to_be_bytes());
        out.extend_from_slice(&len(payload.len())?.to_be_bytes());
        out.extend_from_slice(&packed);
        Ok(out)
    }

    fn decode(b: &[u8]) -> Result<Waiting, String> {
        if let Some(rest) = b.strip_prefix(WAITING_LZ4) {
            let mut r = Reader(rest);
            let truncated = || "truncated waiting record".to_string();
            let event_len =
                usize::try_from(r.u32().ok_or_else(truncated)?).map_err(|e| e.to_string())?;
            let size =
                usize::try_from(r.u32().ok_or_else(truncated)?).map_err(|e| e.to_string())?;
            if event_len > size {
                return Err("waiting record: record longer than its row".into());
            }
            let payload = lz4_flex::block::decompress_with_dict(r.0, size, WAITING_DICT)
                .map_err(|e| format!("waiting record: {e}"))?;
            let (event, keys) = payload.split_at_checked(event_len).ok_or_else(truncated)?;
            let event = String::from_utf8(event.to_vec()).map_err(|e| e.to_string())?;
            let keys = decode_keys(keys, &event).ok_or("waiting record: unreadable keys")?;
            return Ok(Waiting { event, keys });
        }
        let (raw, b) = match b.strip_prefix(WAITING_RAW) {
            Some(rest) => (true, rest),
            None => (false, b),
        };
        let (event, keys) = framed(b).ok_or("truncated waiting record")?;
        let event = if raw {
            event.to_vec()
        } else {
            lz4_flex::decompress_size_prepended(event).map_err(|e| e.to_string())?
        };
        Ok(Waiting {
            event: String::from_utf8(event).map_err(|e| e.to_string())?,
            keys: serde_json::from_slice(keys).map_err(|e| e.to_string())?,
        })
    }
}

thread_local! {
    /// The record this thread's last write committed.
    static COMMITTED: std::cell::RefCell<Option<Written>> =
        const { std::cell::RefCell::new(None) };
}

/// The record the last write on this thread committed (taken: a second
/// call answers `None`), for the edge to hand to the appender with the
/// call's answer.
pub fn take_committed() -> Option<Written> {
    COMMITTED.with(|c| c.borrow_mut().take())
}

/// Note the record a write committed (`None`: the write did not commit one).
pub(crate) fn set_committed(w: Option<Written>) {
    COMMITTED.with(|c| *c.borrow_mut() = w);
}

/// [`EventKeys`] as stored for a segment still to be indexed.
#[derive(Debug, Serialize, Deserialize)]
struct PendingKeys {
    account: String,
    time: i64,
    attributes: Vec<(String, String)>,
    region: String,
    key_used: Option<(String, String)>,
    accesses: Vec<(String, String, String, bool)>,
}

impl PendingKeys {
    fn of(k: &EventKeys) -> PendingKeys {
        PendingKeys {
            account: k.account.clone(),
            time: k.time,
            attributes: k
                .attributes
                .iter()
                .map(|(a, v)| ((*a).to_string(), v.clone()))
                .collect(),
            region: k.region.clone(),
            key_used: k.key_used.clone(),
            accesses: k
                .accesses
                .iter()
                .map(|a| {
                    (
                        a.entity.clone(),
                        a.action.clone(),
                        a.resource.clone(),
                        a.allowed,
                    )
                })
                .collect(),
        }
    }

    fn keys(self) -> EventKeys {
        EventKeys {
            account: self.account,
            time: self.time,
            attributes: self
                .attributes
                .into_iter()
                .filter_map(|(a, v)| Some((*ATTRIBUTES.iter().find(|x| **x == a)?, v)))
                .collect(),
            region: self.region,
            key_used: self.key_used,
            accesses: self
                .accesses
                .into_iter()
                .map(|(entity, action, resource, allowed)| super::Access {
                    entity,
                    action,
                    resource,
                    allowed,
                })
                .collect(),
        }
    }
}

/// A write's record, ready to commit with it: its waiting key (the
/// record's time-ordered, unique event id) and the row's bytes.
#[derive(Debug)]
pub struct WaitingRow {
    pub(crate) key: String,
    bytes: Vec<u8>,
}

/// Make a write's record into its waiting row (before the write's
/// transaction, so the write holds the store only to insert it).
pub(crate) fn waiting_row(event: &(String, EventKeys)) -> Result<WaitingRow, StoreError> {
    let key = event
        .1
        .attributes
        .iter()
        .find(|(a, _)| *a == "EventId")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| {
            crate::model::uuid(u128::from_be_bytes(crate::model::random_bytes()), Some(4))
        });
    Ok(WaitingRow {
        key,
        bytes: Waiting::encode(&event.0, &PendingKeys::of(&event.1))?,
    })
}

/// Commit one event in a write's own transaction: the record, as one row
/// waiting to be chained, so the write holds the store for as little as
/// it can (no chain head to read and rewrite); the appender chains it with
/// its next batch (at least every 50 ms in the server), adding the call's
/// answer as `responseElements`, its index rows and last-access data, so
/// `LookupEvents` finds it from then on.
pub(crate) fn append_in_write(tx: &mut dyn TxMut, row: &WaitingRow) -> Result<(), StoreError> {
    tx.put(WAITING, &row.key, &row.bytes)
}

/// Index the segments writes committed since the last call, and fold in
/// their last-access data.
fn index_pending(tx: &mut dyn TxMut) -> Result<(), StoreError> {
    loop {
        let rows = tx.scan(PENDING, "", None, 512)?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut events = Vec::with_capacity(rows.len());
        for (seg, v) in &rows {
            let keys = serde_json::from_slice::<PendingKeys>(v)
                .map_err(store_err)?
                .keys();
            index_segment(tx, seg, &[&keys])?;
            tx.delete(PENDING, seg)?;
            events.push((String::new(), keys));
        }
        track_access(tx, events.iter().map(|(_, k)| k))?;
    }
}

/// A stored record's index keys, read from the record itself.
fn keys_of(event: &str) -> Result<EventKeys, StoreError> {
    let v: serde_json::Value = serde_json::from_str(event).map_err(store_err)?;
    Ok(EventKeys {
        account: v
            .get("recipientAccountId")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string(),
        time: event_time(event).unwrap_or(0),
        attributes: attributes_of(&v),
        ..EventKeys::default()
    })
}

/// The segment holding `seq`: its key and bytes.
fn segment_of(tx: &dyn Tx, seq: u64) -> Result<Option<(String, Vec<u8>)>, StoreError> {
    Ok(tx
        .scan_rev(RECORD, "", Some(&key(seq.saturating_add(1))), 1)?
        .into_iter()
        .next())
}

/// The record `seq`, if stored.
pub(crate) fn record_at(tx: &dyn Tx, seq: u64) -> Result<Option<Stored>, StoreError> {
    let Some((_, seg)) = segment_of(tx, seq)? else {
        return Ok(None);
    };
    let seg = open(&seg).map_err(store_err)?;
    for r in split(&seg).map_err(store_err)? {
        if let Ok(s) = Stored::decode(r) {
            if s.seq == seq {
                return Ok(Some(s));
            }
        }
    }
    Ok(None)
}

/// The time an event id was made at (UUIDv7: milliseconds in the first 48
/// bits), in seconds.
fn event_id_time(id: &str) -> Option<i64> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || hex.get(12..13) != Some("7") {
        return None;
    }
    let ms = i64::from_str_radix(hex.get(..12)?, 16).ok()?;
    Some(ms / 1000)
}

/// The first sequence number whose records (of `account`) are later than
/// `t`: binary search over the account's time rows.
fn first_after(tx: &dyn Tx, account: &str, t: i64) -> Result<Option<u64>, StoreError> {
    let prefix = format!("{account}\u{1}time\u{1}");
    let (mut lo, mut hi) = (base_of(tx)?.seq + 1, head_of(tx)?.seq + 1);
    let last = hi - 1;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let row = tx.scan_rev(
            INDEX,
            &prefix,
            Some(&format!("{prefix}{}", key(mid + 1))),
            1,
        )?;
        let earliest = row.first().map_or(i64::MIN, |(_, v)| time_row(v).0);
        if earliest > t {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok((lo <= last).then_some(lo))
}

/// One page of `LookupEvents`.
#[derive(Debug, Default)]
pub struct Lookup {
    pub events: Vec<String>,
    pub next_token: Option<String>,
}

/// Whether a CloudTrail record has a lookup attribute found by reading.
fn matches_attribute(event: &str, attr: &str, value: &str) -> bool {
    let Ok(r) = serde_json::from_str::<serde_json::Value>(event) else {
        return false;
    };
    attributes_of(&r)
        .iter()
        .any(|(a, v)| *a == attr && v == value)
}

/// A problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub seq: u64,
    pub problem: String,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> ApiError {
    let mut a = ApiError::internal();
    a.cause = Some(format!("corrupt audit {what}: {e}"));
    a
}

impl<S: Store> Iam<S> {
    /// Store events (each with its lookup keys), chained, in one durable
    /// transaction.
    /// Records writes committed are chained too, without waiting for their
    /// answers.
    pub fn record_events<E: AsRef<[u8]>>(&self, events: &[(E, EventKeys)]) -> ApiResult<()> {
        self.record_events_with(events, Vec::new(), true)
    }

    /// [`Iam::record_events`], with the records writes committed, handed
    /// over in memory with their answers; unless `force`, a record still
    /// waiting in the store only is left a moment for it to arrive.
    pub fn record_events_with<E: AsRef<[u8]>>(
        &self,
        events: &[(E, EventKeys)],
        written: Vec<Written>,
        force: bool,
    ) -> ApiResult<()> {
        if events.is_empty()
            && written.is_empty()
            && self.store.read(|tx| -> Result<bool, StoreError> {
                Ok(tx.scan(PENDING, "", None, 1)?.is_empty()
                    && tx.scan(WAITING, "", None, 1)?.is_empty())
            })?
        {
            return Ok(());
        }
        let now = crate::model::now();
        // Not through `Iam::write`: records change no view.
        let mut written = Some(written);
        self.store
            .write(|tx| append(tx, events, written.take().unwrap_or_default(), force, now))
            .map_err(ApiError::from)
    }

    /// Records writes committed that are not chained yet.
    pub fn unchained_records(&self) -> ApiResult<u64> {
        Ok(self.store.read(|tx| tx.count(WAITING, ""))?)
    }

    /// `LookupEvents`: newest first, by one attribute (or all), in
    /// [start, end] (seconds), at most `limit`, from `token`.
    pub fn lookup_events(
        &self,
        account: &str,
        attribute: Option<(&str, &str)>,
        start: Option<i64>,
        end: Option<i64>,
        limit: usize,
        token: Option<&str>,
    ) -> ApiResult<Lookup> {
        if let Some((a, _)) = attribute {
            if !ATTRIBUTES.contains(&a) {
                return Err(ApiError::new(
                    "InvalidLookupAttributesException",
                    400,
                    format!(
                        "Lookup attribute {a} is not one of {}",
                        ATTRIBUTES.join(", ")
                    ),
                ));
            }
        }
        let limit = limit.max(1);
        // The token: the segment and position of the last event returned.
        let token = match token {
            None => None,
            Some(t) => {
                let parsed = t
                    .split_once(':')
                    .and_then(|(s, p)| Some((s.parse::<u64>().ok()?, p.parse::<usize>().ok()?)));
                Some(parsed.ok_or_else(|| {
                    ApiError::new(
                        "InvalidNextTokenException",
                        400,
                        "A token that is not valid was specified. Please check your token and try again.",
                    )
                })?)
            }
        };
        let indexed = attribute.filter(|(a, _)| INDEXED.contains(a) && *a != "EventId");
        let filter = attribute.filter(|(a, _)| !INDEXED.contains(a) || *a == "EventId");
        // An event id narrows the search to the moment it was made.
        let (mut start, mut end) = (start, end);
        if let Some(t) = filter
            .filter(|(a, _)| *a == "EventId")
            .and_then(|(_, id)| event_id_time(id))
        {
            start = Some(start.map_or(t - SLACK, |s| s.max(t - SLACK)));
            end = Some(end.map_or(t + SLACK, |e| e.min(t + SLACK)));
        }
        let prefix = match indexed {
            Some((a, v)) => format!("{account}\u{1}{a}\u{1}{v}\u{1}"),
            None => format!("{account}\u{1}time\u{1}"),
        };
        let is_time = indexed.is_none();
        self.store.read(|tx| {
            let mut before = match (token, end) {
                (Some((seg, _)), _) => Some(format!("{prefix}{}", key(seg + 1))),
                (None, Some(e)) => first_after(tx, account, e.saturating_add(SLACK))?
                    .map(|seq| format!("{prefix}{}", key(seq))),
                (None, None) => None,
            };
            let mut out = Lookup::default();
            loop {
                let rows = tx.scan_rev(INDEX, &prefix, before.as_deref(), 64)?;
                let n = rows.len();
                for (k, v) in rows {
                    let seg_key = k.rsplit('\u{1}').next().unwrap_or("").to_string();
                    before = Some(k);
                    let seg_no: u64 = seg_key.parse().map_err(|e| corrupt("index", e))?;
                    let mut pos = if is_time {
                        let (t0, t1, p) = time_row(&v);
                        if start.is_some_and(|s| t1 < s.saturating_sub(SLACK)) {
                            // Newest first: everything after is older still.
                            return Ok(out);
                        }
                        if end.is_some_and(|e| t0 > e) {
                            continue;
                        }
                        p
                    } else {
                        positions(std::str::from_utf8(&v).unwrap_or(""))
                    };
                    if let Some((tseg, tpos)) = token {
                        if tseg == seg_no {
                            pos.retain(|p| *p < tpos);
                        }
                    }
                    if pos.is_empty() {
                        continue;
                    }
                    let Some(seg) = tx.get(RECORD, &seg_key)? else {
                        continue;
                    };
                    let seg = open(&seg).map_err(|e| corrupt("segment", e))?;
                    let records = split(&seg).map_err(|e| corrupt("segment", e))?;
                    for p in pos.into_iter().rev() {
                        let Some(bytes) = records.get(p) else {
                            continue;
                        };
                        let s = Stored::decode(bytes).map_err(|e| corrupt("record", e))?;
                        let t = event_time(&s.event).unwrap_or(0);
                        if end.is_some_and(|e| t > e) {
                            continue;
                        }
                        if let Some(st) = start {
                            if t < st.saturating_sub(SLACK) && !is_time {
                                return Ok(out);
                            }
                            if t < st {
                                continue;
                            }
                        }
                        if let Some((a, v)) = filter {
                            if !matches_attribute(&s.event, a, v) {
                                continue;
                            }
                        }
                        if out.events.len() == limit {
                            // One more exists: the token is the last returned.
                            return Ok(out);
                        }
                        out.events.push(s.event);
                        out.next_token = Some(format!("{seg_no}:{p}"));
                    }
                }
                if n < 64 {
                    out.next_token = None;
                    return Ok(out);
                }
            }
        })
    }

    /// Move records stored in the first layout (kinds `audit*`, one row a
    /// record, keys counting down) into segments, in batches, each its own
    /// transaction; safe to stop and run again. The number moved.
    pub fn migrate_audit_layout(&self) -> ApiResult<u64> {
        const OLD: &str = "audit";
        const OLD_INDEX: &str = "audit_idx";
        const OLD_HEAD: &str = "audit_head";
        let mut moved = 0u64;
        loop {
            let n = self.store.write(|tx| {
                // Counting-down keys: a backward scan is oldest first.
                let batch = tx.scan_rev(OLD, "", None, SEGMENT_MAX)?;
                let mut records = Vec::with_capacity(batch.len());
                let mut keys = Vec::with_capacity(batch.len());
                for (old_key, bytes) in &batch {
                    let s = Stored::decode(bytes).map_err(store_err)?;
                    keys.push(keys_of(&s.event)?);
                    records.push(s);
                    tx.delete(OLD, old_key)?;
                }
                let refs: Vec<&EventKeys> = keys.iter().collect();
                write_segment(tx, &records, &refs)?;
                if let Some(last) = records.last() {
                    let head = head_of(tx)?;
                    if last.seq > head.seq {
                        let h = Head {
                            seq: last.seq,
                            hash: last.hash.clone(),
                        };
                        tx.put(HEAD, "head", &serde_json::to_vec(&h).map_err(store_err)?)?;
                    }
                } else {
                    for (k, _) in tx.scan(OLD_INDEX, "", None, 20_000)? {
                        tx.delete(OLD_INDEX, &k)?;
                    }
                    tx.delete(OLD_HEAD, "head")?;
                }
                Ok::<_, StoreError>(batch.len())
            })?;
            moved += n as u64;
            if n == 0 && self.store.read(|tx| tx.count(OLD_INDEX, ""))? == 0 {
                return Ok(moved);
            }
        }
    }

    /// The sequence numbers kept: (first, last); (1, 0) when none.
    pub fn audit_bounds(&self) -> ApiResult<(u64, u64)> {
        self.store
            .read(|tx| Ok::<_, ApiError>((base_of(tx)?.seq + 1, head_of(tx)?.seq)))
    }

    /// Up to `max` records from sequence number `from` on, oldest first.
    pub fn audit_range(&self, from: u64, max: usize) -> ApiResult<Vec<Stored>> {
        self.store.read(|tx| {
            let mut out = Vec::new();
            // From the segment holding `from`, onwards.
            let mut after = segment_of(tx, from)?.map(|(k, _)| k);
            if let Some(k) = &after {
                // Include that segment itself.
                let n: u64 = k.parse().map_err(|e| corrupt("segment key", e))?;
                after = (n > 0).then(|| key(n - 1));
            }
            loop {
                let segs = tx.scan(RECORD, "", after.as_deref(), 16)?;
                let n = segs.len();
                for (k, seg) in segs {
                    let seg = open(&seg).map_err(|e| corrupt("segment", e))?;
                    for r in split(&seg).map_err(|e| corrupt("segment", e))? {
                        let s = Stored::decode(r).map_err(|e| corrupt("record", e))?;
                        if s.seq >= from {
                            if out.len() == max {
                                return Ok(out);
                            }
                            out.push(s);
                        }
                    }
                    after = Some(k);
                }
                if n < 16 {
                    return Ok::<_, ApiError>(out);
                }
            }
        })
    }

    /// Retention: remove the oldest segments whose records are all older
    /// than `before` (seconds) and sealed by a digest, at most `max` records
    /// in one transaction, with their index rows; the chain then starts
    /// after the last record removed. The number removed.
    pub fn prune_audit(&self, before: i64, max: usize) -> ApiResult<usize> {
        let sealed: u64 = self.audit_digests()?.last().map_or(0, |d| d.end);
        self.store
            .write(|tx| {
                let mut base = base_of(tx)?;
                let mut n = 0;
                while n < max {
                    let Some((seg_key, seg)) = tx.scan(RECORD, "", None, 1)?.into_iter().next()
                    else {
                        break;
                    };
                    let mut records = Vec::new();
                    let seg = open(&seg).map_err(store_err)?;
                    for r in split(&seg).map_err(store_err)? {
                        records.push(Stored::decode(r).map_err(store_err)?);
                    }
                    let (Some(last), true) = (
                        records.last(),
                        records
                            .iter()
                            .all(|s| event_time(&s.event).is_some_and(|t| t < before)),
                    ) else {
                        break;
                    };
                    if last.seq > sealed {
                        break;
                    }
                    for s in &records {
                        let keys = keys_of(&s.event)?;
                        for (prefix, _) in index_rows(&keys) {
                            tx.delete(INDEX, &format!("{prefix}{seg_key}"))?;
                        }
                        tx.delete(INDEX, &format!("{}\u{1}time\u{1}{seg_key}", keys.account))?;
                    }
                    tx.delete(RECORD, &seg_key)?;
                    base = Base {
                        seq: last.seq,
                        hash: last.hash.clone(),
                    };
                    n += records.len();
                }
                tx.put(BASE, "base", &serde_json::to_vec(&base).map_err(store_err)?)?;
                Ok::<_, StoreError>(n)
            })
            .map_err(ApiError::from)
    }

    /// Walk the whole chain, oldest first; every problem found.
    pub fn verify_audit(&self) -> ApiResult<(u64, Vec<Finding>)> {
        self.store.read(|tx| {
            let mut findings = Vec::new();
            let base = base_of(tx)?;
            let mut prev_hash = base.hash.clone();
            let mut expect_seq = base.seq + 1;
            let mut count = 0u64;
            let mut after: Option<String> = None;
            loop {
                let segs = tx.scan(RECORD, "", after.as_deref(), 64)?;
                let n = segs.len();
                for (k, seg) in segs {
                    let opened = open(&seg);
                    let records = match opened.as_deref().map_err(String::clone).and_then(split) {
                        Ok(r) => r,
                        Err(e) => {
                            findings.push(Finding {
                                seq: expect_seq,
                                problem: format!("segment {k} does not parse ({e})"),
                            });
                            after = Some(k);
                            continue;
                        }
                    };
                    for (i, bytes) in records.iter().enumerate() {
                        count += 1;
                        let Ok(s) = Stored::decode(bytes) else {
                            findings.push(Finding {
                                seq: expect_seq,
                                problem: format!("record {i} of segment {k} does not parse"),
                            });
                            expect_seq += 1;
                            continue;
                        };
                        if i == 0 && key(s.seq) != k {
                            findings.push(Finding {
                                seq: s.seq,
                                problem: format!("stored under the key of another position ({k})"),
                            });
                        }
                        if s.seq != expect_seq {
                            findings.push(Finding {
                                seq: s.seq,
                                problem: if s.seq > expect_seq {
                                    format!(
                                        "records {expect_seq}..{} are missing (deleted)",
                                        s.seq - 1
                                    )
                                } else {
                                    "out of order (reordered or inserted)".into()
                                },
                            });
                        }
                        if s.prev != prev_hash {
                            findings.push(Finding {
                                seq: s.seq,
                                problem: "does not follow the record before it (deleted, inserted or reordered records)".into(),
                            });
                        }
                        if chain_hash(&s.prev, s.seq, &s.event) != s.hash {
                            findings.push(Finding {
                                seq: s.seq,
                                problem: "its content does not match its hash (edited)".into(),
                            });
                        }
                        prev_hash = s.hash.clone();
                        expect_seq = s.seq + 1;
                    }
                    after = Some(k);
                }
                if n < 64 {
                    break;
                }
            }
            let head = head_of(tx)?;
            if head.seq != expect_seq.saturating_sub(1) || (head.seq > base.seq && head.hash != prev_hash) {
                findings.push(Finding {
                    seq: head.seq,
                    problem: "the newest records are missing or changed (the chain head does not match)".into(),
                });
            }
            Ok::<_, ApiError>((count, findings))
        })
    }
}

/// Direct access to stored records, as someone with write access to the
/// database has it: for the tests that show `verify` finds their edits.
pub mod raw {
    use super::*;

    /// The record at `seq`.
    pub fn get(tx: &dyn Tx, seq: u64) -> Result<Option<Stored>, StoreError> {
        record_at(tx, seq)
    }

    /// Replace the record stored at position `seq` with `s` (any `s.seq`).
    pub fn put(tx: &mut dyn TxMut, seq: u64, s: &Stored) -> Result<(), StoreError> {
        rewrite(tx, seq, Some(s))
    }

    /// Remove the record at position `seq`.
    pub fn delete(tx: &mut dyn TxMut, seq: u64) -> Result<(), StoreError> {
        rewrite(tx, seq, None)
    }

    /// Store `s` as a segment of its own, keyed by its sequence number.
    pub fn insert(tx: &mut dyn TxMut, s: &Stored) -> Result<(), StoreError> {
        tx.put(RECORD, &key(s.seq), &join(&[s.encode()]))
    }

    fn rewrite(tx: &mut dyn TxMut, seq: u64, with: Option<&Stored>) -> Result<(), StoreError> {
        let (k, seg) =
            segment_of(tx, seq)?.ok_or_else(|| StoreError(format!("no record {seq}")))?;
        let seg = open(&seg).map_err(store_err)?;
        let mut records: Vec<Vec<u8>> = split(&seg)
            .map_err(store_err)?
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        let at = records
            .iter()
            .position(|r| Stored::decode(r).is_ok_and(|s| s.seq == seq))
            .ok_or_else(|| StoreError(format!("no record {seq}")))?;
        match with {
            Some(s) => {
                if let Some(r) = records.get_mut(at) {
                    *r = s.encode();
                }
            }
            None => {
                records.remove(at);
            }
        }
        if records.is_empty() {
            tx.delete(RECORD, &k)?;
            Ok(())
        } else {
            tx.put(RECORD, &k, &join(&records))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_rows_of_every_layout_decode() {
        let event = r#"{"eventVersion":"1.11","userIdentity":{"type":"Root","principalId":"111111111111","arn":"arn:aws:iam::111111111111:root","accountId":"111111111111","accessKeyId":"AKIA5GF4H4GDIDLN6QBW"},"eventTime":"2026-12-03T13:09:23Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1","sourceIPAddress":"127.0.0.1","userAgent":"aws-cli/2.22.0","requestParameters":{"userName":"load-1796303362003271"},"responseElements":null,"requestID":"4654e133-a425-7732-f387-312b64a33b7d","eventID":"01a23c06-1cf5-708c-03d6-82d5e3c19848","readOnly":false,"resources":[{"type":"AWS::IAM::User","ARN":"load-1796303362003271"}],"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111111111111","eventCategory":"Management","additionalEventData":{"wardDecision":"allowed","decisions":[{"principal":"arn:aws:iam::111111111111:root","action":"iam:CreateUser","resource":"arn:aws:iam::111111111111:user/load-1796303362003271","decision":"allowed","decidedBy":"identity","matchedStatements":[]}]}}"#;
        let parsed: serde_json::Value = serde_json::from_str(event).unwrap();
        let keys = EventKeys {
            account: "111111111111".into(),
            time: 1_796_303_363,
            attributes: attributes_of(&parsed),
            region: "us-east-1".into(),
            key_used: Some(("AKIA5GF4H4GDIDLN6QBW".into(), "iam".into())),
            accesses: vec![super::super::Access {
                entity: "arn:aws:iam::111111111111:root".into(),
                action: "iam:CreateUser".into(),
                resource: "arn:aws:iam::111111111111:user/load-1796303362003271".into(),
                allowed: true,
            }],
        };
        let row = Waiting::encode(event, &PendingKeys::of(&keys)).unwrap();
        assert_eq!(row.get(..2), Some(&WAITING_LZ4[..]));
        // The layout before: the record as it is, its keys as JSON.
        let mut raw = WAITING_RAW.to_vec();
        raw.extend_from_slice(&u32::try_from(event.len()).unwrap().to_be_bytes());
        raw.extend_from_slice(event.as_bytes());
        serde_json::to_writer(&mut raw, &PendingKeys::of(&keys)).unwrap();
        // The dictionary is what makes a lone record small.
        assert!(
            row.len() * 2 < raw.len(),
            "{} bytes compressed of {} kept as they are",
            row.len(),
            raw.len()
        );
        // The layout before that: the record compressed alone, no mark.
        let body = lz4_flex::compress_prepend_size(event.as_bytes());
        let mut old = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        old.extend_from_slice(&body);
        serde_json::to_writer(&mut old, &PendingKeys::of(&keys)).unwrap();
        for b in [row, raw, old] {
            let w = Waiting::decode(&b).unwrap();
            assert_eq!(w.event, event);
            let k = w.keys.keys();
            assert_eq!(
                (k.account.as_str(), k.time),
                ("111111111111", 1_796_303_363)
            );
            assert_eq!(k.attributes, keys.attributes);
            assert_eq!(k.region, keys.region);
            assert_eq!(k.key_used, keys.key_used);
            assert_eq!(k.accesses, keys.accesses);
            // Cut short anywhere: an error, not a panic.
            for n in 0..b.len() {
                let _ = Waiting::decode(&b[..n]);
            }
        }
    }
}
