//! A fan-out of optional calls: one call per plant (or station, or bulk chunk), several in
//! flight at once under the account's adaptive limit.
//!
//! # Design
//!
//! The calls are futures polled inside the adapter's own task (they borrow the adapter and
//! the session; nothing is spawned), through a `FuturesUnordered`, and every one holds a
//! place of the account's [`super::limit::AdaptiveLimit`] while it runs. The fan-out keeps
//! the adapters' rules in one place:
//!
//! * it launches no new call once the run's budget or soft deadline says optional work
//!   should stop, or once a call failed with a *stop-class* error: anything but a failure
//!   of that one item (`Permanent`, `Malformed`), because a rate limit, an outage, a spent
//!   budget or quota, a refused key or a missing permission would fail every later call
//!   the same way (and optional calls never wait out a rate limit);
//! * a launched call waiting for a place gives it up the moment a stop-class error comes
//!   (its wait races a halt signal), instead of waiting for a place just to give up: after
//!   a halving, places held by another run of the account can stay taken for as long as
//!   that run's calls take;
//! * a call that got its place checks the budget and the soft deadline again before it is
//!   made: the calls launched together were all checked against the same count of requests
//!   made, and waiting for the place took time;
//! * calls already in flight finish, and their results are kept; an item that makes several
//!   calls (a Solarman station: its device list, then each device's alerts) makes no more
//!   once the fan-out stopped: [`Session::call_returning_rate_limits`] answers them with the error that
//!   stopped it, so they add no refusals and no second rate-limit signal;
//! * it reports every item it did not attempt, so the adapter can keep those plants'
//!   stored readings and say how many were left out;
//! * results come back in item order, whatever order they finished in, so applying them
//!   to the listing does not depend on timing.

use super::Session;
use crate::vendors::{VendorClient, VendorError};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

/// Why a fan-out stopped launching calls before its last item.
#[derive(Debug, Clone, PartialEq)]
pub enum Stopped {
    /// The run's request budget or soft deadline (see
    /// [`Session::should_stop_optional_work`]).
    Budget,
    /// The first stop-class error of a call (also among the results, at its item). It
    /// wins over [`Stopped::Budget`] when both happened.
    Error(VendorError),
}

/// What a fan-out did.
#[derive(Debug)]
pub struct FanOut<T> {
    /// Every call made, in item order: the item's index and the call's result.
    pub results: Vec<(usize, Result<T, VendorError>)>,
    /// The items not attempted, in order.
    pub not_attempted: Vec<usize>,
    /// Why launching stopped early, when it did.
    pub stopped: Option<Stopped>,
}

impl<T> FanOut<T> {
    /// The items the fan-out left without an answer and without a failure of their own:
    /// those not attempted, and those whose call failed with a stop-class error. (Items
    /// that failed alone are among the results, for the adapter to name.)
    pub fn missed(&self) -> usize {
        let stopped_calls = self
            .results
            .iter()
            .filter(|(_, result)| result.as_ref().err().is_some_and(stops_fan_out))
            .count();
        self.not_attempted.len() + stopped_calls
    }
}

/// Whether `error` ends a fan-out: everything but a failure of the one item.
fn stops_fan_out(error: &VendorError) -> bool {
    !matches!(error, VendorError::Permanent(_) | VendorError::Malformed(_))
}

/// What became of one launched item.
enum Launched<T> {
    /// The call was made.
    Made(Result<T, VendorError>),
    /// Given up before the call: another call's stop-class error halted the fan-out.
    Halted,
    /// Given up before the call: once it had its place, optional work had to stop.
    OutOfBudget,
}

/// The stop of the fan-out running on a session, set by its first stop-class error: the
/// launched calls still waiting for a place give up, and the later calls of items already
/// running are not sent ([`Session::call_returning_rate_limits`] answers them with this error). One per
/// session: an adapter runs its fan-outs one after another, never one inside another.
#[derive(Debug, Default)]
pub(super) struct Halt {
    error: Mutex<Option<VendorError>>,
    notify: Notify,
}

impl Halt {
    fn lock(&self) -> MutexGuard<'_, Option<VendorError>> {
        self.error.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn halt(&self, error: VendorError) {
        *self.lock() = Some(error);
        self.notify.notify_waiters();
    }

    /// The error that stopped the fan-out running now, if one did.
    pub(super) fn error(&self) -> Option<VendorError> {
        self.lock().clone()
    }

    fn is_halted(&self) -> bool {
        self.lock().is_some()
    }
}

/// Lifts the halt when a fan-out ends (or is dropped): the run's later work starts afresh.
struct Running<'a>(&'a Halt);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        *self.0.lock() = None;
    }
}

impl Session {
    /// Runs `call(index)` for the items `0..count`, at most the account's current limit of
    /// them in flight (its portal's [`crate::vendors::PortalConcurrency`] setting, lowered
    /// after rate limits), making none once optional work should stop (`reserve`: the
    /// requests to keep for the listing, as for [`Session::should_stop_optional_work`]) or
    /// after the first stop-class error. See the module docs.
    pub async fn fan_out<T, F, Fut>(
        &self,
        client: &dyn VendorClient,
        count: usize,
        reserve: u32,
        call: F,
    ) -> FanOut<T>
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = Result<T, VendorError>>,
    {
        let limit = self.limit(client.kind());
        let halt = &self.halt;
        *halt.lock() = None;
        let _running = Running(halt);
        let mut running = FuturesUnordered::new();
        let mut results = Vec::new();
        let mut given_up = Vec::new();
        let mut first_error = None;
        let mut out_of_budget = false;
        let mut next = 0;
        loop {
            while first_error.is_none()
                && !out_of_budget
                && next < count
                && running.len() < limit.current()
            {
                if self.should_stop_optional_work(reserve) {
                    out_of_budget = true;
                    break;
                }
                let (index, call) = (next, call(next));
                next += 1;
                running.push(async move {
                    // Registered before the flag is read, so a halt in between is not missed.
                    let halted = halt.notify.notified();
                    tokio::pin!(halted);
                    halted.as_mut().enable();
                    if halt.is_halted() {
                        return (index, Launched::Halted);
                    }
                    let _place = tokio::select! {
                        biased;
                        () = &mut halted => return (index, Launched::Halted),
                        place = limit.acquire() => place,
                    };
                    if halt.is_halted() {
                        return (index, Launched::Halted);
                    }
                    if self.should_stop_optional_work(reserve) {
                        return (index, Launched::OutOfBudget);
                    }
                    (index, Launched::Made(call.await))
                });
            }
            let Some((index, launched)) = running.next().await else { break };
            match launched {
                Launched::Halted => given_up.push(index),
                Launched::OutOfBudget => {
                    out_of_budget = true;
                    given_up.push(index);
                }
                Launched::Made(result) => {
                    if let Err(error) = &result
                        && stops_fan_out(error)
                        && first_error.is_none()
                    {
                        halt.halt(error.clone());
                        first_error = Some(error.clone());
                    }
                    results.push((index, result));
                }
            }
        }
        results.sort_by_key(|(index, _)| *index);
        let mut not_attempted: Vec<usize> = given_up.into_iter().chain(next..count).collect();
        not_attempted.sort_unstable();
        let stopped = first_error.map(Stopped::Error).or(out_of_budget.then_some(Stopped::Budget));
        FanOut { results, not_attempted, stopped }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Work;
    use super::super::tests::{FakeVendor, session};
    use super::*;
    use crate::domain::VendorKind;
    use crate::vendors::{HttpSettings, PortalConcurrency};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::time::{Instant, sleep};

    /// Counts calls in flight and the most at once.
    #[derive(Default)]
    struct Gauge {
        now: AtomicUsize,
        peak: AtomicUsize,
    }

    impl Gauge {
        /// Holds a place in the count for `millis` of (paused) time, then answers `answer`.
        async fn hold<T>(
            &self,
            millis: u64,
            answer: Result<T, VendorError>,
        ) -> Result<T, VendorError> {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            sleep(Duration::from_millis(millis)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            answer
        }
    }

    fn limited_session(limit: usize) -> Session {
        let base = session(1000);
        let concurrency = PortalConcurrency::default().with(VendorKind::Solarman, limit);
        let http =
            crate::vendors::Http::new(HttpSettings { concurrency, ..HttpSettings::default() })
                .unwrap();
        Session::new(Arc::clone(&base.account), http, 1000)
    }

    fn indexes<T>(fan: &FanOut<T>) -> Vec<usize> {
        fan.results.iter().map(|(index, _)| *index).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn runs_up_to_the_limit_and_returns_results_in_item_order() {
        let session = limited_session(3);
        let gauge = Gauge::default();
        // Later items finish first: the results still come back in item order.
        let fan = session
            .fan_out(&FakeVendor::new(false), 20, 0, |n| gauge.hold(100 - n as u64, Ok(n * 10)))
            .await;
        assert_eq!(gauge.peak.load(Ordering::SeqCst), 3);
        let values: Vec<usize> = fan.results.iter().map(|(_, r)| *r.as_ref().unwrap()).collect();
        assert_eq!(values, (0..20).map(|n| n * 10).collect::<Vec<_>>());
        assert!(fan.not_attempted.is_empty() && fan.stopped.is_none());
        assert_eq!(fan.missed(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_stop_class_error_launches_nothing_more() {
        let session = limited_session(3);
        let gauge = Gauge::default();
        let limited = VendorError::RateLimited { message: "429".into(), retry_after: None };
        // Item n takes (n + 1) * 10 ms; item 4 is refused at 70 ms, when items 5 and 6 are
        // running (launched at 30 and 50 ms) and nothing else has started.
        let fan = session
            .fan_out(&FakeVendor::new(false), 20, 0, |n| {
                let answer = if n == 4 { Err(limited.clone()) } else { Ok(n) };
                gauge.hold((n as u64 + 1) * 10, answer)
            })
            .await;
        assert_eq!(indexes(&fan), (0..=6).collect::<Vec<_>>(), "running calls finish");
        assert_eq!(fan.not_attempted, (7..20).collect::<Vec<_>>());
        assert_eq!(fan.stopped, Some(Stopped::Error(limited)));
        assert_eq!(fan.missed(), 13 + 1, "the unattempted and the refused one");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_of_one_item_do_not_stop_the_others() {
        let session = limited_session(3);
        let gauge = Gauge::default();
        let fan = session
            .fan_out(&FakeVendor::new(false), 10, 0, |n| {
                let answer = match n {
                    2 => Err(VendorError::Permanent("station not found".into())),
                    5 => Err(VendorError::Malformed("truncated".into())),
                    _ => Ok(n),
                };
                gauge.hold(10, answer)
            })
            .await;
        assert_eq!(indexes(&fan), (0..10).collect::<Vec<_>>());
        assert_eq!((&fan.stopped, fan.not_attempted.len(), fan.missed()), (&None, 0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_soft_deadline_stops_launching() {
        let base = limited_session(3);
        let session = Session::new(Arc::clone(&base.account), base.http.clone(), 1000)
            .with_soft_deadline(Instant::now() + Duration::from_millis(25));
        let gauge = Gauge::default();
        // Three waves of three, 10 ms each, start before the deadline; none after it.
        let fan = session.fan_out(&FakeVendor::new(false), 20, 0, |n| gauge.hold(10, Ok(n))).await;
        assert_eq!(indexes(&fan), (0..9).collect::<Vec<_>>());
        assert_eq!(fan.not_attempted, (9..20).collect::<Vec<_>>());
        assert_eq!((&fan.stopped, fan.missed()), (&Some(Stopped::Budget), 11));
    }

    #[tokio::test(start_paused = true)]
    async fn runs_of_one_account_share_its_limit_and_waiting_calls_give_up_at_a_stop() {
        let first = limited_session(4);
        let second = Session::new(Arc::clone(&first.account), first.http.clone(), 1000);
        let gauge = Gauge::default();
        let vendor = FakeVendor::new(false);
        // Two runs of the account at once: four in flight between them, never more.
        let (a, b) = tokio::join!(
            first.fan_out(&vendor, 12, 0, |n| gauge.hold(10, Ok(n))),
            second.fan_out(&vendor, 12, 0, |n| gauge.hold(10, Ok(n))),
        );
        assert_eq!(gauge.peak.load(Ordering::SeqCst), 4);
        assert_eq!((a.results.len(), b.results.len()), (12, 12));

        // Another run holds three of the four places: of this run's four calls, one runs
        // and is refused; the three waiting for a place give up instead of calling.
        let places: Vec<_> =
            (0..3).map(|_| first.account.limit.try_acquire().expect("a free place")).collect();
        let limited = VendorError::RateLimited { message: "429".into(), retry_after: None };
        let started = AtomicUsize::new(0);
        let fan = first.fan_out(&vendor, 10, 0, |_| {
            started.fetch_add(1, Ordering::SeqCst);
            let limited = limited.clone();
            async move { Err::<(), _>(limited) }
        });
        let release = async {
            sleep(Duration::from_millis(10)).await;
            drop(places);
        };
        let (fan, ()) = tokio::join!(fan, release);
        assert_eq!(started.load(Ordering::SeqCst), 4, "four launched (the limit)");
        assert_eq!(fan.results.len(), 1, "one made");
        assert_eq!(fan.not_attempted, (1..10).collect::<Vec<_>>(), "three gave up, six unlaunched");
    }

    /// The reviewer's case: after a halving, places held by another run of the account
    /// stay taken for 100 s. The calls waiting for a place give up at the first refusal
    /// instead of waiting those 100 s just to give up.
    #[tokio::test(start_paused = true)]
    async fn a_halted_fan_out_does_not_wait_for_a_place_to_give_up() {
        let session = limited_session(4);
        session.account.limit.configure(4);
        let places: Vec<_> =
            (0..3).map(|_| session.account.limit.try_acquire().expect("a free place")).collect();
        let vendor = FakeVendor::new(false);
        let limited = VendorError::RateLimited { message: "429".into(), retry_after: None };
        let started = Instant::now();
        let fan = async {
            let fan = session
                .fan_out(&vendor, 10, 0, |_| {
                    session.call_returning_rate_limits(&vendor, Work::Optional, |_| {
                        let limited = limited.clone();
                        async move {
                            sleep(Duration::from_millis(10)).await;
                            Err::<(), _>(limited)
                        }
                    })
                })
                .await;
            (fan, started.elapsed())
        };
        let other_run = async {
            sleep(Duration::from_secs(100)).await;
            drop(places);
        };
        let ((fan, took), ()) = tokio::join!(fan, other_run);
        assert_eq!(took, Duration::from_millis(10), "done at the refusal");
        assert_eq!(fan.results.len(), 1, "the one free place made the one call");
        assert_eq!(fan.stopped, Some(Stopped::Error(limited)));
        assert_eq!(fan.not_attempted, (1..10).collect::<Vec<_>>());
        assert_eq!(session.account.limit.current(), 2, "one signal: halved once");
    }

    /// Calls launched together were all checked against the same requests made; each one
    /// checks the budget again once it has its place, so the fan-out stops at the reserve
    /// instead of running into the budget's hard end.
    #[tokio::test(start_paused = true)]
    async fn a_call_checks_the_budget_again_once_it_has_its_place() {
        let base = limited_session(4);
        // The login and one call; then 2 + the reserve of 1 reaches the budget of 3.
        let session = Session::new(Arc::clone(&base.account), base.http.clone(), 3);
        let vendor = FakeVendor::new(false);
        let made = AtomicUsize::new(0);
        let made = &made;
        let fan = session
            .fan_out(&vendor, 10, 1, |n| {
                session.call_returning_rate_limits(&vendor, Work::Optional, move |_| {
                    made.fetch_add(1, Ordering::SeqCst);
                    async move {
                        sleep(Duration::from_millis(10)).await;
                        Ok(n)
                    }
                })
            })
            .await;
        assert_eq!(made.load(Ordering::SeqCst), 1);
        assert_eq!(indexes(&fan), [0]);
        assert!(fan.results.iter().all(|(_, result)| result.is_ok()), "{:?}", fan.results);
        assert_eq!(fan.stopped, Some(Stopped::Budget));
        assert_eq!(fan.not_attempted, (1..10).collect::<Vec<_>>());
        assert_eq!(session.requests_made(), 2);
    }

    /// An item of several calls (a station: its devices, then their alerts) makes no more
    /// of them once the fan-out stopped: they would be refused too, and each would be a new
    /// rate-limit signal (the portal throttling once would halve the limit down to one).
    #[tokio::test(start_paused = true)]
    async fn items_already_running_send_no_more_calls_after_a_stop() {
        let session = limited_session(4);
        let vendor = FakeVendor::new(false);
        let limited = VendorError::RateLimited { message: "429".into(), retry_after: None };
        let sent = AtomicUsize::new(0);
        let (sent, limited) = (&sent, &limited);
        let call = |millis: u64, answer: Result<(), VendorError>| {
            session.call_returning_rate_limits(&vendor, Work::Optional, move |_| {
                sent.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                async move {
                    sleep(Duration::from_millis(millis)).await;
                    answer
                }
            })
        };
        // Item 0's first call is refused at 10 ms; items 1-3 are in their first call then.
        let fan = session
            .fan_out(&vendor, 4, 0, |n| async move {
                let first = if n == 0 { Err(limited.clone()) } else { Ok(()) };
                call(10 * (n as u64 + 1), first).await?;
                call(10, Err(limited.clone())).await
            })
            .await;
        assert_eq!(sent.load(Ordering::SeqCst), 4, "only the first call of each item was sent");
        assert_eq!(fan.stopped, Some(Stopped::Error(limited.clone())));
        assert_eq!(fan.missed(), 4);
        assert_eq!(session.account.limit.current(), 2, "one signal");
        // The next fan-out of the run starts afresh.
        let next = session.fan_out(&vendor, 2, 0, |_| call(10, Ok(()))).await;
        assert_eq!((next.results.len(), next.stopped), (2, None));
    }
}
