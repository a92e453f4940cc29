//! Patrons: several independent handles on one client, each seeing only its own torrents'
//! events (Kamaelia's `TorrentService`/`TorrentPatron`, without the global singleton).
//!
//! Every event leaves the network thread through one router thread, which forwards it to the
//! patrons that own its torrent: the one whose add request created it, plus any that asked
//! for the same torrent later (their `AlreadyDownloading` reply subscribes them). Add replies
//! go to the asker only: a patron's request ids are swapped for router-wide ones on the way in
//! and swapped back on the way out. Torrents restored from the state directory, and replies to
//! requests naming an unknown torrent, go to the client's own handle (patron 0). The router
//! forwards the shutdown signal only after the last event, so "nothing after the signal"
//! still holds.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::event::Event;
use super::request::{DataOnClose, Request, RequestId, TorrentId};
use super::{ClientGone, ShutdownComplete, WakingSender};

/// Router-assigned request ids have this bit set (callers' own ids should not).
const ROUTED: u64 = 1 << 63;
/// The client handle's own patron number.
const MAIN: u64 = 0;

/// Who gets which events.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    patrons: HashMap<u64, Sender<Event>>,
    owners: HashMap<TorrentId, BTreeSet<u64>>,
    pending: HashMap<u64, (u64, Option<RequestId>)>,
    next_request: u64,
    next_patron: u64,
}

pub(crate) type SharedRoutes = Arc<Mutex<Routes>>;

fn lock(r: &SharedRoutes) -> MutexGuard<'_, Routes> {
    r.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Routes {
    /// Sends `e` to its patrons.
    fn route(&mut self, mut e: Event) {
        let asker = match &mut e {
            Event::TorrentAdded { request_id, .. }
            | Event::AlreadyDownloading { request_id, .. }
            | Event::StartFailed { request_id, .. } => Some(self.unmap(request_id)),
            _ => None,
        };
        let targets: Vec<u64> = match (&e, asker) {
            (Event::StartFailed { .. }, Some(p)) => vec![p],
            (Event::TorrentAdded { id, .. } | Event::AlreadyDownloading { id, .. }, Some(p)) => {
                self.owners.entry(*id).or_default().insert(p);
                vec![p]
            }
            _ => match e.torrent().and_then(|id| self.owners.get(&id)) {
                Some(set) if !set.is_empty() => set.iter().copied().collect(),
                _ => vec![MAIN],
            },
        };
        if let Event::Closed { id } = &e {
            self.owners.remove(id);
        }
        for p in targets {
            if let Some(tx) = self.patrons.get(&p) {
                let _ = tx.send(e.clone());
            }
        }
    }

    /// Swaps a router-wide request id back; returns the asking patron.
    fn unmap(&mut self, request_id: &mut Option<RequestId>) -> u64 {
        match request_id.and_then(|r| self.pending.remove(&r.0)) {
            Some((patron, original)) => {
                *request_id = original;
                // A patron gone before its reply: the torrent is the client handle's.
                if self.patrons.contains_key(&patron) {
                    patron
                } else {
                    MAIN
                }
            }
            None => MAIN,
        }
    }
}

/// Starts the router between the network thread's outbox/signal and the patrons; returns the
/// main handle's outbox and signal and the shared routes.
pub(crate) fn start_router(
    outbox: Receiver<Event>,
    signal: Receiver<ShutdownComplete>,
) -> std::io::Result<(Receiver<Event>, Receiver<ShutdownComplete>, SharedRoutes)> {
    let (main_tx, main_rx) = crossbeam_channel::unbounded();
    let (sig_tx, sig_rx) = crossbeam_channel::bounded(1);
    let routes: SharedRoutes = Arc::new(Mutex::new(Routes {
        next_patron: 1,
        ..Routes::default()
    }));
    lock(&routes).patrons.insert(MAIN, main_tx);
    let r = Arc::clone(&routes);
    std::thread::Builder::new()
        .name("freshet-router".into())
        .spawn(move || {
            while let Ok(e) = outbox.recv() {
                lock(&r).route(e);
            }
            // The network thread is gone: pass its signal on after the last event.
            if let Ok(s) = signal.try_recv() {
                let _ = sig_tx.send(s);
            }
            lock(&r).patrons.clear();
        })?;
    Ok((main_rx, sig_rx, routes))
}

/// An independent handle on a running client (see [`ClientHandle::patron`]): its own outbox
/// with the events of the torrents it added or subscribed to.
///
/// Dropped, it leaves its torrents running, or closes those no other patron shares if
/// [`Patron::close_on_drop`] was set.
///
/// [`ClientHandle::patron`]: crate::ClientHandle::patron
pub struct Patron {
    id: u64,
    inbox: WakingSender<Request>,
    events: Receiver<Event>,
    routes: SharedRoutes,
    close_on_drop: bool,
}

impl fmt::Debug for Patron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Patron")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Patron {
    pub(crate) fn new(inbox: WakingSender<Request>, routes: &SharedRoutes) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut r = lock(routes);
        let id = r.next_patron;
        r.next_patron += 1;
        r.patrons.insert(id, tx);
        Self {
            id,
            inbox,
            events: rx,
            routes: Arc::clone(routes),
            close_on_drop: false,
        }
    }

    /// Sends a request; add replies come back to this patron only, with its request id.
    ///
    /// # Errors
    /// [`ClientGone`] once the client has shut down.
    pub fn send(&self, mut request: Request) -> Result<(), ClientGone> {
        if let Request::AddTorrent { request_id, .. } = &mut request {
            let mut r = lock(&self.routes);
            let global = ROUTED | r.next_request;
            r.next_request += 1;
            r.pending.insert(global, (self.id, *request_id));
            *request_id = Some(RequestId(global));
        }
        self.inbox.send(request)
    }

    /// This patron's events.
    #[must_use]
    pub fn outbox(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Waits up to `timeout` for this patron's next event.
    ///
    /// # Errors
    /// `Timeout` if nothing came, `Disconnected` after the client shut down.
    pub fn next_event(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        self.events.recv_timeout(timeout)
    }

    /// Chooses what dropping this patron does to its torrents: `true` closes those no other
    /// patron shares (files kept); `false` (the default) leaves them running.
    pub fn close_on_drop(&mut self, close: bool) {
        self.close_on_drop = close;
    }
}

impl Drop for Patron {
    fn drop(&mut self) {
        let mine: Vec<TorrentId> = {
            let mut r = lock(&self.routes);
            r.patrons.remove(&self.id);
            let mut mine = Vec::new();
            for (id, set) in &mut r.owners {
                if set.remove(&self.id) && set.is_empty() {
                    mine.push(*id);
                }
            }
            mine
        };
        if self.close_on_drop {
            for id in mine {
                let _ = self.inbox.send(Request::CloseTorrent {
                    id,
                    data: DataOnClose::Keep,
                });
            }
        }
    }
}
