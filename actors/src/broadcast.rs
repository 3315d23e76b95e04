//! Revocations broadcast to every node over Redis pub/sub, so a logout on
//! one node is refused on the others at once. Best effort: a missed message
//! only means the other node learns it from the database when its short
//! "still valid" cache entry expires.

use std::time::Duration;

use futures::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::DomainError;
use crate::domain::{SessionId, UserId};

const PUBLISH_TIMEOUT: Duration = Duration::from_millis(500);

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// This session is revoked, with every token issued in it.
    Session(SessionId),
    /// This user's row changed (deactivated, tokens-before mark).
    User(UserId),
}

impl Event {
    fn encode(self) -> String {
        match self {
            Event::Session(id) => format!("s:{id}"),
            Event::User(id) => format!("u:{id}"),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let (kind, id) = text.split_once(':')?;
        let id = Uuid::parse_str(id).ok()?;
        match kind {
            "s" => Some(Event::Session(SessionId(id))),
            "u" => Some(Event::User(UserId(id))),
            _ => None,
        }
    }
}

/// Publishes events on `channel`.
#[derive(Clone)]
pub struct Broadcast {
    client: redis::Client,
    conn: ConnectionManager,
    channel: String,
}

impl std::fmt::Debug for Broadcast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Broadcast({})", self.channel)
    }
}

impl Broadcast {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, DomainError> {
        let client =
            redis::Client::open(url).map_err(|e| DomainError::Internal(format!("redis: {e}")))?;
        let conn = ConnectionManager::new(client.clone())
            .await
            .map_err(|e| DomainError::Internal(format!("redis: {e}")))?;
        Ok(Self {
            client,
            conn,
            channel: format!("{prefix}:revocations"),
        })
    }

    pub(crate) async fn publish(&self, event: Event) {
        let mut conn = self.conn.clone();
        let sent = tokio::time::timeout(
            PUBLISH_TIMEOUT,
            conn.publish::<_, _, i64>(&self.channel, event.encode()),
        )
        .await;
        if !matches!(sent, Ok(Ok(_))) {
            tracing::warn!(
                "could not broadcast a revocation; other nodes will see it from the database shortly"
            );
        }
    }

    /// Calls `on_event` for every event published by any node (this one
    /// included) until `stop`, reconnecting after Redis outages.
    pub fn subscribe<F, Fut>(
        &self,
        stop: CancellationToken,
        on_event: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let client = self.client.clone();
        let channel = self.channel.clone();
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if pubsub.subscribe(&channel).await.is_ok() {
                            let mut messages = pubsub.on_message();
                            loop {
                                tokio::select! {
                                    () = stop.cancelled() => return,
                                    msg = messages.next() => match msg {
                                        Some(msg) => {
                                            if let Some(event) = msg.get_payload::<String>().ok().as_deref().and_then(Event::decode) {
                                                on_event(event).await;
                                            }
                                        }
                                        None => break,
                                    },
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "revocation subscriber cannot reach Redis; retrying")
                    }
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_garbage_is_ignored() {
        let id = Uuid::new_v4();
        assert_eq!(
            Event::decode(&Event::Session(SessionId(id)).encode()),
            Some(Event::Session(SessionId(id)))
        );
        assert_eq!(
            Event::decode(&Event::User(UserId(id)).encode()),
            Some(Event::User(UserId(id)))
        );
        for bad in ["", "t:", "x:1", "t:not-a-uuid", "nonsense"] {
            assert_eq!(Event::decode(bad), None);
        }
    }
}
