//! Signed notes, as `golang.org/x/mod/sumdb/note`: the verifier key
//! (`name+hash+key`, the first field of GOSUMDB) and the check that a note
//! (a tree head) carries a valid Ed25519 signature by that key.

use base64::Engine;
use sha2::{Digest, Sha256};

/// The Ed25519 algorithm byte of a verifier key.
const ALG_ED25519: u8 = 1;

/// A checksum database's public key, parsed from `name+hash+base64key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    hash: u32,
    /// The 32-byte Ed25519 public key.
    key: Vec<u8>,
}

/// The key hash of a verifier: the first four bytes of
/// SHA-256(`name` `\n` `key`), big-endian (`key` with its algorithm byte).
pub fn key_hash(name: &str, key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(key);
    let sum = h.finalize();
    u32::from_be_bytes([sum[0], sum[1], sum[2], sum[3]])
}

/// Whether `name` can name a key: not empty, no space, no `+`.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(char::is_whitespace) && !name.contains('+')
}

impl Verifier {
    /// Parses a verifier key, `name+hash+base64(0x01 || public key)`, with
    /// x/mod's checks (the hash must be the key's hash).
    pub fn parse(vkey: &str) -> Result<Verifier, String> {
        let malformed = || "malformed verifier id".to_owned();
        let (name, rest) = vkey.split_once('+').ok_or_else(malformed)?;
        let (hash16, key64) = rest.split_once('+').ok_or_else(malformed)?;
        let hash = u32::from_str_radix(hash16, 16).map_err(|_| malformed())?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(key64)
            .map_err(|_| malformed())?;
        if hash16.len() != 8 || !valid_name(name) || key.is_empty() {
            return Err(malformed());
        }
        if hash != key_hash(name, &key) {
            return Err("invalid verifier hash".into());
        }
        if key[0] != ALG_ED25519 {
            return Err("unknown verifier algorithm".into());
        }
        if key.len() != 33 {
            return Err(malformed());
        }
        Ok(Verifier {
            name: name.to_owned(),
            hash,
            key: key[1..].to_vec(),
        })
    }

    /// The database's name (e.g. `sum.golang.org`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Opens a signed note: checks that it is well formed and carries a
    /// valid signature by this key (other signatures are ignored), and
    /// returns its text (ending in a newline).
    pub fn open<'a>(&self, msg: &'a [u8]) -> Result<&'a str, String> {
        let malformed = || "malformed note".to_owned();
        let text = std::str::from_utf8(msg).map_err(|_| malformed())?;
        if text.chars().any(|c| c < ' ' && c != '\n') {
            return Err(malformed());
        }
        let split = text.rfind("\n\n").ok_or_else(malformed)?;
        let (body, sigs) = (&text[..=split], &text[split + 2..]);
        if !sigs.ends_with('\n') {
            return Err(malformed());
        }
        let mut verified = false;
        for (count, line) in sigs.lines().enumerate() {
            if count >= 100 {
                return Err(malformed());
            }
            let line = line.strip_prefix("— ").ok_or_else(malformed)?;
            let (name, sig64) = line.split_once(' ').ok_or_else(malformed)?;
            let sig = base64::engine::general_purpose::STANDARD
                .decode(sig64)
                .map_err(|_| malformed())?;
            if !valid_name(name) || sig.len() < 5 {
                return Err(malformed());
            }
            let hash = u32::from_be_bytes([sig[0], sig[1], sig[2], sig[3]]);
            if name != self.name || hash != self.hash {
                continue;
            }
            if !ed25519_valid(&self.key, body.as_bytes(), &sig[4..]) {
                return Err(format!(
                    "invalid signature for key {}+{:08x}",
                    self.name, self.hash
                ));
            }
            verified = true;
        }
        if verified {
            Ok(body)
        } else {
            Err(format!(
                "note has no signature by the key {}+{:08x}",
                self.name, self.hash
            ))
        }
    }
}

/// Whether `sig` is `key`'s Ed25519 signature of `message`.
#[cfg(feature = "net")]
fn ed25519_valid(key: &[u8], message: &[u8], sig: &[u8]) -> bool {
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
        .verify(message, sig)
        .is_ok()
}

/// Without the network client (and its `ring`) no signature can be
/// checked, so none is valid: a checksum database fails closed.
#[cfg(not(feature = "net"))]
fn ed25519_valid(_key: &[u8], _message: &[u8], _sig: &[u8]) -> bool {
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The key of sum.golang.org (cmd/go/internal/modfetch/key.go).
    const SUM_GOLANG_ORG: &str =
        "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";

    #[test]
    fn parses_the_well_known_key() {
        let v = Verifier::parse(SUM_GOLANG_ORG).unwrap();
        assert_eq!(v.name(), "sum.golang.org");
        assert!(
            Verifier::parse("sum.golang.org+033de0af+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8")
                .is_err()
        );
        assert!(Verifier::parse("sum.golang.org").is_err());
    }

    #[test]
    fn opens_only_notes_signed_by_the_key() {
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).unwrap();
        use ring::signature::KeyPair;
        let mut pubkey = vec![ALG_ED25519];
        pubkey.extend_from_slice(pair.public_key().as_ref());
        let hash = key_hash("test.db", &pubkey);
        let vkey = format!(
            "test.db+{hash:08x}+{}",
            base64::engine::general_purpose::STANDARD.encode(&pubkey)
        );
        let v = Verifier::parse(&vkey).unwrap();
        let text = "go.sum database tree\n1\nAAAA\n";
        let mut sig = hash.to_be_bytes().to_vec();
        sig.extend_from_slice(pair.sign(text.as_bytes()).as_ref());
        let sig64 = base64::engine::general_purpose::STANDARD.encode(&sig);
        let note = format!("{text}\n— test.db {sig64}\n");
        assert_eq!(v.open(note.as_bytes()), Ok(text));
        let forged = note.replace("\n1\n", "\n2\n");
        assert!(
            v.open(forged.as_bytes())
                .unwrap_err()
                .contains("invalid signature")
        );
        let other = format!("{text}\n— other.db {sig64}\n");
        assert!(
            v.open(other.as_bytes())
                .unwrap_err()
                .contains("no signature")
        );
    }
}
