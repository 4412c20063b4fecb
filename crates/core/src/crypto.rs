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

    /// Seal a secret: base64 of nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, plaintext: &str) -> String {
        let nonce_bytes: [u8; 12] = crate::model::random_bytes();
        let nonce = Nonce::from_slice(&nonce_bytes);
        let ct = self
            .cipher
            .encrypt(nonce, plaintext.as_bytes())
            .unwrap_or_default();
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ct);
        B64.encode(out)
    }

    /// Open a sealed secret.
    pub fn open(&self, sealed: &str) -> Result<Zeroizing<String>, OpenError> {
        let raw = B64.decode(sealed).map_err(|_| OpenError)?;
        let (nonce, ct) = raw.split_at_checked(12).ok_or(OpenError)?;
        let pt = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| OpenError)?;
        String::from_utf8(pt)
            .map(Zeroizing::new)
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
}
