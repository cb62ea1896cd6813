//! Typed identifiers and the random tokens kassa hands out.

use std::fmt;
use std::str::FromStr;

use rand::distributions::{Distribution, Uniform};
use rand::rngs::OsRng;
use rand::RngCore;

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const BASE62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `len` characters drawn uniformly from `alphabet` with the thread's CSPRNG (ChaCha, seeded
/// and periodically reseeded from the operating system): unguessable, without a system call
/// per character. Key material (`random_bytes`) comes from the operating system directly.
pub fn random_token(alphabet: &[u8], len: usize) -> String {
    let pick = Uniform::from(0..alphabet.len());
    let mut rng = rand::thread_rng();
    (0..len).map(|_| alphabet[pick.sample(&mut rng)] as char).collect()
}

/// `n` random bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A customer's numeric id; it is also `woo_customer_id` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CustomerId(pub i64);

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A service's public numeric id (`service_id` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceId(pub i64);

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An order id as integrators see it: `BSAPI-` and 12 random upper-case alphanumerics
/// (36^12 ≈ 4.7·10^18 values, so ids cannot be guessed or enumerated).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId(String);

impl OrderId {
    pub const PREFIX: &'static str = "BSAPI-";
    const RANDOM_LEN: usize = 12;

    pub fn generate() -> Self {
        Self(format!("{}{}", Self::PREFIX, random_token(UPPER_ALNUM, Self::RANDOM_LEN)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order ids look like BSAPI-ABC123DEF456")]
pub struct BadOrderId;

impl FromStr for OrderId {
    type Err = BadOrderId;

    /// Accepts the canonical form only; lower-case ids are different ids, not typos to repair.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let rest = text.strip_prefix(Self::PREFIX).ok_or(BadOrderId)?;
        if rest.len() == Self::RANDOM_LEN && rest.bytes().all(|b| UPPER_ALNUM.contains(&b)) {
            Ok(Self(text.to_string()))
        } else {
            Err(BadOrderId)
        }
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A customer's public short id (`user_id` in `profile/me`, e.g. `NJOR5E`).
pub fn generate_user_id() -> String {
    random_token(UPPER_ALNUM, 6)
}

/// The public half of an API key: `bs_live_` and 32 base62 characters (~190 bits).
pub fn generate_api_key() -> String {
    format!("bs_live_{}", random_token(BASE62, 32))
}

/// Whether `text` could be an API key we issued; lets the server refuse junk without a lookup.
pub fn looks_like_api_key(text: &str) -> bool {
    text.len() <= 128 && text.starts_with("bs_") && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The secret half of an API key: 33 random bytes in standard base64 (44 characters, no padding).
///
/// It is valid base64 on purpose: the BuyShazam dialect uses the string's UTF-8 bytes as the HMAC
/// key and the profile dialect uses its base64-decoded bytes, so one secret serves both schemes.
pub fn generate_api_secret() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(random_bytes::<33>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_have_the_documented_shape() {
        let id = OrderId::generate();
        assert_eq!(id.as_str().len(), 18);
        assert_eq!(id.as_str().parse::<OrderId>(), Ok(id.clone()));
        assert!("BSAPI-abc123def456".parse::<OrderId>().is_err());
        assert!("BSAPI-ABC123".parse::<OrderId>().is_err());
        assert!("XX-ABC123DEF456".parse::<OrderId>().is_err());
        assert_ne!(OrderId::generate(), OrderId::generate());
    }

    #[test]
    fn secrets_serve_both_signing_schemes() {
        use base64::Engine;
        let secret = generate_api_secret();
        assert_eq!(secret.len(), 44);
        assert!(!secret.contains('='));
        let decoded = base64::engine::general_purpose::STANDARD.decode(&secret).unwrap();
        assert_eq!(decoded.len(), 33);
        assert!(looks_like_api_key(&generate_api_key()));
    }
}
