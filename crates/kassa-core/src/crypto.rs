//! Encryption at rest for API secrets, provider keys and identity documents.
//!
//! XChaCha20-Poly1305 (RustCrypto) with a random 192-bit nonce per message, so nonces never
//! repeat in practice. Every sealed value names the key that sealed it (a 4-byte fingerprint),
//! which lets a [`Vault`] hold the current key plus retired ones during a key rotation. The
//! associated data binds a ciphertext to its row (`"api_secret:bs_live_..."`), so a ciphertext
//! copied into another row does not decrypt.
//!
//! Layout: `0x01 | key id (4) | nonce (24) | ciphertext+tag`.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::ids::random_bytes;

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("a master key must be 32 bytes written as 64 hex characters or in base64")]
    BadKey,
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed with a key this server does not have (key id {0})")]
    UnknownKey(String),
    #[error("sealed value does not decrypt: wrong key, wrong row or tampered")]
    Tampered,
}

/// A 256-bit master key. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id {})", hex_id(&self.id()))
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        Self(random_bytes::<32>())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 64 hex characters or standard/URL-safe base64 of 32 bytes; surrounding whitespace
    /// (a trailing newline in a key file) is ignored.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16)).collect::<Result<Vec<u8>, _>>().ok()
        } else {
            let standard = base64::engine::general_purpose::STANDARD.decode(text);
            standard.or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text)).ok()
        };
        let bytes: [u8; 32] = bytes.and_then(|b| b.try_into().ok()).ok_or(CryptoError::BadKey)?;
        Ok(Self(bytes))
    }

    /// The key as 64 lower-case hex characters, for writing a key file.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A public fingerprint of the key; stored with every ciphertext.
    pub fn id(&self) -> [u8; KEY_ID_LEN] {
        let digest = Sha256::new_with_prefix(b"kassa master key id").chain_update(self.0).finalize();
        digest[..KEY_ID_LEN].try_into().expect("digest is long enough")
    }
}

fn hex_id(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Seals with the current key and opens with any key it holds.
#[derive(Clone)]
pub struct Vault {
    current: (MasterKey, XChaCha20Poly1305),
    retired: Vec<(MasterKey, XChaCha20Poly1305)>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("current", &self.current.0).field("retired", &self.retired.len()).finish()
    }
}

impl Vault {
    pub fn new(current: MasterKey) -> Self {
        let cipher = XChaCha20Poly1305::new((&current.0).into());
        Self { current: (current, cipher), retired: Vec::new() }
    }

    /// Adds a retired key that can still open old values (for key rotation).
    pub fn with_retired(mut self, key: MasterKey) -> Self {
        let cipher = XChaCha20Poly1305::new((&key.0).into());
        self.retired.push((key, cipher));
        self
    }

    pub fn current_key_id(&self) -> [u8; KEY_ID_LEN] {
        self.current.0.id()
    }

    pub fn seal(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        let nonce = random_bytes::<NONCE_LEN>();
        let ciphertext = self
            .current
            .1
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut sealed = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&self.current.0.id());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < HEADER_LEN + 16 || sealed[0] != VERSION {
            return Err(CryptoError::Malformed);
        }
        let key_id = &sealed[1..1 + KEY_ID_LEN];
        let nonce = XNonce::from_slice(&sealed[1 + KEY_ID_LEN..HEADER_LEN]);
        let cipher = std::iter::once(&self.current)
            .chain(self.retired.iter())
            .find(|(key, _)| key.id() == key_id)
            .map(|(_, cipher)| cipher)
            .ok_or_else(|| CryptoError::UnknownKey(hex_id(key_id)))?;
        cipher
            .decrypt(nonce, Payload { msg: &sealed[HEADER_LEN..], aad: context.as_bytes() })
            .map_err(|_| CryptoError::Tampered)
    }

    /// Whether a sealed value was sealed with a retired key and should be re-sealed.
    pub fn needs_reseal(&self, sealed: &[u8]) -> bool {
        sealed.get(1..1 + KEY_ID_LEN).is_some_and(|id| id != self.current.0.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_context() {
        let vault = Vault::new(MasterKey::generate());
        let sealed = vault.seal(b"secret", "api_secret:bs_live_a");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(vault.open(&sealed, "api_secret:bs_live_a").unwrap(), b"secret");
        assert_eq!(vault.open(&sealed, "api_secret:bs_live_b"), Err(CryptoError::Tampered));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(vault.open(&flipped, "api_secret:bs_live_a"), Err(CryptoError::Tampered));
    }

    #[test]
    fn other_keys_are_named_and_retired_keys_still_open() {
        let old = MasterKey::generate();
        let sealed = Vault::new(old.clone()).seal(b"doc", "ctx");
        let fresh = Vault::new(MasterKey::generate());
        assert!(matches!(fresh.open(&sealed, "ctx"), Err(CryptoError::UnknownKey(_))));
        let rotated = fresh.with_retired(old);
        assert_eq!(rotated.open(&sealed, "ctx").unwrap(), b"doc");
        assert!(rotated.needs_reseal(&sealed));
    }

    #[test]
    fn parses_hex_and_base64_keys() {
        let key = MasterKey::generate();
        assert_eq!(MasterKey::parse(&format!("{}\n", key.to_hex())).unwrap().id(), key.id());
        let b64 = base64::engine::general_purpose::STANDARD.encode(key.0);
        assert_eq!(MasterKey::parse(&b64).unwrap().id(), key.id());
        assert!(MasterKey::parse("short").is_err());
        assert!(!format!("{key:?}").contains(&key.to_hex()));
    }
}
