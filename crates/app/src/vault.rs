//! The token vault: secrets sealed at rest with ChaCha20-Poly1305 under a master key.
//!
//! The master key (32 bytes) comes from `CALLFORCE_MASTER_KEY` (base64 or 64 hex digits) or
//! from `<data dir>/master.key`, created with mode 0600 at the first start. Every sealed value is
//! `nonce (12 bytes) || ciphertext || tag`, with associated data naming what it is and whose it
//! is (`callforce.vault.v1\0connection\0con_...`), so a sealed blob moved to another row does
//! not open. The store keeps, per key version, a *check value* (a known text sealed under that
//! key): a start with the wrong key fails at once instead of at the first refresh.
//!
//! Rotation (`callforce keys rotate`) opens every connection's secrets with the current key,
//! seals them with a new one and records the new version in one transaction. With a key file,
//! the new key is written to `master.key.new` first and renamed over `master.key` after the
//! commit; a start that finds the old key refused and `master.key.new` accepted finishes that
//! rename (a crash between the two steps loses nothing).
//!
//! The audit log's HMAC key of a key version is derived from that version's master key,
//! `HMAC-SHA256(master key, "callforce.audit.hmac.v1\0" || version as i64 big-endian)`, so
//! nothing needs storing while the key is current. A rotation seals every version's audit key
//! under the new master key (`audit.hmac.<version>` in the store's sealed values), so the entries
//! an old key made keep verifying. The Ed25519 key that signs audit checkpoints is random, made
//! once, and kept sealed the same way (`audit.checkpoint.ed25519`): it outlives restarts and
//! rotations, so its public key stays the one third parties hold.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

/// The environment variable the binary reads the master key from (named in messages).
pub const MASTER_KEY_ENV: &str = "CALLFORCE_MASTER_KEY";

/// The environment variable the binary reads the next master key from, for a rotation.
pub const NEW_MASTER_KEY_ENV: &str = "CALLFORCE_NEW_MASTER_KEY";

const CHECK_TEXT: &[u8] = b"callforce vault key check";
const KEY_FILE: &str = "master.key";
const NEW_KEY_FILE: &str = "master.key.new";

/// A 32-byte master key.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(k.as_mut());
        Self(k)
    }

    /// Parses a key given as base64 (44 characters) or hex (64 digits).
    ///
    /// # Errors
    /// When it is neither, or not 32 bytes long (the message never echoes the value).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        let bytes = Zeroizing::new(
            if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                (0..32)
                    .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                    .collect::<Result<Vec<u8>, _>>()
                    .map_err(|_| anyhow::anyhow!("the master key is not valid hex"))?
            } else {
                STANDARD.decode(text).map_err(|_| {
                anyhow::anyhow!("the master key must be 32 bytes in base64 (44 characters) or hex (64 digits)")
            })?
            },
        );
        let mut k = Zeroizing::new([0u8; 32]);
        if bytes.len() != 32 {
            bail!("the master key must be 32 bytes long (got {})", bytes.len());
        }
        k.copy_from_slice(&bytes);
        Ok(Self(k))
    }

    /// The key as base64 (what the key file holds).
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0.as_ref()))
    }

    /// Writes the key to `path`, which must not exist yet, readable by the owner only.
    ///
    /// # Errors
    /// I/O errors (an existing file is one: a key file is never overwritten here).
    pub fn write_new_file(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(path)
            .with_context(|| format!("creating the key file {}", path.display()))?;
        let mut text = self.to_base64();
        text.push('\n');
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        Ok(())
    }

    /// Reads a key file.
    ///
    /// # Errors
    /// I/O errors and a malformed key.
    pub fn read_file(path: &Path) -> anyhow::Result<Self> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the master key file {}", path.display()))?,
        );
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }
}

/// Where the master key comes from.
#[derive(Debug)]
pub enum KeySource {
    /// `CALLFORCE_MASTER_KEY`.
    Env(MasterKey),
    /// A key file in the data directory (created at the first start).
    File(PathBuf),
}

impl KeySource {
    /// The environment's key if given, else the key file in `data_dir`.
    ///
    /// # Errors
    /// A malformed `CALLFORCE_MASTER_KEY`.
    pub fn from(env_key: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        Ok(match env_key {
            Some(k) => Self::Env(
                MasterKey::parse(k)
                    .with_context(|| format!("{MASTER_KEY_ENV} is not a usable master key"))?,
            ),
            None => Self::File(data_dir.join(KEY_FILE)),
        })
    }
}

/// Errors opening a sealed value. They carry no secret.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The value was sealed with another key version than the vault's.
    #[error("the secret was sealed with key version {0}, this service holds version {1}")]
    KeyVersion(i64, i64),
    /// It does not open: wrong key, wrong row, or tampered with.
    #[error("the secret does not open (wrong master key, or the stored value was altered)")]
    Corrupt,
}

/// Seals and opens secrets under the master key of one version.
pub struct Vault {
    cipher: ChaCha20Poly1305,
    version: i64,
    /// The audit HMAC key of this version, derived from the master key.
    audit_key: Zeroizing<[u8; 32]>,
}

/// The label the audit HMAC key is derived under (the key version follows it).
const AUDIT_KEY_LABEL: &[u8] = b"callforce.audit.hmac.v1\0";
/// The purpose under which the vault's own keys (audit keys, the checkpoint key) are sealed.
const AUDIT: &str = "audit";
/// The sealed-value name of an older version's audit key.
const AUDIT_KEY_PREFIX: &str = "audit.hmac.";
/// The sealed-value name of the checkpoint signing key (its 32-byte Ed25519 seed).
pub const CHECKPOINT_KEY: &str = "audit.checkpoint.ed25519";

/// `HMAC-SHA256(master key, AUDIT_KEY_LABEL || version)`: the audit key of a key version.
fn derive_audit_key(key: &MasterKey, version: i64) -> Zeroizing<[u8; 32]> {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key.0.as_ref())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    m.update(AUDIT_KEY_LABEL);
    m.update(&version.to_be_bytes());
    Zeroizing::new(m.finalize().into_bytes().into())
}

/// Reads a 32-byte key out of opened bytes.
fn key32(bytes: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    let mut k = Zeroizing::new([0u8; 32]);
    (bytes.len() == 32).then(|| {
        k.copy_from_slice(bytes);
        k
    })
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

fn aad(purpose: &str, id: &str) -> Vec<u8> {
    let mut a = b"callforce.vault.v1\0".to_vec();
    a.extend_from_slice(purpose.as_bytes());
    a.push(0);
    a.extend_from_slice(id.as_bytes());
    a
}

impl Vault {
    /// A vault with `key` as version `version` (no check against the store).
    pub fn new(key: &MasterKey, version: i64) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key.0.as_ref())),
            version,
            audit_key: derive_audit_key(key, version),
        }
    }

    /// The audit keys: this version's (which keys new entries) and every older version's the
    /// store keeps sealed. An older key that does not open is left out with a warning: its
    /// entries then verify as unchecked, never as intact.
    ///
    /// # Errors
    /// Database errors.
    pub async fn audit_keys(
        &self,
        store: &callforce_store::Store,
    ) -> anyhow::Result<callforce_store::AuditKeys> {
        let mut keys = callforce_store::AuditKeys::new(self.version, self.audit_key.clone());
        for v in store
            .sealed_values()
            .await
            .context("reading the vault's sealed audit keys")?
        {
            let Some(version) = v
                .name
                .strip_prefix(AUDIT_KEY_PREFIX)
                .and_then(|n| n.parse::<i64>().ok())
            else {
                continue;
            };
            match self
                .open(AUDIT, &v.name, v.key_version, &v.sealed)
                .ok()
                .and_then(|k| key32(&k))
            {
                Some(k) => keys.add_older(version, k),
                None => tracing::warn!(
                    version,
                    "the sealed audit key of this version does not open: its entries cannot be checked"
                ),
            }
        }
        Ok(keys)
    }

    /// The Ed25519 key that signs audit checkpoints, if the store holds one.
    ///
    /// # Errors
    /// A stored key that does not open with this vault; database errors.
    pub async fn stored_checkpoint_key(
        &self,
        store: &callforce_store::Store,
    ) -> anyhow::Result<Option<ed25519_dalek::SigningKey>> {
        let stored = store
            .sealed_values()
            .await
            .context("reading the checkpoint signing key")?
            .into_iter()
            .find(|v| v.name == CHECKPOINT_KEY);
        let Some(v) = stored else {
            return Ok(None);
        };
        let seed = self
            .open(AUDIT, CHECKPOINT_KEY, v.key_version, &v.sealed)
            .ok()
            .and_then(|k| key32(&k))
            .context("the stored checkpoint signing key does not open with this master key")?;
        Ok(Some(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// The Ed25519 key that signs audit checkpoints: the one sealed in the store, or a new one
    /// sealed there now (the first instance to store it wins; the others read it back).
    ///
    /// # Errors
    /// A stored key that does not open with this vault (loudly: a new one would change the
    /// public key third parties hold); database errors.
    pub async fn checkpoint_key(
        &self,
        store: &callforce_store::Store,
    ) -> anyhow::Result<ed25519_dalek::SigningKey> {
        if let Some(k) = self.stored_checkpoint_key(store).await? {
            return Ok(k);
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(seed.as_mut());
        let sealed = self.seal(AUDIT, CHECKPOINT_KEY, seed.as_ref());
        if store
            .insert_sealed_value(CHECKPOINT_KEY, self.version, &sealed, chrono::Utc::now())
            .await
            .context("storing the checkpoint signing key")?
        {
            return Ok(ed25519_dalek::SigningKey::from_bytes(&seed));
        }
        // Another instance stored one first: use it.
        self.stored_checkpoint_key(store)
            .await?
            .context("the checkpoint signing key could not be stored nor read back")
    }

    /// The key version this vault seals with.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// Seals `plaintext` for `(purpose, id)`.
    pub fn seal(&self, purpose: &str, id: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let aad = aad(purpose, id);
        // NB: encryption with a valid key and nonce size cannot fail.
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a value sealed for `(purpose, id)` under key `version`.
    ///
    /// # Errors
    /// [`VaultError::KeyVersion`] for another version; [`VaultError::Corrupt`] when it does not
    /// open.
    pub fn open(
        &self,
        purpose: &str,
        id: &str,
        version: i64,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if version != self.version {
            return Err(VaultError::KeyVersion(version, self.version));
        }
        if sealed.len() < 12 + 16 {
            return Err(VaultError::Corrupt);
        }
        let (nonce, ct) = sealed.split_at(12);
        let aad = aad(purpose, id);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Corrupt)
    }

    fn check_value(&self) -> Vec<u8> {
        self.seal("check", &self.version.to_string(), CHECK_TEXT)
    }

    fn opens_check(&self, check: &[u8]) -> bool {
        self.open("check", &self.version.to_string(), self.version, check)
            .is_ok_and(|t| t.as_slice() == CHECK_TEXT)
    }

    /// Opens the vault of `store` with the key of `source`: the first start registers the key
    /// (creating the key file when that is the source); later starts must bring the same key.
    ///
    /// # Errors
    /// A key that does not open the store's check value (loudly: the service must not start),
    /// an unreadable key file, database errors.
    pub async fn unlock(
        store: &callforce_store::Store,
        source: &KeySource,
    ) -> anyhow::Result<Self> {
        let latest = store
            .latest_vault_key()
            .await
            .context("reading the vault's key check")?;
        let key = match source {
            KeySource::Env(k) => MasterKey(k.0.clone()),
            KeySource::File(path) => {
                if path.exists() {
                    MasterKey::read_file(path)?
                } else if latest.is_none() {
                    let k = MasterKey::generate();
                    k.write_new_file(path)?;
                    tracing::info!(path = %path.display(), "created the master key file");
                    k
                } else {
                    bail!(
                        "the master key file {} is missing but the database holds secrets sealed with a key: restore the file or set {}",
                        path.display(),
                        MASTER_KEY_ENV
                    );
                }
            }
        };
        let Some((version, check)) = latest else {
            let vault = Vault::new(&key, 1);
            if !store
                .register_first_vault_key(&vault.check_value(), chrono::Utc::now())
                .await?
            {
                // Another instance registered a key first: ours must be the same.
                return Box::pin(Self::unlock(store, source)).await;
            }
            return Ok(vault);
        };
        let vault = Vault::new(&key, version);
        if vault.opens_check(&check) {
            return Ok(vault);
        }
        // A rotation that committed but did not rename its new key file yet.
        if let KeySource::File(path) = source {
            let new = path.with_file_name(NEW_KEY_FILE);
            if new.exists() {
                let next = Vault::new(&MasterKey::read_file(&new)?, version);
                if next.opens_check(&check) {
                    std::fs::rename(&new, path).context("finishing a key rotation")?;
                    tracing::warn!("finished an interrupted key rotation");
                    return Ok(next);
                }
            }
        }
        bail!(
            "wrong master key: it does not open this database's secrets (key version {version}). \
             Start with the key the database was sealed with ({} or the key file in the data directory)",
            MASTER_KEY_ENV
        )
    }

    /// Opens the vault of `store` for an admin command, never creating anything: `None` when
    /// the store has no vault key yet or no master key is at hand (no `CALLFORCE_MASTER_KEY`, no
    /// key file).
    ///
    /// # Errors
    /// A key that does not open the store's check value; an unreadable key file; database
    /// errors.
    pub async fn open_existing(
        store: &callforce_store::Store,
        source: &KeySource,
    ) -> anyhow::Result<Option<Self>> {
        let Some((version, check)) = store
            .latest_vault_key()
            .await
            .context("reading the vault's key check")?
        else {
            return Ok(None);
        };
        let mut candidates = Vec::new();
        match source {
            KeySource::Env(k) => candidates.push(MasterKey(k.0.clone())),
            KeySource::File(path) => {
                // A rotation that committed but did not rename its new key file yet.
                for p in [path.clone(), path.with_file_name(NEW_KEY_FILE)] {
                    if p.exists() {
                        candidates.push(MasterKey::read_file(&p)?);
                    }
                }
                if candidates.is_empty() {
                    return Ok(None);
                }
            }
        }
        for key in candidates {
            let vault = Vault::new(&key, version);
            if vault.opens_check(&check) {
                return Ok(Some(vault));
            }
        }
        bail!(
            "wrong master key: it does not open this database's vault (key version {version}). \
             Give the key the database was sealed with ({} or the key file in the data directory)",
            MASTER_KEY_ENV
        )
    }

    /// Re-seals every connection's secrets under a new key (version + 1), in one transaction
    /// that also appends `vault.key_rotated` by `actor` to every workspace's audit log.
    /// With a key file, the new key replaces it; with `CALLFORCE_MASTER_KEY`, `new_key` must be
    /// given and the environment changed after.
    ///
    /// # Errors
    /// A secret that does not open with the current key (nothing is changed then); file and
    /// database errors.
    pub async fn rotate(
        &self,
        store: &callforce_store::Store,
        source: &KeySource,
        new_key: Option<MasterKey>,
        actor: crate::changes::Actor,
    ) -> anyhow::Result<i64> {
        let new_key = match (new_key, source) {
            (Some(k), _) => k,
            (None, KeySource::File(_)) => MasterKey::generate(),
            (None, KeySource::Env(_)) => bail!(
                "the master key comes from {}: give the new key in {}",
                MASTER_KEY_ENV,
                NEW_MASTER_KEY_ENV
            ),
        };
        let next = Vault::new(&new_key, self.version + 1);
        let mut resealed = Vec::new();
        let mut by_workspace: std::collections::BTreeMap<_, Vec<String>> = store
            .audit_workspaces()
            .await?
            .into_iter()
            .map(|ws| (ws, Vec::new()))
            .collect();
        for c in store.all_connections().await? {
            let plain = self
                .open(CONNECTION, &c.id, c.key_version, &c.secrets)
                .with_context(|| format!("opening the secrets of connection {}", c.id))?;
            resealed.push((c.id.clone(), next.seal(CONNECTION, &c.id, &plain)));
            by_workspace.entry(c.workspace).or_default().push(c.id);
        }
        // Every version's audit key, and every other value the vault sealed, under the new key.
        let mut sealed = Vec::new();
        let audit_keys = self.audit_keys(store).await?;
        for version in audit_keys.versions() {
            if let Some(k) = audit_keys.key(version) {
                let name = format!("{AUDIT_KEY_PREFIX}{version}");
                sealed.push((name.clone(), next.seal(AUDIT, &name, k)));
            }
        }
        for v in store.sealed_values().await? {
            if v.name.starts_with(AUDIT_KEY_PREFIX) {
                continue;
            }
            let plain = self
                .open(AUDIT, &v.name, v.key_version, &v.sealed)
                .with_context(|| format!("opening the vault's sealed {}", v.name))?;
            sealed.push((v.name.clone(), next.seal(AUDIT, &v.name, &plain)));
        }
        // Its entries are keyed like every other, whatever handle the caller passed.
        let store = &store.clone().with_audit_keys(audit_keys);
        // Every workspace's log says the key changed, naming its connections re-sealed.
        let entries: Vec<_> = by_workspace
            .into_iter()
            .map(|(ws, ids)| (ws, crate::changes::key_rotated(actor, next.version, &ids)))
            .collect();
        let new_path = match source {
            KeySource::File(path) => {
                let new = path.with_file_name(NEW_KEY_FILE);
                let _ = std::fs::remove_file(&new);
                new_key.write_new_file(&new)?;
                Some((new, path.clone()))
            }
            KeySource::Env(_) => None,
        };
        store
            .rotate_vault_key_audited(
                next.version,
                &next.check_value(),
                &resealed,
                &sealed,
                chrono::Utc::now(),
                &entries,
            )
            .await
            .context("storing the re-sealed secrets")?;
        if let Some((new, path)) = new_path {
            std::fs::rename(&new, &path).context("replacing the key file")?;
        }
        Ok(next.version)
    }
}

/// The purpose under which connection secrets are sealed.
pub const CONNECTION: &str = "connection";
/// The purpose under which a web-server flow's PKCE verifier is sealed.
pub const STATE: &str = "state";

/// The secrets of one connection, sealed together as JSON.
#[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Secrets {
    /// The current access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// The refresh token (web-server flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The JWT bearer flow's private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_key_pem: Option<String>,
    /// The connected app's consumer secret, when the connection brings its own app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets([redacted])")
    }
}

impl Drop for Secrets {
    fn drop(&mut self) {
        for s in [
            &mut self.access_token,
            &mut self.refresh_token,
            &mut self.jwt_key_pem,
            &mut self.client_secret,
        ]
        .into_iter()
        .flatten()
        {
            s.zeroize();
        }
    }
}

impl Secrets {
    /// Seals these secrets for connection `id`.
    pub fn seal(&self, vault: &Vault, id: &str) -> Vec<u8> {
        let json = Zeroizing::new(serde_json::to_vec(self).unwrap_or_default());
        vault.seal(CONNECTION, id, &json)
    }

    /// Opens the secrets of a stored connection.
    ///
    /// # Errors
    /// [`VaultError`] when they do not open.
    pub fn open(vault: &Vault, c: &callforce_store::StoredConnection) -> Result<Self, VaultError> {
        let plain = vault.open(CONNECTION, &c.id, c.key_version, &c.secrets)?;
        serde_json::from_slice(&plain).map_err(|_| VaultError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_row_and_key() {
        let key = MasterKey::generate();
        let v = Vault::new(&key, 1);
        let sealed = v.seal(CONNECTION, "con_a", b"tok");
        assert_eq!(
            v.open(CONNECTION, "con_a", 1, &sealed).unwrap().as_slice(),
            b"tok"
        );
        assert!(matches!(
            v.open(CONNECTION, "con_b", 1, &sealed),
            Err(VaultError::Corrupt)
        ));
        assert!(matches!(
            v.open(STATE, "con_a", 1, &sealed),
            Err(VaultError::Corrupt)
        ));
        assert!(matches!(
            v.open(CONNECTION, "con_a", 2, &sealed),
            Err(VaultError::KeyVersion(2, 1))
        ));
        let other = Vault::new(&MasterKey::generate(), 1);
        assert!(matches!(
            other.open(CONNECTION, "con_a", 1, &sealed),
            Err(VaultError::Corrupt)
        ));
        let mut tampered = sealed.clone();
        tampered[14] ^= 1;
        assert!(matches!(
            v.open(CONNECTION, "con_a", 1, &tampered),
            Err(VaultError::Corrupt)
        ));
        assert!(!sealed.windows(3).any(|w| w == b"tok"));
    }

    #[test]
    fn master_keys_parse_from_base64_or_hex() {
        let k = MasterKey::generate();
        let b64 = k.to_base64();
        let again = MasterKey::parse(&b64).unwrap();
        assert_eq!(again.0.as_ref(), k.0.as_ref());
        let hex: String = k.0.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(MasterKey::parse(&hex).unwrap().0.as_ref(), k.0.as_ref());
        for bad in ["", "short", "AAAA", &"g".repeat(64)] {
            let e = MasterKey::parse(bad).unwrap_err().to_string();
            assert!(e.contains("master key"), "{bad}: {e}");
        }
        assert_eq!(format!("{k:?}"), "MasterKey([redacted])");
    }

    #[tokio::test]
    async fn a_wrong_master_key_fails_loudly_and_rotation_reseals() {
        let dir = tempfile::tempdir().unwrap();
        let store = callforce_store::Store::open_sqlite(&dir.path().join("db"))
            .await
            .unwrap();
        let source = KeySource::File(dir.path().join(KEY_FILE));
        let v = Vault::unlock(&store, &source).await.unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The same key opens it again.
        assert_eq!(Vault::unlock(&store, &source).await.unwrap().version(), 1);
        // Another key does not.
        let wrong = KeySource::Env(MasterKey::generate());
        let e = Vault::unlock(&store, &wrong).await.unwrap_err().to_string();
        assert!(e.contains("wrong master key"), "{e}");

        let ws = store
            .create_workspace("w", chrono::Utc::now())
            .await
            .unwrap();
        let mut secrets = Secrets::default();
        secrets.refresh_token = Some("REFRESH-SECRET".into());
        let now = chrono::Utc::now();
        let c = callforce_store::StoredConnection {
            id: "con_1".into(),
            workspace: ws.id,
            name: "n".into(),
            kind: "web_server".into(),
            environment: "production".into(),
            login_url: "https://login".into(),
            client_id: None,
            instance_url: "https://i".into(),
            org_id: "00D".into(),
            user_id: "005".into(),
            username: "u".into(),
            scopes: "api".into(),
            api_version: "v59.0".into(),
            profile: "standard".into(),
            status: callforce_store::ConnectionStatus::Connected,
            status_reason: None,
            is_default: true,
            daily_share: None,
            max_concurrent: None,
            secrets: secrets.seal(&v, "con_1"),
            key_version: v.version(),
            created_at: now,
            updated_at: now,
        };
        store.insert_connection(&c).await.unwrap();
        let old_file = std::fs::read(dir.path().join(KEY_FILE)).unwrap();
        assert_eq!(
            v.rotate(&store, &source, None, crate::changes::Actor::Cli)
                .await
                .unwrap(),
            2
        );
        assert_ne!(std::fs::read(dir.path().join(KEY_FILE)).unwrap(), old_file);
        let v2 = Vault::unlock(&store, &source).await.unwrap();
        assert_eq!(v2.version(), 2);
        let stored = store.connection(ws.id, "con_1").await.unwrap().unwrap();
        assert_eq!(stored.key_version, 2);
        let opened = Secrets::open(&v2, &stored).unwrap();
        assert_eq!(opened.refresh_token.as_deref(), Some("REFRESH-SECRET"));
        // The old key is refused now.
        assert!(
            Vault::unlock(
                &store,
                &KeySource::Env(MasterKey::parse(std::str::from_utf8(&old_file).unwrap()).unwrap())
            )
            .await
            .is_err()
        );
    }

    #[tokio::test]
    async fn a_rotation_keeps_old_audit_entries_verifiable_and_the_checkpoint_key() {
        use callforce_store::{AuditFilter, NewAuditEntry, Verdict};
        let dir = tempfile::tempdir().unwrap();
        let store = callforce_store::Store::open_sqlite(&dir.path().join("db"))
            .await
            .unwrap();
        let source = KeySource::File(dir.path().join(KEY_FILE));
        let v1 = Vault::unlock(&store, &source).await.unwrap();
        let keyed1 = store
            .clone()
            .with_audit_keys(v1.audit_keys(&store).await.unwrap());
        let now = chrono::Utc::now();
        let ws = keyed1.create_workspace("w", now).await.unwrap().id;
        let entry = NewAuditEntry {
            kind: "write.done".into(),
            ..Default::default()
        };
        keyed1.append_audit(ws, now, &entry).await.unwrap();
        let checkpoint = v1.checkpoint_key(&store).await.unwrap().verifying_key();
        // The same key is read back, not made again.
        assert_eq!(
            v1.checkpoint_key(&store).await.unwrap().verifying_key(),
            checkpoint
        );

        v1.rotate(&keyed1, &source, None, crate::changes::Actor::Cli)
            .await
            .unwrap();
        let v2 = Vault::unlock(&store, &source).await.unwrap();
        let keys2 = v2.audit_keys(&store).await.unwrap();
        assert_eq!((keys2.current(), keys2.versions()), (Some(2), vec![1, 2]));
        assert_eq!(keys2.key(1), v1.audit_keys(&store).await.unwrap().key(1));
        let keyed2 = store.clone().with_audit_keys(keys2);
        keyed2.append_audit(ws, now, &entry).await.unwrap();
        let versions: Vec<_> = keyed2
            .list_audit(ws, &AuditFilter::default())
            .await
            .unwrap()
            .iter()
            .map(|e| (e.kind.clone(), e.key_version))
            .collect();
        assert_eq!(
            versions,
            [
                ("write.done".to_owned(), Some(1)),
                ("vault.key_rotated".to_owned(), Some(1)),
                ("write.done".to_owned(), Some(2)),
            ]
        );
        assert_eq!(
            keyed2.verify_audit(ws).await.unwrap(),
            Verdict::Intact {
                entries: 3,
                unkeyed: 0
            }
        );
        // The checkpoint key outlives the rotation: third parties keep the public key they hold.
        assert_eq!(
            v2.checkpoint_key(&store).await.unwrap().verifying_key(),
            checkpoint
        );
        // An admin command with the new key opens the same keys, and creates nothing.
        let opened = Vault::open_existing(&store, &source)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(opened.version(), 2);
        assert!(
            Vault::open_existing(&store, &KeySource::File(dir.path().join("absent")))
                .await
                .unwrap()
                .is_none()
        );
        assert!(!dir.path().join("absent").exists());
        let wrong = KeySource::Env(MasterKey::generate());
        assert!(Vault::open_existing(&store, &wrong).await.is_err());
    }
}
