//! Signed digests of the audit trail, like CloudTrail's log file integrity
//! validation (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html>):
//! every so often the chain's head is sealed in a digest signed with the
//! server's Ed25519 key. Each digest names the records it covers (the
//! sequence range and the hash of the last one) and the signature of the
//! digest before it, so digests chain too.
//!
//! A hash chain alone shows edits only to someone who trusts the head; one
//! who can write the store can rewrite every hash after an edit. A digest's
//! signature cannot be recomputed without the private key, so with the
//! public key kept elsewhere (`ward audit public-key`), `ward audit verify`
//! shows a rewritten trail as records whose hashes differ from what was
//! sealed, and a forged or deleted digest as a broken signature or a gap.

use crate::audit::{chain_hash, Stored};
use crate::error::{ApiError, ApiResult};
use crate::iam::{get, Iam};
use crate::store::{Store, StoreError};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Digests: `{number:020}` → [`Digest`].
pub(crate) const DIGEST: &str = "audit_digest";
const DIGEST_HEAD: &str = "audit_digest_head";

/// One signed digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// 1, 2, 3, ...
    pub number: u64,
    /// The records covered: `start..=end` (sequence numbers).
    pub start: u64,
    pub end: u64,
    /// The hash of record `end`.
    pub end_hash: String,
    /// When it was sealed (seconds).
    pub time: i64,
    /// The signature of digest `number - 1` (empty for the first).
    pub previous_signature: String,
    /// The signing key's SHA-256 fingerprint (hex).
    pub key_fingerprint: String,
    /// Ed25519 over [`Digest::signed_text`], hex.
    pub signature: String,
}

impl Digest {
    /// What is signed: every field but the signature, one a line.
    pub fn signed_text(&self) -> String {
        format!(
            "ward-audit-digest-v1\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
            self.number,
            self.start,
            self.end,
            self.end_hash,
            self.time,
            self.previous_signature,
            self.key_fingerprint
        )
    }
}

/// The key digests are signed with.
#[derive(Clone)]
pub struct DigestKey(SigningKey);

impl std::fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DigestKey({})", fingerprint(&self.public()))
    }
}

impl DigestKey {
    /// A key from its 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> DigestKey {
        DigestKey(SigningKey::from_bytes(seed))
    }

    /// A fresh random seed.
    pub fn generate_seed() -> [u8; 32] {
        crate::model::random_bytes()
    }

    pub fn public(&self) -> VerifyingKey {
        self.0.verifying_key()
    }
}

/// The public key as PEM (SubjectPublicKeyInfo), for `ward audit public-key`.
pub fn public_pem(key: &VerifyingKey) -> String {
    use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePublicKey};
    key.to_public_key_pem(LineEnding::LF).unwrap_or_default()
}

/// A public key from PEM.
pub fn public_from_pem(pem: &str) -> Result<VerifyingKey, String> {
    use ed25519_dalek::pkcs8::DecodePublicKey;
    VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| e.to_string())
}

/// SHA-256 of the raw public key, hex.
pub fn fingerprint(key: &VerifyingKey) -> String {
    use sha2::{Digest as _, Sha256};
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn dkey(n: u64) -> String {
    format!("{n:020}")
}

fn store_err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// A problem with the digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestFinding {
    pub digest: u64,
    pub problem: String,
}

/// What verifying the digests found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestReport {
    pub digests: u64,
    /// The last sequence number a valid digest covers.
    pub sealed_through: u64,
    pub findings: Vec<DigestFinding>,
}

impl<S: Store> Iam<S> {
    /// Seal the records stored since the last digest (none: no digest).
    pub fn seal_audit(&self, key: &DigestKey, now: i64) -> ApiResult<Option<Digest>> {
        self.store
            .write(|tx| {
                let head: Option<crate::audit::Head> = match tx.get(crate::audit::HEAD, "head")? {
                    Some(b) => Some(serde_json::from_slice(&b).map_err(store_err)?),
                    None => None,
                };
                let Some(head) = head else {
                    return Ok(None);
                };
                let last: Option<Digest> = match tx.get(DIGEST_HEAD, "head")? {
                    Some(b) => Some(serde_json::from_slice(&b).map_err(store_err)?),
                    None => None,
                };
                let start = last.as_ref().map_or(1, |d| d.end + 1);
                if head.seq < start {
                    return Ok::<_, StoreError>(None);
                }
                let mut d = Digest {
                    number: last.as_ref().map_or(1, |d| d.number + 1),
                    start,
                    end: head.seq,
                    end_hash: head.hash,
                    time: now,
                    previous_signature: last.map(|d| d.signature).unwrap_or_default(),
                    key_fingerprint: fingerprint(&key.public()),
                    signature: String::new(),
                };
                d.signature = hex::encode(key.0.sign(d.signed_text().as_bytes()).to_bytes());
                let bytes = serde_json::to_vec(&d).map_err(store_err)?;
                tx.put(DIGEST, &dkey(d.number), &bytes)?;
                tx.put(DIGEST_HEAD, "head", &bytes)?;
                Ok(Some(d))
            })
            .map_err(ApiError::from)
    }

    /// Every digest, oldest first.
    pub fn audit_digests(&self) -> ApiResult<Vec<Digest>> {
        self.store
            .read(|tx| crate::iam::scan_all::<Digest>(tx, DIGEST, ""))
    }

    /// Check every digest's signature with `key`, that digests follow one
    /// another, and that each sealed hash is still the hash of its record.
    pub fn verify_digests(&self, key: &VerifyingKey) -> ApiResult<DigestReport> {
        let digests = self.audit_digests()?;
        // Records before `first` were removed by retention.
        let (first, _) = self.audit_bounds()?;
        let head: Option<Digest> = self.store.read(|tx| get(tx, DIGEST_HEAD, "head"))?;
        let mut r = DigestReport {
            digests: digests.len() as u64,
            ..DigestReport::default()
        };
        let mut prev: Option<&Digest> = None;
        for d in &digests {
            let mut bad = |problem: String| {
                r.findings.push(DigestFinding {
                    digest: d.number,
                    problem,
                })
            };
            let expect_number = prev.map_or(1, |p| p.number + 1);
            if d.number != expect_number {
                bad(format!(
                    "digests {expect_number}..{} are missing (deleted)",
                    d.number.saturating_sub(1)
                ));
            }
            let sig_ok = hex::decode(&d.signature)
                .ok()
                .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
                .map(|b| Signature::from_bytes(&b))
                .is_some_and(|s| key.verify(d.signed_text().as_bytes(), &s).is_ok());
            if !sig_ok {
                bad("its signature does not verify with the public key (edited, forged, or signed with another key)".into());
            } else if let Some(p) = prev {
                if d.previous_signature != p.signature {
                    bad(format!(
                        "does not follow digest {} (its previous signature differs)",
                        p.number
                    ));
                }
                if d.start != p.end + 1 {
                    bad(format!(
                        "covers records from {}, but digest {} ended at {}",
                        d.start, p.number, p.end
                    ));
                }
            }
            // The sealed record must still hash as sealed.
            let stored: Option<Stored> = if d.end < first {
                None
            } else {
                self.store.read(|tx| crate::audit::record_at(tx, d.end))?
            };
            match stored {
                None if d.end < first => {}
                None => bad(format!("record {} it seals is missing (deleted)", d.end)),
                Some(s) => {
                    if s.hash != d.end_hash || chain_hash(&s.prev, s.seq, &s.event) != d.end_hash {
                        bad(format!(
                            "record {} no longer has the hash it was sealed with (the trail up to it was rewritten)",
                            d.end
                        ));
                    }
                }
            }
            if sig_ok {
                r.sealed_through = r.sealed_through.max(d.end);
            }
            prev = Some(d);
        }
        if let (Some(h), Some(last)) = (&head, digests.last()) {
            if h.number != last.number || h.signature != last.signature {
                r.findings.push(DigestFinding {
                    digest: h.number,
                    problem:
                        "the newest digests are missing or changed (the digest head does not match)"
                            .into(),
                });
            }
        } else if head.is_some() && digests.is_empty() {
            r.findings.push(DigestFinding {
                digest: 0,
                problem: "every digest is missing (deleted)".into(),
            });
        }
        Ok(r)
    }
}
