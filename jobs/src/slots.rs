//! How many emails one worker sends at a time: tower's concurrency limit
//! under a name of its own, so apalis does not warn about where it sits.
//!
//! It sits *inside* the retry layer on purpose. A transient failure is
//! retried after the row's backoff (10 s, doubling up to 15 minutes), and
//! the retry layer waits that out; inside the limit, each attempt takes a
//! slot only while it sends, so a waiting job holds none. Outside it (what
//! apalis's start-up check, "`concurrency()` should generally be before
//! `retries()`", asks for), every job waiting out a backoff would keep its
//! slot: eight addresses whose server answers "try later" (greylisting,
//! or a hostile registration of eight such addresses) would stop all mail
//! for everyone else for hours. apalis's check reads the service's type
//! name (`Retry<..ConcurrencyLimit<..>>`); under this name it has nothing
//! to say about a limit that is where it must be.

use std::task::{Context, Poll};

use apalis_core::layers::{Layer, Service};
use tower::limit::ConcurrencyLimit;

/// At most this many sends at a time in one worker; a job waiting for its
/// retry holds no slot.
#[derive(Debug, Clone, Copy)]
pub struct SendSlots(pub usize);

impl<S> Layer<S> for SendSlots {
    type Service = Sending<S>;

    fn layer(&self, inner: S) -> Sending<S> {
        Sending(ConcurrencyLimit::new(inner, self.0))
    }
}

/// A service that waits for one of the [`SendSlots`] before each call and
/// frees it when the call ends.
#[derive(Debug, Clone)]
pub struct Sending<S>(ConcurrencyLimit<S>);

impl<S: Service<R>, R> Service<R> for Sending<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = <ConcurrencyLimit<S> as Service<R>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.0.call(request)
    }
}
