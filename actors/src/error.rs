use std::collections::BTreeMap;

use thiserror::Error;

/// Field name -> messages, in a stable order.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Everything that can go wrong in the domain. No HTTP here: the API crate
/// maps each variant to a status in one exhaustive match.
#[derive(Debug, Error)]
pub enum DomainError {
    #[error("invalid input")]
    Validation(FieldErrors),
    #[error("email already registered")]
    EmailTaken,
    #[error("invalid or expired token")]
    InvalidToken,
    #[error("too busy")]
    Busy,
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        DomainError::Validation(BTreeMap::from([(field.to_owned(), vec![message.into()])]))
    }
}

impl From<sea_orm::DbErr> for DomainError {
    fn from(e: sea_orm::DbErr) -> Self {
        DomainError::Internal(format!("database: {e}"))
    }
}

impl From<jobs::JobsError> for DomainError {
    fn from(e: jobs::JobsError) -> Self {
        DomainError::Internal(format!("outbox: {e}"))
    }
}
