//! Secrets that sign people in (magic-link tokens, session ids) are random, shown once and
//! kept only as their hash: SHA-256, hex. A 256-bit random value needs no slow hash, and a
//! plain one lets the store look it up.

use sha2::{Digest, Sha256};

/// The hash under which a token or session id is stored.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_hash_is_hex_sha256() {
        assert_eq!(
            super::hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
