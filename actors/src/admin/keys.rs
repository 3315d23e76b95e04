//! Admin keys: `adm_` + 256 random bits (base64url), shown once when made
//! and stored only as their SHA-256; a presented key is looked up by its
//! hash (so no comparison of secrets depends on how much of a key is
//! right) and the stored hash compared in constant time.

use sea_orm::DatabaseConnection;
use tracing::instrument;
use zeroize::Zeroizing;

use super::Admin;
use crate::DomainError;
use crate::one_time::{NewToken, hash_token, same_hash, well_formed};
use crate::store::{admin_keys, is_unique_violation};

/// What every admin key starts with.
const PREFIX: &str = "adm_";
/// `last_used_at` is written at most once a minute per key.
const NOTE_USE_EVERY_MS: i64 = 60_000;

/// The admin key a request presented, once accepted.
#[derive(Debug, Clone)]
pub struct AdminCaller {
    /// The key's name.
    pub name: String,
    /// The key may only read.
    pub read_only: bool,
    /// `admin:<name>`: the `actor` of the events its changes record.
    pub actor: String,
}

impl AdminCaller {
    /// Refuses a change asked with a read-only key.
    pub fn may_write(&self) -> Result<(), DomainError> {
        if self.read_only {
            Err(DomainError::ReadOnlyKey)
        } else {
            Ok(())
        }
    }
}

/// An admin key as `authd admin list-keys` shows it: never the key.
#[derive(Debug, Clone)]
pub struct AdminKeyInfo {
    pub name: String,
    pub read_only: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A key name: 1 to 64 of `A-Za-z0-9_.-`.
fn parse_name(name: &str) -> Result<&str, DomainError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(name)
    } else {
        Err(DomainError::field(
            "name",
            "must be 1 to 64 letters, digits, `_`, `.` or `-`",
        ))
    }
}

/// Makes a key named `name` and returns it (the only time it is seen):
/// only its hash is stored. A name already used (even by a revoked key)
/// is a validation error on `name`.
#[instrument(skip_all, fields(name), err(level = "info", Display))]
pub async fn create_key(
    db: &DatabaseConnection,
    name: &str,
    read_only: bool,
    now_ms: i64,
) -> Result<Zeroizing<String>, DomainError> {
    let name = parse_name(name)?;
    tracing::Span::current().record("name", name);
    let token = NewToken::generate();
    let key = Zeroizing::new(format!("{PREFIX}{}", token.secret.as_str()));
    match admin_keys::insert(db, name, hash_token(&key), read_only, now_ms).await {
        Ok(()) => Ok(key),
        Err(e) if is_unique_violation(&e) => Err(DomainError::field(
            "name",
            "is already used by another admin key",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Every key, oldest first, without the keys.
pub async fn list_keys(db: &DatabaseConnection) -> Result<Vec<AdminKeyInfo>, DomainError> {
    Ok(admin_keys::all(db)
        .await?
        .into_iter()
        .map(|k| AdminKeyInfo {
            name: k.name,
            read_only: k.read_only,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        })
        .collect())
}

/// Revokes the live key named `name`; `false` when there is none.
pub async fn revoke_key(
    db: &DatabaseConnection,
    name: &str,
    now_ms: i64,
) -> Result<bool, DomainError> {
    Ok(admin_keys::revoke(db, name, now_ms).await?)
}

impl Admin {
    /// The live admin key `presented` is, or `AdminKeyRefused` (not an
    /// admin key, unknown, or revoked). Notes its use (at most once a
    /// minute).
    pub async fn authenticate(&self, presented: &str) -> Result<AdminCaller, DomainError> {
        // Not the shape of a key: refused before the database is asked.
        if !presented.strip_prefix(PREFIX).is_some_and(well_formed) {
            return Err(DomainError::AdminKeyRefused);
        }
        let hash = hash_token(presented);
        let key = admin_keys::find_by_hash(&self.db, &hash)
            .await?
            .filter(|k| same_hash(&k.key_hash, &hash) && k.revoked_at.is_none())
            .ok_or(DomainError::AdminKeyRefused)?;
        let now_ms = self.clock.now_ms();
        if key
            .last_used_at
            .is_none_or(|at| at < now_ms - NOTE_USE_EVERY_MS)
        {
            admin_keys::note_use(&self.db, key.id, now_ms, now_ms - NOTE_USE_EVERY_MS).await?;
        }
        Ok(AdminCaller {
            actor: format!("admin:{}", key.name),
            name: key.name,
            read_only: key.read_only,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_plain() {
        assert!(parse_name("ops-backend.1").is_ok());
        for bad in ["", "a b", "x\n", &"a".repeat(65), "é"] {
            assert!(parse_name(bad).is_err(), "{bad:?}");
        }
    }
}
