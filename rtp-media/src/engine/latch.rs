//! Symmetric RTP (RFC 4961 style "latching") for callers behind NAT.
//!
//! A phone behind NAT signals a private address in its SDP, but its packets
//! reach us from the NAT's public address. Sending to the signalled address
//! gives one-way audio. After a few valid packets in a row from one source,
//! we send to where they came from instead.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What to do with a valid packet from a given source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LatchVerdict {
    /// Accept; the send target is unchanged.
    Accept,
    /// Accept; the send target moved from `from` to `to`.
    Changed {
        /// Previous target.
        from: Option<SocketAddr>,
        /// New target.
        to: SocketAddr,
    },
    /// From a source other than the latched one, which is still active:
    /// drop it (protects a call from injected or stray media).
    Foreign,
}

/// Latching state for the RTP of one call.
#[derive(Debug, Clone)]
pub(crate) struct Latch {
    target: Option<SocketAddr>,
    latched: bool,
    candidate: Option<SocketAddr>,
    candidate_run: u32,
    needed: u32,
    relatch_idle: Duration,
    last_from_target: Option<Instant>,
    changes: u32,
}

impl Latch {
    /// Starts sending to the signalled address (if any); latches after
    /// `needed` consecutive valid packets from one source; moves an existing
    /// latch only when the latched source has been silent for `relatch_idle`.
    pub(crate) fn new(signalled: Option<SocketAddr>, needed: u32, relatch_idle: Duration) -> Self {
        Latch {
            target: signalled,
            latched: false,
            candidate: None,
            candidate_run: 0,
            needed: needed.max(1),
            relatch_idle,
            last_from_target: None,
            changes: 0,
        }
    }

    /// Where RTP goes now.
    pub(crate) fn target(&self) -> Option<SocketAddr> {
        self.target
    }

    /// Times the target moved because of latching.
    pub(crate) fn changes(&self) -> u32 {
        self.changes
    }

    /// A re-INVITE signalled a new address: send there and latch afresh.
    pub(crate) fn resignal(&mut self, signalled: Option<SocketAddr>) {
        self.target = signalled;
        self.latched = false;
        self.candidate = None;
        self.candidate_run = 0;
        self.last_from_target = None;
    }

    /// Records a valid packet (expected payload type) from `src`.
    pub(crate) fn on_packet(&mut self, src: SocketAddr, now: Instant) -> LatchVerdict {
        if self.candidate == Some(src) {
            self.candidate_run = self.candidate_run.saturating_add(1);
        } else {
            self.candidate = Some(src);
            self.candidate_run = 1;
        }
        if self.latched && self.target == Some(src) {
            self.last_from_target = Some(now);
            return LatchVerdict::Accept;
        }
        let target_idle = match self.last_from_target {
            Some(t) => now.saturating_duration_since(t) >= self.relatch_idle,
            None => true,
        };
        if self.latched && !target_idle {
            return LatchVerdict::Foreign;
        }
        if self.candidate_run < self.needed {
            // Not latched yet (or the old source went quiet): play the audio
            // while the new source proves itself; a latched call drops it.
            return if self.latched {
                LatchVerdict::Foreign
            } else {
                LatchVerdict::Accept
            };
        }
        self.latched = true;
        self.last_from_target = Some(now);
        if self.target == Some(src) {
            return LatchVerdict::Accept;
        }
        let from = self.target.replace(src);
        self.changes += 1;
        LatchVerdict::Changed { from, to: src }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn latches_after_two_packets_from_a_new_source() {
        let t0 = Instant::now();
        let mut l = Latch::new(Some(addr(4000)), 2, Duration::from_millis(500));
        assert_eq!(l.on_packet(addr(5000), t0), LatchVerdict::Accept);
        assert_eq!(l.target(), Some(addr(4000)));
        assert_eq!(
            l.on_packet(addr(5000), t0),
            LatchVerdict::Changed {
                from: Some(addr(4000)),
                to: addr(5000)
            }
        );
        assert_eq!(l.target(), Some(addr(5000)));
        assert_eq!(l.changes(), 1);
        assert_eq!(l.on_packet(addr(5000), t0), LatchVerdict::Accept);
    }

    #[test]
    fn signalled_source_latches_without_a_change() {
        let t0 = Instant::now();
        let mut l = Latch::new(Some(addr(4000)), 2, Duration::from_millis(500));
        l.on_packet(addr(4000), t0);
        assert_eq!(l.on_packet(addr(4000), t0), LatchVerdict::Accept);
        assert_eq!(l.changes(), 0);
    }

    #[test]
    fn foreign_source_dropped_while_latched_source_is_active() {
        let t0 = Instant::now();
        let mut l = Latch::new(None, 2, Duration::from_millis(500));
        l.on_packet(addr(4000), t0);
        assert!(matches!(
            l.on_packet(addr(4000), t0),
            LatchVerdict::Changed { from: None, .. }
        ));
        let t1 = t0 + Duration::from_millis(100);
        for _ in 0..5 {
            assert_eq!(l.on_packet(addr(6000), t1), LatchVerdict::Foreign);
        }
        // Latched source goes quiet (NAT rebinding): the new one, which kept
        // sending, takes over at once.
        let t2 = t0 + Duration::from_secs(1);
        assert!(matches!(
            l.on_packet(addr(6000), t2),
            LatchVerdict::Changed { .. }
        ));
        assert_eq!(l.target(), Some(addr(6000)));
        assert_eq!(l.changes(), 2);
    }

    #[test]
    fn alternating_sources_never_latch() {
        let t0 = Instant::now();
        let mut l = Latch::new(Some(addr(4000)), 2, Duration::from_millis(500));
        for i in 0..10 {
            let src = if i % 2 == 0 { addr(5000) } else { addr(5002) };
            assert_eq!(l.on_packet(src, t0), LatchVerdict::Accept);
        }
        assert_eq!(l.target(), Some(addr(4000)));
    }

    #[test]
    fn resignal_resets() {
        let t0 = Instant::now();
        let mut l = Latch::new(Some(addr(4000)), 2, Duration::from_millis(500));
        l.on_packet(addr(5000), t0);
        l.on_packet(addr(5000), t0);
        l.resignal(Some(addr(7000)));
        assert_eq!(l.target(), Some(addr(7000)));
        assert_eq!(l.on_packet(addr(5000), t0), LatchVerdict::Accept);
        assert!(matches!(
            l.on_packet(addr(5000), t0),
            LatchVerdict::Changed { .. }
        ));
    }
}
