//! Secrets that sign people in (magic-link tokens, session ids, one-time codes) are random,
//! shown once and kept only as their hash: SHA-256, hex. A 256-bit random value needs no
//! slow hash, and a plain one lets the store look it up. A six-digit code is another matter:
//! its hash is bound to the person, and the store lets it be tried only a few times.

use sha2::{Digest, Sha256};

/// The hash under which a token or session id is stored.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// How long a one-time sign-in code works after it was made (at delivery), in milliseconds.
pub const CODE_TTL_MS: i64 = 15 * 60_000;

/// Wrong tries after which a one-time sign-in code is dead.
pub const CODE_MAX_FAILURES: i64 = 5;

/// The hash under which a one-time sign-in code of `email` in `account` is stored: the code
/// is short, so its hash is bound to the person (one code hashes differently for each).
pub fn code_hash(account: &str, email: &str, code: &str) -> String {
    hash(&format!("sign-in-code\n{account}\n{email}\n{code}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_codes_hash_depends_on_its_person() {
        let ada = super::code_hash("acme", "ada@acme.example", "123456");
        assert_eq!(ada, super::code_hash("acme", "ada@acme.example", "123456"));
        assert_ne!(
            ada,
            super::code_hash("globex", "ada@acme.example", "123456")
        );
        assert_ne!(ada, super::code_hash("acme", "eve@acme.example", "123456"));
        assert_ne!(ada, super::hash("123456"));
    }

    #[test]
    fn the_hash_is_hex_sha256() {
        assert_eq!(
            super::hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
