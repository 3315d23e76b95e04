use thiserror::Error;

#[derive(Debug, Error)]
pub enum JobsError {
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("queue error: {0}")]
    Queue(String),
    #[error("sealed payload could not be opened")]
    Crypto,
    #[error("template error: {0}")]
    Template(String),
    #[error("mailer setup error: {0}")]
    Mailer(String),
}
