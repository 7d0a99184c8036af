//! The driver of one torrent's [`AnnounceSchedule`]: it performs the announces the schedule asks
//! for (HTTP through `ureq`, UDP through one [`UdpSession`] per tracker, kept between announces
//! for its connection id), feeds back their outcome, fires the schedule's timer, passes on the
//! handle's commands, hands learned peers to the torrent and publishes the trackers' status.
//! Every decision (which tracker, which event, when) is the schedule's.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use ccbt_tracker::{
    tracker_scheme, AnnounceEvent, AnnounceJob, AnnounceResponse, AnnounceSchedule, ScheduleEvent,
    TrackerError, TrackerScheme, TransferStats,
};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};

use super::transport::{http_agent, http_announce, TransportOptions, UdpSession};
use super::{TrackerSnapshot, TrackerStats};

/// What the handle asks of the loop.
#[derive(Debug)]
pub(super) enum Command {
    /// The download finished: send `completed`.
    Completed,
    /// Announce early (e.g. the torrent wants more peers), but not before `min interval`.
    Reannounce,
    /// Send `stopped` and end.
    Stop,
}

/// An announce that ended: the job, the UDP session to keep for its tracker, the outcome.
pub(crate) type Outcome = (AnnounceJob, Option<UdpSession>, Result<AnnounceResponse, TrackerError>);
pub(crate) type InFlight = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// The schedule of one torrent and the sinks of its driver.
pub(super) struct Announcer {
    pub(super) schedule: AnnounceSchedule,
    pub(super) transport: TransportOptions,
    pub(super) stats: Box<dyn Fn() -> TrackerStats + Send + Sync>,
    pub(super) peers_tx: mpsc::Sender<Vec<SocketAddr>>,
    pub(super) status_tx: watch::Sender<Vec<TrackerSnapshot>>,
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl Announcer {
    /// Runs until the schedule is over: after [`Command::Stop`] (or the handle's drop) and the
    /// `stopped` announces.
    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let agent = http_agent(&self.transport);
        let mut udp: HashMap<String, UdpSession> = HashMap::new();
        let mut in_flight: Option<InFlight> = None;
        let mut commands_open = true;
        loop {
            if in_flight.is_none() {
                let s = (self.stats)();
                let stats = TransferStats { uploaded: s.uploaded, downloaded: s.downloaded, left: s.left };
                if let Some(job) = self.schedule.poll_announce(now(), stats) {
                    let session = udp.remove(&job.url);
                    in_flight = Some(Box::pin(perform(agent.clone(), self.transport.clone(), job, session)));
                }
            }
            if self.schedule.poll_event() == Some(ScheduleEvent::Finished) {
                break;
            }
            self.publish();
            let deadline = self.schedule.poll_timeout().map(Instant::from_std);
            tokio::select! {
                outcome = poll_opt(&mut in_flight) => {
                    in_flight = None;
                    let (job, session, result) = outcome;
                    if let Some(session) = session {
                        udp.insert(job.url.clone(), session);
                    }
                    self.on_outcome(&job, result);
                }
                () = sleep_until_opt(deadline) => self.schedule.handle_timeout(now()),
                command = commands.recv(), if commands_open => match command {
                    Some(Command::Completed) => self.schedule.handle_completed(now()),
                    Some(Command::Reannounce) => self.schedule.handle_reannounce(now()),
                    Some(Command::Stop) | None => {
                        commands_open = false;
                        // The schedule abandons a round in flight; its answer no longer matters.
                        in_flight = None;
                        self.schedule.handle_stop(now());
                    }
                },
            }
        }
        self.publish();
    }

    fn on_outcome(&mut self, job: &AnnounceJob, result: Result<AnnounceResponse, TrackerError>) {
        let (url, event) = (job.url.as_str(), job.request.event);
        match result {
            Ok(response) => {
                if let Some(warning) = &response.warning {
                    tracing::warn!(tracker = %url, warning = %warning, "tracker warning");
                }
                tracing::debug!(tracker = %url, ?event, peers = response.peers.len(), "announced");
                if !response.peers.is_empty() && event != AnnounceEvent::Stopped {
                    // Never wait on a slow torrent: the next announce brings fresh peers anyway.
                    if let Err(e) = self.peers_tx.try_send(response.peers.clone()) {
                        tracing::debug!(tracker = %url, error = %e, "peers from tracker dropped");
                    }
                }
                self.schedule.handle_success(now(), job, &response);
            }
            Err(e) => {
                if event == AnnounceEvent::Stopped {
                    tracing::warn!(tracker = %url, error = %e, "tracker stop announce failed");
                } else {
                    tracing::warn!(tracker = %url, error = %e, "tracker announce failed");
                }
                self.schedule.handle_failure(now(), job, e.to_string());
            }
        }
    }

    fn publish(&self) {
        let next_announce_at = self.schedule.next_announce_at().map(Instant::from_std);
        let mut snapshots: Vec<TrackerSnapshot> = self
            .schedule
            .trackers()
            .iter()
            .map(|t| TrackerSnapshot {
                url: t.url.clone(),
                tier: t.tier,
                last_error: t.last_error.clone(),
                last_warning: t.last_warning.clone(),
                peers_received: t.peers_received,
                seeders: t.seeders,
                leechers: t.leechers,
                announces_ok: t.announces_ok,
                announces_failed: t.announces_failed,
                next_announce_at,
            })
            .collect();
        snapshots.sort_by(|a, b| (a.tier, &a.url).cmp(&(b.tier, &b.url)));
        self.status_tx.send_if_modified(|current| {
            if *current == snapshots {
                return false;
            }
            *current = snapshots;
            true
        });
    }
}

/// Performs one announce. A UDP session is reused if given and handed back unless the socket
/// failed (an address change or a refused port: the next announce starts afresh).
pub(crate) async fn perform(
    agent: ureq::Agent,
    transport: TransportOptions,
    job: AnnounceJob,
    session: Option<UdpSession>,
) -> Outcome {
    let scheme = match tracker_scheme(&job.url) {
        Ok(scheme) => scheme,
        Err(e) => return (job, None, Err(e)),
    };
    match scheme {
        TrackerScheme::Http | TrackerScheme::Https => {
            let result = http_announce(&agent, &job.url, &job.request, transport.max_body).await;
            (job, None, result)
        }
        TrackerScheme::Udp => {
            let mut session = match session {
                Some(session) => session,
                None => match UdpSession::open(&job.url, transport.udp).await {
                    Ok(session) => session,
                    Err(e) => return (job, None, Err(e)),
                },
            };
            let result = session.announce(job.request.clone()).await;
            let keep = !matches!(result, Err(TrackerError::Transport(_)));
            (job, keep.then_some(session), result)
        }
    }
}

/// The announce in flight, or never if there is none.
pub(crate) async fn poll_opt(in_flight: &mut Option<InFlight>) -> Outcome {
    match in_flight {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `deadline`, forever if there is none.
pub(crate) async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
