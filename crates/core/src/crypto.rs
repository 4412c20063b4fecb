//! Secrets at rest: access-key secrets are sealed with AES-256-GCM under a
//! master key that never enters the store; session tokens are sealed
//! sessions (see [`crate::model::Session`]), so nothing of them is stored.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use std::fmt;
use zeroize::Zeroizing;

/// The master key.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(<master key>)")
    }
}

/// A sealed value could not be opened (wrong master key or tampering).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a sealed secret cannot be opened: wrong master key, or the store was altered")]
pub struct OpenError;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

/// The mark of a compressed seal: a character base64 never writes, so a
/// token without it is one sealed before (opened as it always was).
const COMPACT: char = '~';

/// The largest plaintext a compressed seal opens to (a session token's
/// policies are capped far below this).
const COMPACT_MAX: u32 = 1 << 20;

impl Sealer {
    pub fn new(master_key: &[u8; 32]) -> Sealer {
        Sealer {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(master_key)),
        }
    }

    /// A fresh random master key.
    pub fn generate_key() -> Zeroizing<[u8; 32]> {
        Zeroizing::new(crate::model::random_bytes::<32>())
    }

    /// nonce ‖ ciphertext ‖ tag of `plaintext`, under a fresh nonce.
    fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes: [u8; 12] = crate::model::random_bytes();
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), plaintext)
            .unwrap_or_default();
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    /// The plaintext of what [`Sealer::encrypt`] made, once base64-decoded.
    fn decrypt(&self, sealed_b64: &str) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let raw = B64.decode(sealed_b64).map_err(|_| OpenError)?;
        let (nonce, ct) = raw.split_at_checked(12).ok_or(OpenError)?;
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map(Zeroizing::new)
            .map_err(|_| OpenError)
    }

    /// Seal a secret: base64 of nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, plaintext: &str) -> String {
        B64.encode(self.encrypt(plaintext.as_bytes()))
    }

    /// Seal `plaintext` compressed (LZ4, against `dict`) first, marked with
    /// `~` (a character base64 never writes): for session tokens, which
    /// every call with temporary credentials sends and every CloudTrail
    /// record of `AssumeRole` carries. Their JSON is mostly field names and
    /// ARNs, so the token comes out about half as long. The only secret
    /// inside a token is the session's own, which its requester is handed
    /// in the clear anyway: how long a token is tells nobody anything new.
    pub fn seal_compact(&self, plaintext: &str, dict: &[u8]) -> String {
        let packed = Zeroizing::new(lz4_flex::block::compress_prepend_size_with_dict(
            plaintext.as_bytes(),
            dict,
        ));
        let out = self.encrypt(&packed);
        let mut text = String::with_capacity(1 + out.len() * 4 / 3 + 4);
        text.push(COMPACT);
        B64.encode_string(out, &mut text);
        text
    }

    /// Open what [`Sealer::seal_compact`] sealed with `dict`, or (without
    /// the mark) what [`Sealer::seal`] sealed.
    pub fn open_compact(&self, sealed: &str, dict: &[u8]) -> Result<Zeroizing<String>, OpenError> {
        let Some(rest) = sealed.strip_prefix(COMPACT) else {
            return self.open(sealed);
        };
        let packed = self.decrypt(rest)?;
        // Authenticated, so the size prepended is the sealer's own; capped
        // all the same.
        let size = packed
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .ok_or(OpenError)?;
        if size > COMPACT_MAX {
            return Err(OpenError);
        }
        let pt = Zeroizing::new(
            lz4_flex::block::decompress_size_prepended_with_dict(&packed, dict)
                .map_err(|_| OpenError)?,
        );
        std::str::from_utf8(&pt)
            .map(|s| Zeroizing::new(s.to_string()))
            .map_err(|_| OpenError)
    }

    /// Open a sealed secret.
    pub fn open(&self, sealed: &str) -> Result<Zeroizing<String>, OpenError> {
        let pt = self.decrypt(sealed)?;
        std::str::from_utf8(&pt)
            .map(|s| Zeroizing::new(s.to_string()))
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let s = Sealer::new(&Sealer::generate_key());
        let sealed = s.seal("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        assert!(!sealed.contains("wJalr"));
        assert_eq!(
            s.open(&sealed).unwrap().as_str(),
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        );
        let other = Sealer::new(&Sealer::generate_key());
        assert_eq!(other.open(&sealed), Err(OpenError));
        let mut tampered = sealed.into_bytes();
        tampered[20] ^= 1;
        assert!(s.open(&String::from_utf8(tampered).unwrap()).is_err());
    }

    #[test]
    fn compact_seals_open_and_are_shorter() {
        let s = Sealer::new(&Sealer::generate_key());
        let session = crate::model::Session {
            access_key_id: "ASIA4JS32QOUMBRUMU7X".into(),
            account: "123456789012".into(),
            kind: crate::model::SessionKind::Role {
                role_name: "deploy".into(),
                role_arn: "arn:aws:iam::123456789012:role/ci/deploy".into(),
                role_id: "AROAJP3GNENRDAJBSVYU3".into(),
                session_name: "build-1234".into(),
            },
            issued: 1_796_303_363,
            expires: 1_796_306_963,
            policies: vec![],
            tags: vec![],
            transitive_tag_keys: vec![],
            source_identity: None,
            mfa_authenticated_at: None,
            chained: false,
        };
        let payload = serde_json::to_string(&crate::sts::TokenPayload {
            session,
            secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        })
        .unwrap();
        let dict = crate::sts::TOKEN_DICT;
        let compact = s.seal_compact(&payload, dict);
        let plain = s.seal(&payload);
        assert!(compact.starts_with(COMPACT));
        assert!(
            compact.len() * 3 < plain.len() * 2,
            "{} characters compact, {} sealed as it is",
            compact.len(),
            plain.len()
        );
        assert_eq!(s.open_compact(&compact, dict).unwrap().as_str(), payload);
        // Tokens sealed before still open.
        assert_eq!(s.open_compact(&plain, dict).unwrap().as_str(), payload);
        // Another key, a changed byte, a cut: refused, never a panic.
        let other = Sealer::new(&Sealer::generate_key());
        assert_eq!(other.open_compact(&compact, dict), Err(OpenError));
        for i in 1..compact.len() {
            let mut b = compact.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            assert!(
                s.open_compact(&String::from_utf8(b).unwrap(), dict)
                    .is_err(),
                "{i}"
            );
            assert!(s.open_compact(&compact[..i], dict).is_err(), "cut at {i}");
        }
    }
}
