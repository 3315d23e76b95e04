//! Email delivery: the transactional outbox, the apalis queue that carries
//! outbox ids to workers and retries them, the relay that feeds the queue,
//! and the worker that renders and sends each email with lettre.

pub mod batch;
pub mod clock;
pub mod crypto;
pub mod email;
pub mod error;
pub mod mailer;
pub mod outbox;
pub mod queue;
pub mod relay;
pub mod retry;
pub mod slots;
pub mod tuning;
pub mod webhooks;
pub mod worker;

pub use clock::{Clock, OffsetClock, SharedClock, SystemClock};
pub use crypto::Sealer;
pub use email::EmailKind;
pub use error::JobsError;
pub use mailer::Mailer;
pub use outbox::NewEmail;
pub use queue::{EmailJob, Queue};
pub use tuning::DeliveryTuning;
pub use webhooks::{EventType, Webhooks};
