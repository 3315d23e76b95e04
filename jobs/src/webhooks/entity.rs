use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The endpoint's key (`Endpoint::key`, a hash of its URL).
    pub endpoint: String,
    /// `webhook-id`: the same on every attempt of this event.
    pub webhook_id: String,
    /// The event type's name (`user.created` ...).
    pub r#type: String,
    pub user_id: Option<Uuid>,
    /// The body as sent, on every attempt.
    pub payload: String,
    pub status: Status,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub lease_until: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub last_response_status: Option<i32>,
    pub created_at: i64,
}

/// Where a delivery is: the only three states, stored by these names.
#[derive(Copy, Clone, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Status {
    /// Still to be sent (new, being sent, or waiting for a retry).
    #[sea_orm(string_value = "pending")]
    Pending,
    /// The receiver answered 2xx.
    #[sea_orm(string_value = "delivered")]
    Delivered,
    /// Still refused after the last attempt of the schedule.
    #[sea_orm(string_value = "failed")]
    Failed,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
