//! Nodes with different keys refuse to start. Each key setting's
//! fingerprints are recorded in the database in order (`key_fingerprints`);
//! the newest is the key the nodes write with. At start a node:
//!
//! - records its key when none is recorded (the first node);
//! - starts when its key is the newest;
//! - starts when the newest is one of its previous keys (`…_PREVIOUS`):
//!   it can read what the others write. If its key was never recorded it is
//!   a rotation, and its key becomes the newest; if it was recorded before
//!   (a node told about the next key but still writing with the current
//!   one, or going back) nothing changes;
//! - else refuses, with one line naming the setting.
//!
//! Recording is `INSERT … ON CONFLICT DO NOTHING` at the next position, so
//! two nodes racing agree on one key and the other is refused.

use anyhow::Context;
use sea_orm::DatabaseConnection;
use tracing::info;

use actors::fingerprint::fingerprint;
use actors::store::key_fingerprints::{self, Model};

/// One key setting of this node, as fingerprints.
#[derive(Debug, Clone)]
pub struct NodeKey {
    /// The setting (`AUTH_ENCRYPTION_KEY`, …), also the row's name.
    pub setting: &'static str,
    /// The setting holding previous keys, for the refusal's advice.
    pub previous_setting: Option<&'static str>,
    /// The fingerprint of the key this node writes (seals, signs) with.
    pub current: String,
    /// The fingerprints of the keys it only reads (verifies) with.
    pub previous: Vec<String>,
}

impl NodeKey {
    /// `AUTH_ENCRYPTION_KEY` and `AUTH_ENCRYPTION_KEYS_PREVIOUS`.
    pub fn encryption(key: &[u8; 32], previous: &[[u8; 32]]) -> Self {
        const PURPOSE: &str = "encryption key";
        Self {
            setting: "AUTH_ENCRYPTION_KEY",
            previous_setting: Some("AUTH_ENCRYPTION_KEYS_PREVIOUS"),
            current: fingerprint(PURPOSE, key),
            previous: previous.iter().map(|k| fingerprint(PURPOSE, k)).collect(),
        }
    }
}

/// What a node does about one key, given what is recorded.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// Start.
    Start,
    /// Record the node's key at this position, then decide again.
    Record(i64),
    /// Refuse to start: the newest recorded fingerprint.
    Refuse(String),
}

fn decide(key: &NodeKey, recorded: &[Model]) -> Decision {
    let Some(newest) = recorded.last() else {
        return Decision::Record(0);
    };
    if newest.fingerprint == key.current {
        return Decision::Start;
    }
    if !key.previous.contains(&newest.fingerprint) {
        return Decision::Refuse(newest.fingerprint.clone());
    }
    if recorded.iter().any(|r| r.fingerprint == key.current) {
        Decision::Start
    } else {
        Decision::Record(newest.position + 1)
    }
}

/// Checks (and records) this node's key against the database's; logs its
/// fingerprint. `Err` is the one line to stop with.
pub async fn check(db: &DatabaseConnection, key: &NodeKey, now_ms: i64) -> anyhow::Result<()> {
    // Recording can lose a race to another node; the winner's key decides.
    for _ in 0..3 {
        let recorded = key_fingerprints::recorded(db, key.setting)
            .await
            .with_context(|| format!("cannot read the key fingerprints ({})", key.setting))?;
        match decide(key, &recorded) {
            Decision::Start => {
                info!(
                    setting = key.setting,
                    fingerprint = %key.current,
                    previous = %key.previous.join(","),
                    "key fingerprint"
                );
                return Ok(());
            }
            Decision::Record(position) => {
                key_fingerprints::record(db, key.setting, position, &key.current, now_ms)
                    .await
                    .with_context(|| {
                        format!("cannot record the key fingerprint ({})", key.setting)
                    })?;
                if position > 0 {
                    info!(
                        setting = key.setting,
                        fingerprint = %key.current,
                        "key rotated: this node's key is now the one every node writes with"
                    );
                }
            }
            Decision::Refuse(newest) => anyhow::bail!(refusal(key, &newest)),
        }
    }
    anyhow::bail!(
        "{}: the key fingerprints keep changing; start again",
        key.setting
    )
}

fn refusal(key: &NodeKey, newest: &str) -> String {
    let previous = key
        .previous_setting
        .map(|p| format!(" (or, to rotate, list the database's key in {p})"))
        .unwrap_or_default();
    format!(
        "{} differs from the key the other nodes use (fingerprint {newest} in the database, \
         this node's {}): set the same key on every node{previous}, see README \"Rotating keys\"",
        key.setting, key.current
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(current: &str, previous: &[&str]) -> NodeKey {
        NodeKey {
            setting: "AUTH_K",
            previous_setting: Some("AUTH_K_PREVIOUS"),
            current: current.to_owned(),
            previous: previous.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn rows(fingerprints: &[&str]) -> Vec<Model> {
        fingerprints
            .iter()
            .zip(0..)
            .map(|(f, position)| Model {
                name: "AUTH_K".into(),
                position,
                fingerprint: (*f).to_owned(),
                created_at: 0,
            })
            .collect()
    }

    #[test]
    fn the_first_node_records_and_the_same_key_starts() {
        assert_eq!(decide(&node("a", &[]), &[]), Decision::Record(0));
        assert_eq!(decide(&node("a", &[]), &rows(&["a"])), Decision::Start);
    }

    #[test]
    fn another_key_is_refused() {
        assert_eq!(
            decide(&node("b", &[]), &rows(&["a"])),
            Decision::Refuse("a".into())
        );
        // A node left on the old key after a rotation, too.
        assert_eq!(
            decide(&node("a", &[]), &rows(&["a", "b"])),
            Decision::Refuse("b".into())
        );
    }

    #[test]
    fn a_rotation_moves_the_newest_forward_once() {
        // Told about the next key, still writing with the current one.
        assert_eq!(decide(&node("a", &["b"]), &rows(&["a"])), Decision::Start);
        // Writing with the next key, reading the current one: recorded.
        assert_eq!(
            decide(&node("b", &["a"]), &rows(&["a"])),
            Decision::Record(1)
        );
        assert_eq!(
            decide(&node("b", &["a"]), &rows(&["a", "b"])),
            Decision::Start
        );
        // A node of the first step restarted later: starts, changes nothing.
        assert_eq!(
            decide(&node("a", &["b"]), &rows(&["a", "b"])),
            Decision::Start
        );
        // The old key dropped once nothing needs it.
        assert_eq!(decide(&node("b", &[]), &rows(&["a", "b"])), Decision::Start);
    }

    #[test]
    fn the_refusal_is_one_line_naming_the_setting() {
        let line = refusal(&node("b", &[]), "a");
        assert!(!line.contains('\n'));
        assert!(line.starts_with("AUTH_K differs"), "{line}");
        assert!(line.contains("AUTH_K_PREVIOUS"), "{line}");
    }
}
