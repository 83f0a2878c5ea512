//! The open connections, and which one to close when the cap is reached, so that a flood
//! of slow or idle clients never locks Prometheus out.
//!
//! A connection is idle from its accept, and again from the end of each request, until
//! the next request's headers are in. At the cap, a new connection closes the idle one
//! of the address holding the most connections, the longest idle first: a slowloris or a
//! parked keep-alive connection gives way to a client that is about to send a request.
//! When every connection is busy, the new one waits for a slot, as it did in the backlog.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Past this share of the cap, new connections get the short header deadline.
const PRESSURE_SHARE: f64 = 0.5;
/// The header deadline under pressure: a real client sends its headers at once.
pub(crate) const HEADER_DEADLINE_UNDER_PRESSURE: Duration = Duration::from_secs(2);

pub(crate) struct Connections {
    cap: usize,
    inner: Mutex<Inner>,
    /// Woken when a connection closes, for a new one waiting for a slot.
    freed: Notify,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    open: HashMap<u64, Entry>,
}

struct Entry {
    ip: IpAddr,
    /// `None` while a request is being answered.
    idle_since: Option<Instant>,
    /// Set once the connection was asked to close, so it is not chosen twice.
    closing: bool,
    close: Arc<Notify>,
}

/// One admitted connection; dropping it frees its slot.
pub(crate) struct Admitted {
    id: u64,
    connections: Arc<Connections>,
    close: Arc<Notify>,
    /// Whether the server was under pressure when it was admitted.
    pub under_pressure: bool,
}

/// Marks requests on one connection, from inside the connection's service.
#[derive(Clone)]
pub(crate) struct Tracker {
    id: u64,
    connections: Arc<Connections>,
}

/// Marks its connection busy for as long as it lives.
pub(crate) struct Busy(Tracker);

impl Connections {
    pub fn new(cap: usize) -> Arc<Connections> {
        Arc::new(Connections {
            cap: cap.max(1),
            inner: Mutex::new(Inner::default()),
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a slot for a connection from `ip`, closing an idle connection when the cap is
    /// reached, or waiting for one to close when none is idle.
    pub async fn admit(self: &Arc<Self>, ip: IpAddr) -> Admitted {
        loop {
            let freed = self.freed.notified();
            if let Some(admitted) = self.try_admit(ip, Instant::now()) {
                return admitted;
            }
            freed.await;
        }
    }

    fn try_admit(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Option<Admitted> {
        let mut inner = self.lock();
        let staying = inner.open.values().filter(|e| !e.closing).count();
        if staying >= self.cap {
            let victim = choose_victim(&inner.open)?;
            if let Some(entry) = inner.open.get_mut(&victim) {
                entry.closing = true;
                // notify_one keeps the wake-up even if the connection is not waiting yet.
                entry.close.notify_one();
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let close = Arc::new(Notify::new());
        inner.open.insert(
            id,
            Entry {
                ip,
                idle_since: Some(now),
                closing: false,
                close: close.clone(),
            },
        );
        let under_pressure = staying as f64 >= self.cap as f64 * PRESSURE_SHARE;
        Some(Admitted {
            id,
            connections: self.clone(),
            close,
            under_pressure,
        })
    }

    fn set_idle(&self, id: u64, idle_since: Option<Instant>) {
        if let Some(entry) = self.lock().open.get_mut(&id) {
            entry.idle_since = idle_since;
        }
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.lock().open.len()
    }
}

/// The idle connection to close: of the address with the most open connections, the one
/// idle the longest. `None` when every connection is busy.
fn choose_victim(open: &HashMap<u64, Entry>) -> Option<u64> {
    let mut per_ip: HashMap<IpAddr, usize> = HashMap::new();
    for entry in open.values().filter(|e| !e.closing) {
        *per_ip.entry(entry.ip).or_default() += 1;
    }
    open.iter()
        .filter(|(_, e)| !e.closing)
        .filter_map(|(id, e)| Some((*id, e.ip, e.idle_since?)))
        .max_by(|a, b| {
            let count = |ip: &IpAddr| per_ip.get(ip).copied().unwrap_or(0);
            count(&a.1)
                .cmp(&count(&b.1))
                // The longest idle is the earliest instant: reverse the order.
                .then(b.2.cmp(&a.2))
                .then(b.0.cmp(&a.0))
        })
        .map(|(id, _, _)| id)
}

impl Admitted {
    /// Resolves when the connection must close to make room.
    pub async fn closed(&self) {
        self.close.notified().await;
    }

    pub fn tracker(&self) -> Tracker {
        Tracker {
            id: self.id,
            connections: self.connections.clone(),
        }
    }
}

impl Tracker {
    /// Marks the connection busy until the returned guard drops.
    pub fn busy(&self) -> Busy {
        self.connections.set_idle(self.id, None);
        Busy(self.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.connections.set_idle(self.0.id, Some(Instant::now()));
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections.lock().open.remove(&self.id);
        self.connections.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[tokio::test]
    async fn at_the_cap_the_longest_idle_connection_is_closed() {
        let connections = Connections::new(2);
        let first = connections.admit(ip(1)).await;
        let second = connections.admit(ip(1)).await;
        let _busy = second.tracker().busy();
        let third = connections.admit(ip(1)).await;
        // The first (idle since its accept) was asked to close; the busy one was not.
        tokio::time::timeout(Duration::from_secs(1), first.closed())
            .await
            .expect("the idle connection was not closed");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), second.closed())
                .await
                .is_err()
        );
        drop(first);
        assert_eq!(connections.open(), 2);
        drop(third);
    }

    #[tokio::test]
    async fn the_address_with_the_most_connections_gives_way_first() {
        let connections = Connections::new(3);
        let lone = connections.admit(ip(1)).await;
        let crowd_a = connections.admit(ip(2)).await;
        let crowd_b = connections.admit(ip(2)).await;
        let _new = connections.admit(ip(3)).await;
        // The lone client is idle the longest, but the crowd holds more.
        tokio::time::timeout(Duration::from_secs(1), crowd_a.closed())
            .await
            .expect("the crowd's oldest was not closed");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), lone.closed())
                .await
                .is_err()
        );
        drop((lone, crowd_b));
    }

    #[tokio::test]
    async fn when_every_connection_is_busy_a_new_one_waits_for_a_slot() {
        let connections = Connections::new(1);
        let only = connections.admit(ip(1)).await;
        let busy = only.tracker().busy();
        let waiting = tokio::spawn({
            let connections = connections.clone();
            async move { connections.admit(ip(2)).await.id }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "admitted beyond the cap");
        drop(busy);
        drop(only);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the freed slot was not given")
            .unwrap();
    }

    #[tokio::test]
    async fn pressure_is_said_past_half_the_cap() {
        let connections = Connections::new(4);
        let a = connections.admit(ip(1)).await;
        let b = connections.admit(ip(1)).await;
        assert!(!a.under_pressure && !b.under_pressure);
        let c = connections.admit(ip(1)).await;
        assert!(c.under_pressure);
    }
}
