//! Emails about an account, queued in the caller's transaction and sent
//! to the account's stored address, never to an address as typed in a
//! request.

use jobs::outbox::{self, NewEmail};
use jobs::{EmailKind, Sealer};
use sea_orm::ConnectionTrait;

use crate::DomainError;
use crate::domain::UserId;

pub(crate) async fn queue<C: ConnectionTrait>(
    conn: &C,
    sealer: &Sealer,
    user_id: UserId,
    stored_email: &str,
    kind: EmailKind,
    now_ms: i64,
) -> Result<(), DomainError> {
    let email = NewEmail {
        user_id: Some(user_id.0),
        recipient: stored_email.to_owned(),
        kind,
    };
    outbox::enqueue(conn, sealer, now_ms, email).await?;
    Ok(())
}
