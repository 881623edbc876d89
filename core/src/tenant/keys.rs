//! API keys: `sk-` + 256 bits from the OS RNG (base64url), shown once, stored only as a SHA-256 hash and
//! compared in constant time.

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// The SHA-256 of an API key: the only form in which a key is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A hash is not secret, but a short prefix is all anyone debugging needs.
        write!(f, "KeyHash({}..)", &self.to_hex()[..8])
    }
}

impl KeyHash {
    /// Lower-case hex of the hash.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses the hex form written by [`KeyHash::to_hex`].
    pub fn from_hex(s: &str) -> Result<Self> {
        if s.len() != 64 || !s.is_ascii() {
            return Err(Error::storage("stored key hash is not 64 hex digits"));
        }
        let mut out = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let hex = std::str::from_utf8(chunk).map_err(Error::storage)?;
            out[i] = u8::from_str_radix(hex, 16).map_err(Error::storage)?;
        }
        Ok(KeyHash(out))
    }

    /// Constant-time equality, for comparing a presented key's hash with a stored one.
    pub fn ct_eq(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// Prefix of every API key.
pub const KEY_PREFIX: &str = "sk-";
/// Length of a key: prefix + 43 base64url characters (256 bits, no padding).
pub const KEY_LEN: usize = 3 + 43;

/// A fresh key from the operating system's RNG.
pub fn generate_key() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Storage(format!("OS random source failed: {e}")))?;
    Ok(format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The stored form of a key.
pub fn hash_key(key: &str) -> KeyHash {
    KeyHash(Sha256::digest(key.as_bytes()).into())
}

/// Hashes a presented key after a shape check; a key of the wrong shape is [`Error::InvalidApiKey`]
/// without any lookup.
pub fn presented_key_hash(key: &str) -> Result<KeyHash> {
    let shaped = key.len() == KEY_LEN
        && key.starts_with(KEY_PREFIX)
        && key[KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !shaped {
        return Err(Error::InvalidApiKey);
    }
    Ok(hash_key(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_well_shaped_and_hash_round_trips() {
        let a = generate_key().unwrap();
        let b = generate_key().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), KEY_LEN);
        assert!(a.starts_with("sk-"));
        let h = presented_key_hash(&a).unwrap();
        assert_eq!(h, hash_key(&a));
        assert!(h.ct_eq(&KeyHash::from_hex(&h.to_hex()).unwrap()));
        assert!(!h.ct_eq(&hash_key(&b)));
        assert!(!format!("{h:?}").contains(&h.to_hex()));
    }

    #[test]
    fn wrong_shapes_are_refused_before_lookup() {
        for bad in [
            "",
            "sk-",
            "sk-short",
            "pk-0123456789012345678901234567890123456789012",
            "sk-!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert!(
                matches!(presented_key_hash(bad), Err(Error::InvalidApiKey)),
                "{bad}"
            );
        }
        let long = format!("{}x", generate_key().unwrap());
        assert!(presented_key_hash(&long).is_err());
    }
}
