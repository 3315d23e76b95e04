//! Security alerts to an account's owner: what happened, when, from which
//! IP and browser, and what to do. Each is queued through the outbox in the
//! transaction of the change it reports, so none is lost, and none carries
//! a live token: the "what to do" link is the page where the owner asks for
//! a reset. The one owner of which events mail the owner unasked.

use std::sync::Arc;

use jobs::email::{AlertFacts, Seen};
use jobs::{EmailKind, Sealer};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};
use tokio::sync::Notify;

use crate::DomainError;
use crate::attempts::{Authenticated, SteppedUp};
use crate::audit::{Event, EventKind};
use crate::context::RequestContext;
use crate::domain::UserId;
use crate::notices;
use crate::rate_limit::RateLimiter;
use crate::store::{devices, users};
use crate::work::{AfterCommit, Work};

/// The alerts no setting turns off: changes to credentials and signs of
/// an attack (as named in the settings answer).
pub const ALWAYS_ON: [&str; 5] = [
    "refresh_token_reused",
    "account_locked",
    "password_changed",
    "mfa_enabled",
    "mfa_disabled",
];

#[derive(Debug, Clone)]
pub struct Alerts {
    pub sealer: Arc<Sealer>,
    /// Wakes the outbox relay after a commit that queued an alert.
    pub outbox_wake: Arc<Notify>,
    /// The frontend page where a reset is asked for (no token in it).
    pub reset_page: String,
    /// New-device alerts per account ([`NEW_DEVICE_ALERTS_PER_HOUR`]), so
    /// a client that never keeps its device token cannot flood the inbox;
    /// `None`: no cap.
    pub new_device_budget: Option<RateLimiter>,
}

/// New-device alerts one account is sent per hour at most.
pub const NEW_DEVICE_ALERTS_PER_HOUR: u32 = 5;

/// What an alert reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// A completed login from a device the account has not seen before
    /// (the account had one before). Informational: the owner may turn it off.
    NewDevice,
    /// A refresh token presented again: its session was ended.
    RefreshReused,
    /// The account locked by failures of clients without a device token
    /// (sent for the first lock of a run only).
    AccountLocked,
    /// The new-device alert was turned off (always sent).
    AlertsOff,
}

impl Alerts {
    /// Queues `alert` for `user_id` in `conn`'s transaction; `false` when
    /// nothing was queued (no such user, or an alert the owner turned
    /// off). Call [`Alerts::wake_outbox`] after the commit.
    pub async fn queue<C: ConnectionTrait>(
        &self,
        conn: &C,
        alert: Alert,
        user_id: UserId,
        client: &RequestContext,
        now_ms: i64,
    ) -> Result<bool, DomainError> {
        let Some(user) = users::Entity::find_by_id(user_id).one(conn).await? else {
            return Ok(false);
        };
        if alert == Alert::NewDevice
            && !(user.alert_new_device && self.new_device_allowed(user_id).await)
        {
            return Ok(false);
        }
        let facts = facts(&user, client, now_ms, &self.reset_page);
        let kind = match alert {
            Alert::NewDevice => EmailKind::NewDeviceLogin(facts),
            Alert::RefreshReused => EmailKind::RefreshTokenReused(facts),
            Alert::AccountLocked => EmailKind::AccountLocked(facts),
            Alert::AlertsOff => EmailKind::AlertsOff(facts),
        };
        notices::queue(conn, &self.sealer, user.id, &user.email, kind, now_ms).await?;
        metrics::counter!("authd_alerts_queued_total", "alert" => alert.label()).increment(1);
        Ok(true)
    }

    /// [`Alerts::queue`] in a unit of work, which then wakes the outbox.
    pub(crate) async fn queue_in(
        &self,
        work: &mut Work,
        alert: Alert,
        user_id: UserId,
        client: &RequestContext,
    ) -> Result<bool, DomainError> {
        let now = work.now_ms();
        let queued = self.queue(work.conn(), alert, user_id, client, now).await?;
        if queued {
            work.mailed();
        }
        Ok(queued)
    }

    /// A completed login from a new device: queued only when the account
    /// had a device before this login (its first login is no news).
    pub(crate) async fn queue_if_new_device<C: ConnectionTrait>(
        &self,
        conn: &C,
        user_id: UserId,
        client: &RequestContext,
        now_ms: i64,
    ) -> Result<bool, DomainError> {
        if !devices::any_for_user(conn, user_id).await? {
            return Ok(false);
        }
        self.queue(conn, Alert::NewDevice, user_id, client, now_ms)
            .await
    }

    async fn new_device_allowed(&self, user_id: UserId) -> bool {
        let Some(budget) = &self.new_device_budget else {
            return true;
        };
        let allowed = budget
            .check_id("alert-new-device", &user_id.to_string())
            .await
            .is_ok();
        if !allowed {
            tracing::info!(%user_id, "new-device alert not queued: the account's hourly budget is spent");
        }
        allowed
    }

    /// After the commit of a transaction that queued an alert: the relay
    /// pushes it to the queue now rather than at its next poll.
    pub(crate) fn wake_outbox(&self) {
        self.outbox_wake.notify_one();
    }
}

/// Whether the caller gets the new-device alert, read from the database
/// (not from the token check's cached user).
pub async fn new_device_on(
    db: &DatabaseConnection,
    who: &Authenticated,
) -> Result<bool, DomainError> {
    Ok(users::Entity::find_by_id(who.user.id)
        .one(db)
        .await?
        .is_some_and(|u| u.alert_new_device))
}

impl Alerts {
    /// Turns the caller's new-device alert on or off, with an event in
    /// the audit trail. Turning it off weakens what the owner is told, so
    /// it takes a step-up (else a 400 naming `password`) and mails the
    /// owner, in the same transaction.
    #[tracing::instrument(skip_all, fields(user_id = %who.user.id, on), err(level = "info", Display))]
    pub async fn set_new_device(
        &self,
        db: &DatabaseConnection,
        who: &Authenticated,
        on: bool,
        stepped_up: Option<SteppedUp>,
        after: &AfterCommit,
        now_ms: i64,
    ) -> Result<(), DomainError> {
        if !on && stepped_up.is_none() {
            return Err(DomainError::field(
                "password",
                "is required to turn alerts off",
            ));
        }
        let mut work = Work::begin(db, now_ms).await?;
        let was_on = users::Entity::find_by_id(who.user.id)
            .one(work.conn())
            .await?
            .is_some_and(|u| u.alert_new_device);
        users::set_alert_new_device(work.conn(), who.user.id, on, now_ms).await?;
        work.record(Event::new(
            who.user.id,
            EventKind::AlertsChanged,
            &who.client,
        ))
        .await?;
        if was_on && !on {
            self.queue_in(&mut work, Alert::AlertsOff, who.user.id, &who.client)
                .await?;
        }
        work.commit(after).await
    }
}

impl Alert {
    fn label(self) -> &'static str {
        match self {
            Alert::NewDevice => "new_device",
            Alert::RefreshReused => "refresh_reused",
            Alert::AccountLocked => "account_locked",
            Alert::AlertsOff => "alerts_off",
        }
    }
}

/// What an alert to `user` says besides its own text.
pub fn facts(
    user: &users::Model,
    client: &RequestContext,
    now_ms: i64,
    reset_page: &str,
) -> AlertFacts {
    AlertFacts {
        first_name: user.first_name.clone(),
        seen: seen(client, now_ms),
        reset_page: reset_page.to_owned(),
    }
}

/// When and where, as an alert shows it.
pub fn seen(client: &RequestContext, now_ms: i64) -> Seen {
    Seen {
        at: utc_minute(now_ms),
        ip: client.ip.to_string(),
        browser: browser(client.user_agent.as_deref()),
    }
}

/// A time as a mail shows it: UTC, to the minute (`2026-12-04 15:20 UTC`).
pub(crate) fn utc_minute(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A user agent summed up in fixed words, "Firefox on Linux": a client
/// chooses its user agent, so none of its text goes into a mail (it could
/// carry a phishing line).
pub fn browser(user_agent: Option<&str>) -> String {
    let ua = user_agent.unwrap_or_default();
    // Order matters: Edge and Opera also say Chrome, Chrome also says Safari.
    const BROWSERS: [(&str, &str); 8] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("okhttp/", "an Android app"),
        ("CFNetwork/", "an Apple app"),
    ];
    const SYSTEMS: [(&str, &str); 7] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let name = BROWSERS
        .iter()
        .find(|(mark, _)| ua.contains(mark))
        .map_or("an unknown browser", |(_, name)| name);
    match SYSTEMS.iter().find(|(mark, _)| ua.contains(mark)) {
        Some((_, system)) => format!("{name} on {system}"),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_agent_is_summed_up_in_fixed_words() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(browser(Some(firefox)), "Firefox on Linux");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
        assert_eq!(browser(Some(edge)), "Edge on Windows");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(browser(Some(iphone)), "Safari on iOS");
        assert_eq!(browser(None), "an unknown browser");
        let phishing = "Visit https://evil.example to secure your account";
        assert_eq!(browser(Some(phishing)), "an unknown browser");
    }

    #[test]
    fn seen_gives_the_minute_in_utc_and_the_address() {
        let client = RequestContext::new("2001:db8::7".parse().unwrap(), None, "id".into());
        let s = seen(&client, 1_764_861_600_000);
        assert_eq!(s.at, "2025-12-04 15:20 UTC");
        assert_eq!(s.ip, "2001:db8::7");
    }
}
