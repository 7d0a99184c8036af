//! Tracker announces of the discovery keys (docs/xet.md, "Announcing"): one task per tracker
//! drives its [`KeySchedule`] (which keys, `started`/`stopped`, the tracker's intervals and
//! back-off are all decided there; which keys go to which tracker by
//! `ccbt_xet::tracker_plan`), performing its announces one at a time with the torrent
//! announcer's transport, at most [`PARALLEL_REQUESTS`] requests across trackers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ccbt_core::{InfoHash, PeerId};
use ccbt_tracker::{key_schedule_options, AnnounceEvent, KeySchedule};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::tracker::{
    http_agent_unpooled, perform, poll_opt, sleep_until_opt, InFlight, TransportOptions, UdpSession,
};

/// Tracker requests in flight at once, over all trackers.
const PARALLEL_REQUESTS: usize = 4;
/// How long the `stopped` announces may take in all on the way out.
const STOP_GRACE: Duration = Duration::from_secs(3);

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// One tracker's task: the key set is sent through `keys`; dropping it makes the task say
/// `stopped` for every key and end.
#[derive(Debug)]
struct Driver {
    keys: watch::Sender<Vec<InfoHash>>,
    task: JoinHandle<()>,
}

/// The trackers that get keys, each with its task.
#[derive(Debug, Default)]
pub(crate) struct TrackerDrivers {
    drivers: HashMap<String, Driver>,
    /// The plan in force: `(url, keys)` per tracker.
    plan: Vec<(String, Vec<InfoHash>)>,
}

impl TrackerDrivers {
    /// The plan in force.
    pub(crate) fn plan(&self) -> Vec<(String, Vec<InfoHash>)> {
        self.plan.clone()
    }

    /// Makes `plan` the keys of each tracker: new trackers get a task, trackers left out say
    /// `stopped` for their keys (in the background) and end.
    pub(crate) fn apply(
        &mut self,
        plan: Vec<(String, Vec<InfoHash>)>,
        peer_id: PeerId,
        port: u16,
        requests: &Arc<Semaphore>,
    ) {
        self.drivers.retain(|url, _| plan.iter().any(|(u, _)| u == url));
        for (url, keys) in &plan {
            match self.drivers.get(url) {
                Some(driver) => {
                    driver.keys.send_if_modified(|current| {
                        let changed = current != keys;
                        if changed {
                            current.clone_from(keys);
                        }
                        changed
                    });
                }
                None => {
                    let (tx, rx) = watch::channel(keys.clone());
                    let task = tokio::spawn(drive(url.clone(), rx, peer_id, port, requests.clone()));
                    self.drivers.insert(url.clone(), Driver { keys: tx, task });
                }
            }
        }
        self.plan = plan;
    }

    /// Takes every task out, for [`stop_all`].
    pub(crate) fn take(&mut self) -> Vec<(watch::Sender<Vec<InfoHash>>, JoinHandle<()>)> {
        self.plan.clear();
        self.drivers.drain().map(|(_, d)| (d.keys, d.task)).collect()
    }
}

/// Makes every task send `stopped` for its keys, waiting at most [`STOP_GRACE`] in all; the
/// tasks still running then are aborted (trackers forget peers after their interval anyway).
pub(crate) async fn stop_all(drivers: Vec<(watch::Sender<Vec<InfoHash>>, JoinHandle<()>)>) {
    let mut tasks = Vec::new();
    for (keys, task) in drivers {
        drop(keys);
        tasks.push(task);
    }
    let deadline = Instant::now() + STOP_GRACE;
    for mut task in tasks {
        if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// A semaphore for [`TrackerDrivers::apply`].
pub(crate) fn request_slots() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(PARALLEL_REQUESTS))
}

/// Runs one tracker's key schedule until its keys are dropped and their `stopped` are done.
async fn drive(
    url: String,
    mut keys: watch::Receiver<Vec<InfoHash>>,
    peer_id: PeerId,
    port: u16,
    requests: Arc<Semaphore>,
) {
    let transport = TransportOptions::default();
    let agent = http_agent_unpooled(&transport);
    let mut schedule = KeySchedule::new(url.clone(), peer_id, port, key_schedule_options());
    let initial = keys.borrow_and_update().clone();
    schedule.set_keys(now(), &initial, &mut rand::thread_rng());
    let mut udp: Option<UdpSession> = None;
    let mut in_flight: Option<InFlight> = None;
    // The event of the request in flight.
    let mut flying = AnnounceEvent::None;
    let mut keys_open = true;
    loop {
        if in_flight.is_none() {
            if let Some(job) = schedule.poll_announce(now()) {
                let (agent, transport, session) = (agent.clone(), transport.clone(), udp.take());
                let slots = requests.clone();
                let event = job.request.event;
                let request: InFlight = Box::pin(async move {
                    let _slot = slots.acquire_owned().await;
                    perform(agent, transport, job, session).await
                });
                in_flight = Some(request);
                flying = event;
            }
        }
        if schedule.is_finished() {
            break;
        }
        let deadline = schedule.poll_timeout().map(Instant::from_std);
        tokio::select! {
            (job, session, result) = poll_opt(&mut in_flight) => {
                in_flight = None;
                udp = session;
                match result {
                    Ok(response) => {
                        tracing::debug!(tracker = %url, key = %job.request.info_hash, event = ?job.request.event, "xet: key announced");
                        schedule.handle_success(now(), &job, &response);
                    }
                    Err(e) => {
                        tracing::debug!(tracker = %url, key = %job.request.info_hash, error = %e, "xet: key announce failed");
                        schedule.handle_failure(now(), &job, e.to_string());
                    }
                }
            }
            () = sleep_until_opt(deadline) => schedule.handle_timeout(now()),
            changed = keys.changed(), if keys_open => match changed {
                Ok(()) => {
                    let set = keys.borrow_and_update().clone();
                    schedule.set_keys(now(), &set, &mut rand::thread_rng());
                }
                Err(_) => {
                    keys_open = false;
                    // A regular announce out is abandoned; a `stopped` out is waited for.
                    if flying != AnnounceEvent::Stopped {
                        in_flight = None;
                    }
                    schedule.handle_stop(now());
                }
            },
        }
    }
}
