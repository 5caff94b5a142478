//! Encryption at rest of connector secrets.
//!
//! Secrets are sealed with ChaCha20-Poly1305 under one 256-bit key of the
//! server, with a random 96-bit nonce per sealing stored in front of the
//! ciphertext. The key comes from the `secret_key` setting (`SLUICE_SECRET_KEY`)
//! or, when that is unset, from the file `secret.key` in the data folder,
//! which the first start creates.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// Bytes of the nonce stored in front of each ciphertext.
const NONCE_BYTES: usize = 12;

/// File name of the generated key inside the data folder.
pub const KEY_FILE: &str = "secret.key";

/// The key that seals and opens connector secrets.
#[derive(Clone)]
pub struct SecretKey {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// A failure to load a key or to open a sealed secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(String);

impl SecretKey {
    /// Parses a key written as 32 bytes in standard base64.
    ///
    /// # Errors
    ///
    /// Fails when the text is not base64 or does not decode to 32 bytes. The
    /// message never contains the text.
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            SecretError(
                "the secret key is not valid base64; generate one with `openssl rand -base64 32`"
                    .to_owned(),
            )
        })?;
        if bytes.len() != 32 {
            return Err(SecretError(format!(
                "the secret key decodes to {} bytes, but it must be 32; generate one with `openssl rand -base64 32`",
                bytes.len()
            )));
        }
        Ok(Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&bytes)),
        })
    }

    /// Returns a new random key and its base64 text.
    pub fn generate() -> (Self, String) {
        let key = ChaCha20Poly1305::generate_key(&mut OsRng);
        let text = STANDARD.encode(key);
        (
            Self {
                cipher: ChaCha20Poly1305::new(&key),
            },
            text,
        )
    }

    /// Loads the key from `configured` when set, otherwise from `KEY_FILE` in
    /// `data_dir`, creating that file (readable by its owner only) when missing.
    ///
    /// # Errors
    ///
    /// Fails when the configured or stored key is invalid, or when the file
    /// cannot be read or written.
    pub fn load_or_create(configured: Option<&str>, data_dir: &Path) -> Result<Self, SecretError> {
        if let Some(text) = configured {
            return Self::from_base64(text)
                .map_err(|err| SecretError(format!("setting `secret_key`: {err}")));
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_base64(&text)
                .map_err(|err| SecretError(format!("{}: {err}", path.display()))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let (key, text) = Self::generate();
                write_private(&path, &text).map_err(|err| {
                    SecretError(format!(
                        "writing the new secret key to {} failed: {err}",
                        path.display()
                    ))
                })?;
                tracing::info!(path = %path.display(), "Created the key that encrypts connector secrets; back it up with the database");
                Ok(key)
            }
            Err(err) => Err(SecretError(format!(
                "reading the secret key {} failed: {err}",
                path.display()
            ))),
        }
    }

    /// Encrypts `plaintext` and returns the nonce followed by the ciphertext.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        // ChaCha20-Poly1305 fails only for messages over about 256 GiB, and
        // secrets arrive in request bodies capped far below that.
        let ciphertext = self.cipher.encrypt(&nonce, plaintext).unwrap_or_default();
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Decrypts what [`SecretKey::seal`] returned.
    ///
    /// # Errors
    ///
    /// Fails when the data is too short, was changed, or was sealed under
    /// another key.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        if sealed.len() < NONCE_BYTES {
            return Err(SecretError("a stored secret is truncated".to_owned()));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        self.cipher.decrypt(Nonce::from_slice(nonce), ciphertext).map_err(|_| {
            SecretError(
                "a stored secret cannot be decrypted: it was sealed under another secret key or changed; \
                 start Sluice with the key it was stored under"
                    .to_owned(),
            )
        })
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_opens_with_same_key_only() {
        let (key, _) = SecretKey::generate();
        let sealed = key.seal(b"token-123");
        assert!(
            !sealed.windows(9).any(|window| window == b"token-123"),
            "the plaintext is not stored"
        );
        assert_eq!(key.open(&sealed).expect("opens"), b"token-123");

        let (other, _) = SecretKey::generate();
        assert!(other.open(&sealed).is_err());
        let mut changed = sealed.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert!(key.open(&changed).is_err());
        assert!(key.open(&sealed[..5]).is_err());
    }

    #[test]
    fn key_file_is_created_once() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let first = SecretKey::load_or_create(None, folder.path()).expect("created");
        let sealed = first.seal(b"x");
        let again = SecretKey::load_or_create(None, folder.path()).expect("loaded");
        assert_eq!(again.open(&sealed).expect("same key"), b"x");
    }

    #[test]
    fn invalid_configured_key_is_named_without_its_text() {
        let err = SecretKey::load_or_create(Some("not-base64!!"), Path::new("/nonexistent"))
            .expect_err("invalid");
        assert!(err.to_string().contains("secret_key"), "{err}");
        assert!(!err.to_string().contains("not-base64!!"), "{err}");
        let short = SecretKey::from_base64("AAAA").expect_err("3 bytes");
        assert!(short.to_string().contains("3 bytes"), "{short}");
    }
}
