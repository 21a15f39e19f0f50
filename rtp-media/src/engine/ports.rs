//! RTP/RTCP port pairs from a configured range.
//!
//! RTP takes the even port and RTCP the odd port above it (RFC 3550 §11).
//! Allocation walks the range round-robin, so a port freed by a call that
//! just ended is not handed out again at once and stray packets of the old
//! call do not land in a new one.

use super::address::advertised_addr;
use super::error::MediaError;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, PoisonError};

/// The even RTP ports of a range and which of them are in use.
#[derive(Debug)]
pub(crate) struct PortPool {
    first: u16,
    pairs: u32,
    next: u32,
    in_use: HashSet<u16>,
}

impl PortPool {
    /// A pool over the even ports of `range` whose odd partner is in range too.
    pub(crate) fn new(range: &RangeInclusive<u16>) -> Self {
        let start = *range.start();
        let end = *range.end();
        let first = start.saturating_add(start % 2);
        let pairs = if end > first {
            (u32::from(end) - u32::from(first)).div_ceil(2)
        } else {
            0
        };
        PortPool {
            first,
            pairs,
            next: 0,
            in_use: HashSet::new(),
        }
    }

    /// Number of pairs the range holds.
    pub(crate) fn capacity(&self) -> usize {
        self.pairs as usize
    }

    /// Takes the next free even port, or `None` when all are in use.
    pub(crate) fn allocate(&mut self) -> Option<u16> {
        for _ in 0..self.pairs {
            let idx = self.next;
            self.next = (self.next + 1) % self.pairs.max(1);
            let port = u32::from(self.first) + 2 * idx;
            let Ok(port) = u16::try_from(port) else {
                continue;
            };
            if self.in_use.insert(port) {
                return Some(port);
            }
        }
        None
    }

    /// Returns a port to the pool.
    pub(crate) fn release(&mut self, port: u16) {
        self.in_use.remove(&port);
    }
}

/// A port pair taken from a shared pool; returned when dropped.
///
/// The lease lives next to the sockets of a call and is declared after them,
/// so the sockets are closed before the port becomes available again.
#[derive(Debug)]
pub(crate) struct PortLease {
    pool: Arc<Mutex<PortPool>>,
    port: u16,
}

impl PortLease {
    /// Takes a pair from `pool`.
    pub(crate) fn take(pool: &Arc<Mutex<PortPool>>) -> Option<PortLease> {
        let port = pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .allocate()?;
        Some(PortLease {
            pool: Arc::clone(pool),
            port,
        })
    }

    /// The RTP (even) port.
    pub(crate) fn rtp_port(&self) -> u16 {
        self.port
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .release(self.port);
    }
}

/// An RTP/RTCP port pair bound and held for a call whose media is not
/// open yet, from [`MediaEngine::reserve_ports`](super::MediaEngine::reserve_ports).
///
/// An answer (or an offer) names our port before the codec and the rest
/// are known; reserve the pair, put [`PortReservation::advertised_rtp_addr`]
/// in the SDP, and open the call on it with the negotiated parameters
/// ([`MediaEngine::open_session_on`](super::MediaEngine::open_session_on)).
/// Until then the sockets are bound (nobody else can take the ports) and
/// packets that arrive wait in them. Dropping the reservation closes the
/// sockets and returns the pair to the engine's pool.
#[derive(Debug)]
pub struct PortReservation {
    // Field order matters: the sockets close before the lease returns
    // their ports.
    pub(crate) rtp: UdpSocket,
    pub(crate) rtcp: UdpSocket,
    pub(crate) lease: PortLease,
    local_rtp: SocketAddr,
    local_rtcp: SocketAddr,
    advertised_ip: Option<IpAddr>,
}

impl PortReservation {
    pub(crate) fn new(
        rtp: UdpSocket,
        rtcp: UdpSocket,
        lease: PortLease,
        advertised_ip: Option<IpAddr>,
    ) -> std::io::Result<Self> {
        Ok(PortReservation {
            local_rtp: rtp.local_addr()?,
            local_rtcp: rtcp.local_addr()?,
            rtp,
            rtcp,
            lease,
            advertised_ip,
        })
    }

    /// The RTP port (even), for the SDP `m=` line.
    pub fn rtp_port(&self) -> u16 {
        self.local_rtp.port()
    }

    /// The address the RTP socket is bound to (possibly the unspecified
    /// address: for SDP use [`PortReservation::advertised_rtp_addr`]).
    pub fn local_rtp_addr(&self) -> SocketAddr {
        self.local_rtp
    }

    /// The address the RTCP socket is bound to (RTP port + 1).
    pub fn local_rtcp_addr(&self) -> SocketAddr {
        self.local_rtcp
    }

    /// The RTP address to write into SDP: the configured advertised
    /// address, else the bound one if specific, else the local address
    /// routed to `remote` (the offer's RTP address); never the
    /// unspecified address ([`MediaError::NoAdvertisedAddress`] when none
    /// of them is known).
    pub fn advertised_rtp_addr(
        &self,
        remote: Option<SocketAddr>,
    ) -> Result<SocketAddr, MediaError> {
        advertised_addr(self.advertised_ip, self.local_rtp, remote)
    }

    pub(crate) fn advertised_ip(&self) -> Option<IpAddr> {
        self.advertised_ip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_even_and_fit_the_range() {
        let mut p = PortPool::new(&(16385..=16390));
        assert_eq!(p.capacity(), 2);
        assert_eq!(p.allocate(), Some(16386));
        assert_eq!(p.allocate(), Some(16388));
        assert_eq!(p.allocate(), None);
        p.release(16386);
        assert_eq!(p.allocate(), Some(16386));
    }

    #[test]
    fn round_robin_does_not_reuse_at_once() {
        let mut p = PortPool::new(&(20000..=20005));
        let a = p.allocate();
        p.release(20000);
        assert_eq!(a, Some(20000));
        assert_eq!(p.allocate(), Some(20002));
    }

    #[test]
    fn empty_and_degenerate_ranges() {
        assert_eq!(PortPool::new(&(20000..=20000)).capacity(), 0);
        let (hi, lo) = (20001, 20000);
        assert_eq!(PortPool::new(&(hi..=lo)).capacity(), 0);
        let mut p = PortPool::new(&(65534..=65535));
        assert_eq!(p.allocate(), Some(65534));
        assert_eq!(PortPool::new(&(65535..=65535)).capacity(), 0);
        assert_eq!(PortPool::new(&(0..=0)).allocate(), None);
    }

    #[test]
    fn lease_returns_port_on_drop() {
        let pool = Arc::new(Mutex::new(PortPool::new(&(30000..=30001))));
        let lease = PortLease::take(&pool);
        assert_eq!(lease.as_ref().map(PortLease::rtp_port), Some(30000));
        assert!(PortLease::take(&pool).is_none());
        drop(lease);
        assert!(PortLease::take(&pool).is_some());
    }
}
