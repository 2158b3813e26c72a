//! Tokens: `lvsd_<id>_<secret>`, where `id` is 16 hex digits (8 random
//! bytes, public: it finds the row and names the token in logs) and `secret`
//! is 64 hex digits (32 random bytes from the OS). The database stores only
//! SHA-256(secret); a presented secret is hashed and compared in constant
//! time. The whole token is shown once, when it is made.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const PREFIX: &str = "lvsd_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// A whole token as handed to its owner. Its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    secret: String,
}

impl Token {
    /// A new token from the operating system's random source.
    pub fn generate() -> Result<Token, getrandom::Error> {
        Ok(Token {
            id: random_hex::<ID_BYTES>()?,
            secret: random_hex::<SECRET_BYTES>()?,
        })
    }

    /// The token as the client sends it: `lvsd_<id>_<secret>`.
    pub fn reveal(&self) -> String {
        format!("{PREFIX}{}_{}", self.id, self.secret)
    }

    /// Hex SHA-256 of the secret, as stored.
    pub fn secret_hash(&self) -> String {
        hex::encode(Sha256::digest(self.secret.as_bytes()))
    }

    /// Reads a token in its text form; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Token> {
        let (id, secret) = text.strip_prefix(PREFIX)?.split_once('_')?;
        let hex_of = |s: &str, bytes: usize| {
            s.len() == 2 * bytes
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        (hex_of(id, ID_BYTES) && hex_of(secret, SECRET_BYTES)).then(|| Token {
            id: id.to_string(),
            secret: secret.to_string(),
        })
    }

    /// Whether the secret hashes to `stored` (hex), compared in constant time.
    pub fn matches(&self, stored: &str) -> bool {
        let Ok(stored) = hex::decode(stored) else {
            return false;
        };
        let presented = Sha256::digest(self.secret.as_bytes());
        stored.len() == presented.len() && bool::from(presented.as_slice().ct_eq(&stored))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({PREFIX}{}_<secret>)", self.id)
    }
}

/// The public id in a token-shaped text, for the audit of a refused one:
/// never the secret.
pub fn claimed_id(text: &str) -> Option<String> {
    Token::parse(text).map(|token| token.id)
}

fn random_hex<const N: usize>() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Checks a token name: 1 to 64 of `A-Z a-z 0-9 . _ - @ :`. It is the actor in
/// the audit log, so it must read plainly.
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_@:".contains(&b))
        && name != "anonymous"
        && name != "unauthenticated"
        && !name.starts_with("local:");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a token name: 1 to 64 of A-Z a-z 0-9 . _ - @ :, and not `anonymous`, `unauthenticated` or `local:...`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_match_only_their_hash() {
        let token = Token::generate().unwrap();
        let text = token.reveal();
        assert!(
            text.starts_with("lvsd_") && text.len() == 5 + 16 + 1 + 64,
            "{text}"
        );
        let parsed = Token::parse(&text).unwrap();
        assert_eq!(parsed, token);
        assert!(parsed.matches(&token.secret_hash()));
        let other = Token::generate().unwrap();
        assert!(!other.matches(&token.secret_hash()));
        assert_ne!(other.id, token.id);
        assert!(!token.matches("not hex"));
        assert!(!token.matches("abcd"));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let token = Token::generate().unwrap();
        let debug = format!("{token:?}");
        assert!(debug.contains(&token.id));
        assert!(!debug.contains(&token.secret), "{debug}");
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = Token::generate().unwrap().reveal();
        for bad in [
            "",
            "lvsd_",
            "Bearer x",
            &good[..good.len() - 1],
            &format!("{good}0"),
            &good.replace("lvsd_", "lvsx_"),
            &good.to_uppercase(),
            &good.replacen('_', "-", 2),
        ] {
            assert!(Token::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(claimed_id(&good).unwrap().len(), 16);
    }

    #[test]
    fn names_read_plainly() {
        for good in ["ci", "alice@example.org", "agent-web.dir1", "a:b"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "anonymous",
            "local:root",
            "has space",
            "tab\t",
            &"x".repeat(65),
            "ünï",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
