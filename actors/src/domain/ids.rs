//! The ids that cross function boundaries, one type each, so a session id
//! cannot be passed where a user id is expected. Each is a uuid: it is
//! stored as one (a `uuid` column on PostgreSQL), printed, parsed and
//! serialized exactly as one.

use sea_orm::DeriveValueType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            DeriveValueType,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new random id (v4).
            pub fn new_v4() -> Self {
                Self(Uuid::new_v4())
            }

            /// A new time-ordered id (v7).
            pub fn now_v7() -> Self {
                Self(Uuid::now_v7())
            }

            /// The id as a plain uuid.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        // A primary key must say whether an inserted row's numeric id
        // converts to it: a uuid never does (as for `Uuid` itself).
        impl sea_orm::TryFromU64 for $name {
            fn try_from_u64(_: u64) -> Result<Self, sea_orm::DbErr> {
                Err(sea_orm::DbErr::ConvertFromU64(stringify!($name)))
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id! {
    /// An account: `users.id` and every `user_id` column.
    UserId
}

uuid_id! {
    /// A login session: `sessions.id` and every `session_id` column.
    SessionId
}

uuid_id! {
    /// A known device of an account: `devices.id` and every `device_id` column.
    DeviceId
}

uuid_id! {
    /// A registered passkey (not its credential id): `passkeys.id`.
    PasskeyId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_prints_parses_and_serializes_as_its_uuid() {
        let uuid = Uuid::new_v4();
        let id = UserId(uuid);
        assert_eq!(id.to_string(), uuid.to_string());
        assert_eq!(id.to_string().parse::<UserId>().ok(), Some(id));
        assert!("not-a-uuid".parse::<SessionId>().is_err());
        assert_eq!(
            serde_json::to_string(&id).ok(),
            serde_json::to_string(&uuid).ok()
        );
        assert_eq!(
            serde_json::from_str::<UserId>(&format!("\"{uuid}\"")).ok(),
            Some(id)
        );
    }
}
