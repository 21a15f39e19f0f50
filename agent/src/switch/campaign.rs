//! Outbound campaigns run by the switch: the numbers of each active
//! campaign in the [`CampaignStore`] are called with
//! [`Switch::originate`](super::Switch::originate), the campaign's
//! profile talking to whoever answers.
//!
//! The scheduler keeps nothing that matters in memory: each round it asks
//! the store which numbers are due ([`CampaignStore::due`]), claims each
//! with [`CampaignStore::start_attempt`] before dialling (so two schedulers
//! on one database cannot call a number twice) and reports the outcome
//! with [`CampaignStore::finish_attempt`], which decides whether the
//! number is done or called again after the retry delay (busy, no answer,
//! interrupted). A process that stops mid-campaign leaves its attempts
//! open; the store finishes them as interrupted when it is opened again
//! ([`SqliteStore::open`](crate::record::SqliteStore::open)), and a new
//! scheduler on it carries on where the old one stopped.
//!
//! Per campaign it keeps to the settings: at most `max_concurrent` calls
//! up at once (counted in the store, so over every scheduler), at most
//! `calls_per_second` calls started per second, and new calls only inside
//! the calling hours, in the called people's time zone. The campaign's
//! `line` says whose calls these are: its tenant's outbound policy and
//! routes (with trunk failover) carry them, and no call is started while
//! the tenant's channels are all in use.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::{error, info, warn, Instrument};

use super::originate::originate;
use super::outbound::{OutboundRequest, DEFAULT_RING_TIMEOUT};
use super::Shared;
use crate::record::{Campaign, CampaignId, CampaignState, CampaignStore, StoreError};

/// How the campaign scheduler runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignOptions {
    /// How often the store is asked for due numbers.
    pub poll: Duration,
    /// How long each call rings before it counts as not answered.
    pub ring_timeout: Duration,
}

impl Default for CampaignOptions {
    /// Every second, 30 s of ringing.
    fn default() -> Self {
        CampaignOptions {
            poll: Duration::from_secs(1),
            ring_timeout: DEFAULT_RING_TIMEOUT,
        }
    }
}

/// The running campaign scheduler of a switch.
///
/// [`stop`](Self::stop) ends it gracefully: no new calls, the calls up
/// go on to their end and are recorded. Dropping it cuts the calls up
/// (their attempts are finished as interrupted when the store is next
/// opened, and retried).
#[derive(Debug)]
pub struct CampaignRunner {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl CampaignRunner {
    /// Stops starting calls and waits for the calls up to end.
    pub async fn stop(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                error!(error = %e, "the campaign scheduler failed");
            }
        }
    }
}

impl Drop for CampaignRunner {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Whether a campaign may start a call at `now` by its calling hours;
/// `None` when its time zone is unknown here (no calls: the law counts in
/// the called people's time).
fn within_hours(campaign: &Campaign, now: Timestamp) -> Option<bool> {
    match &campaign.settings.calling_hours {
        None => Some(true),
        Some(hours) => hours.contains(now),
    }
}

/// The spacing between call starts for `calls_per_second`.
fn spacing(calls_per_second: f64) -> Duration {
    // Validation keeps the rate finite and above zero; a day is the
    // longest gap that is still a campaign.
    Duration::try_from_secs_f64(1.0 / calls_per_second)
        .unwrap_or(Duration::from_secs(86_400))
        .min(Duration::from_secs(86_400))
}

/// Paces one campaign's call starts.
#[derive(Debug, Default)]
struct Pace {
    next: Option<Instant>,
}

impl Pace {
    /// How long from `now` until the rate allows the next start.
    fn delay(&self, now: Instant) -> Duration {
        self.next
            .map_or(Duration::ZERO, |next| next.saturating_duration_since(now))
    }

    /// A call started `at`: the next may start one `gap` later. (A
    /// campaign that waited, for its calling hours or for due numbers,
    /// does not save up starts for a burst.)
    fn started(&mut self, at: Instant, gap: Duration) {
        self.next = Some(at + gap);
    }
}

async fn with_store<T: Send + 'static>(
    store: &Arc<dyn CampaignStore>,
    f: impl FnOnce(&dyn CampaignStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| StoreError::Database(format!("campaign store task failed: {e}")))?
}

/// Starts the scheduler; see the [module documentation](self).
pub(crate) fn run(
    shared: Arc<Shared>,
    store: Arc<dyn CampaignStore>,
    options: CampaignOptions,
) -> CampaignRunner {
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(
        schedule(shared, store, options, stopped).instrument(tracing::info_span!("campaigns")),
    );
    CampaignRunner {
        stop,
        task: Some(task),
    }
}

async fn schedule(
    shared: Arc<Shared>,
    store: Arc<dyn CampaignStore>,
    options: CampaignOptions,
    mut stopped: watch::Receiver<bool>,
) {
    let mut calls = JoinSet::new();
    let mut paces: HashMap<CampaignId, Pace> = HashMap::new();
    let mut warned: HashSet<CampaignId> = HashSet::new();
    info!("campaign scheduler started");
    loop {
        if *stopped.borrow() {
            break;
        }
        match with_store(&store, |s| s.campaigns()).await {
            Ok(campaigns) => {
                for campaign in campaigns {
                    if campaign.state != CampaignState::Active {
                        continue;
                    }
                    let pace = paces.entry(campaign.id).or_default();
                    start_due(
                        &shared,
                        &store,
                        &options,
                        &campaign,
                        pace,
                        &mut warned,
                        &mut calls,
                    )
                    .await;
                }
            }
            Err(e) => error!(error = %e, "cannot read the campaigns"),
        }
        // Reap finished calls so the set does not grow.
        while calls.try_join_next().is_some() {}
        tokio::select! {
            () = tokio::time::sleep(options.poll) => {}
            _ = stopped.changed() => {}
        }
    }
    info!(
        calls = calls.len(),
        "campaign scheduler stopping; waiting for the calls up"
    );
    while calls.join_next().await.is_some() {}
}

/// Starts the calls `campaign` may start now.
async fn start_due(
    shared: &Arc<Shared>,
    store: &Arc<dyn CampaignStore>,
    options: &CampaignOptions,
    campaign: &Campaign,
    pace: &mut Pace,
    warned: &mut HashSet<CampaignId>,
    calls: &mut JoinSet<()>,
) {
    let settings = &campaign.settings;
    let Some(tenant) = shared.lines.named(&settings.line).map(|l| l.tenant.clone()) else {
        if warned.insert(campaign.id) {
            warn!(campaign = %settings.name, line = %settings.line, "the campaign's line is not configured; not calling");
        }
        return;
    };
    let now = Timestamp::now();
    match within_hours(campaign, now) {
        Some(true) => {}
        Some(false) => return,
        None => {
            if warned.insert(campaign.id) {
                warn!(campaign = %settings.name, "the campaign's calling hours name an unknown time zone; not calling");
            }
            return;
        }
    }
    let id = campaign.id;
    // The tenant's channels are shared with its inbound calls: a call the
    // channel limit would refuse is not started (and not spent as an
    // attempt) until one is free.
    let channels_free = shared
        .router
        .tenant(&tenant)
        .map(|t| t.policy().channels())
        .and_then(|c| c.limit().map(|limit| limit.saturating_sub(c.in_use())))
        .map_or(usize::MAX, |free| free as usize);
    let max_concurrent = settings.max_concurrent as usize;
    let due = with_store(store, move |s| {
        let up = s.in_progress(id)?;
        let free = max_concurrent.saturating_sub(up).min(channels_free);
        if free == 0 {
            return Ok(vec![]);
        }
        s.due(id, now, free)
    })
    .await;
    let due = match due {
        Ok(due) => due,
        Err(e) => {
            error!(campaign = %settings.name, error = %e, "cannot read the campaign's due numbers");
            return;
        }
    };
    let gap = spacing(settings.calls_per_second);
    for number in due {
        // A start due within this round is waited for; a later one is
        // left to the next round.
        let wait = pace.delay(Instant::now());
        if wait > options.poll {
            break;
        }
        tokio::time::sleep(wait).await;
        pace.started(Instant::now(), gap);
        let request = OutboundRequest {
            ring_timeout: options.ring_timeout,
            ..OutboundRequest::new(tenant.clone(), number.number.clone())
        };
        let call_id = request.call_id.clone();
        let claimed = {
            let (number_id, call_id) = (number.id, call_id.clone());
            with_store(store, move |s| {
                s.start_attempt(number_id, &call_id, Timestamp::now())
            })
            .await
        };
        let attempt = match claimed {
            Ok(a) => a,
            Err(StoreError::NotDue(_)) => continue, // another scheduler took it
            Err(e) => {
                error!(campaign = %settings.name, error = %e, "cannot record the campaign attempt; not calling");
                continue;
            }
        };
        info!(campaign = %settings.name, number = %number.number, attempt = number.attempts + 1, %call_id, "campaign call");
        let (shared, store, profile) = (shared.clone(), store.clone(), settings.profile.clone());
        let name = settings.name.clone();
        calls.spawn(
            async move {
                let done = originate(&shared, request, &profile).await;
                let outcome = done.outcome;
                let finished = {
                    let outcome = outcome.clone();
                    with_store(&store, move |s| {
                        s.finish_attempt(attempt, Timestamp::now(), &outcome)
                    })
                    .await
                };
                match finished {
                    Ok(state) => info!(campaign = %name, number = %number.number, ?outcome, ?state, "campaign call done"),
                    Err(e) => error!(campaign = %name, error = %e, "cannot record the campaign call's outcome"),
                }
            }
            .instrument(tracing::Span::current()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{CallingHours, CampaignSettings};

    #[test]
    fn starts_are_spaced_by_the_campaigns_rate_without_saving_up_a_burst() {
        let gap = spacing(2.0);
        assert_eq!(gap, Duration::from_millis(500));
        assert_eq!(spacing(1e-9), Duration::from_secs(86_400));
        let t0 = Instant::now();
        let mut pace = Pace::default();
        assert_eq!(pace.delay(t0), Duration::ZERO, "the first starts at once");
        pace.started(t0, gap);
        assert_eq!(pace.delay(t0), gap);
        assert_eq!(
            pace.delay(t0 + Duration::from_millis(200)),
            Duration::from_millis(300)
        );
        assert_eq!(pace.delay(t0 + gap), Duration::ZERO);
        // Idle for a minute: one start at once, then the gap again, not
        // 120 starts saved up.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(pace.delay(later), Duration::ZERO);
        pace.started(later, gap);
        assert_eq!(pace.delay(later), gap);
    }

    #[test]
    fn calls_start_only_inside_the_calling_hours_of_a_known_time_zone() {
        let mut campaign = Campaign {
            id: CampaignId(1),
            settings: CampaignSettings {
                name: "c".into(),
                line: "l".into(),
                profile: "p".into(),
                max_concurrent: 1,
                calls_per_second: 1.0,
                max_attempts: 1,
                retry_delay: Duration::from_secs(60),
                calling_hours: Some(CallingHours {
                    from: jiff::civil::Time::constant(9, 0, 0, 0),
                    until: jiff::civil::Time::constant(20, 0, 0, 0),
                    time_zone: "Europe/Paris".into(),
                }),
            },
            state: CampaignState::Active,
            created: Timestamp::UNIX_EPOCH,
        };
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            within_hours(&campaign, at("2026-12-04T12:00:00Z")),
            Some(true)
        );
        assert_eq!(
            within_hours(&campaign, at("2026-12-04T19:30:00Z")),
            Some(false)
        );
        campaign.settings.calling_hours.as_mut().unwrap().time_zone = "Nowhere/At_All".into();
        assert_eq!(within_hours(&campaign, at("2026-12-04T12:00:00Z")), None);
        campaign.settings.calling_hours = None;
        assert_eq!(
            within_hours(&campaign, at("2026-12-04T03:00:00Z")),
            Some(true)
        );
    }
}
