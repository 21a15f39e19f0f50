//! The call's RTCP: when to report, where to (symmetric RTCP), and what
//! the far end's reports said of our stream (RFC 3550 §6).

use crate::engine::event::FRAME_DURATION;
use crate::rtcp::{
    round_trip_time, write_receiver_report, write_sdes_cname, write_sender_report, ReceptionStats,
    ReportBlock, ReportBlocks, SenderInfo,
};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

/// Longest RTCP or stats interval honoured (keeps timer arithmetic finite).
pub(crate) const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// Random numbers for SSRC, initial sequence/timestamp and RTCP timing.
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    h.write_u64(t);
    h.finish() | 1
}

pub(crate) fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// RTCP state of one call.
#[derive(Debug)]
pub(crate) struct RtcpState {
    /// Where the far end's reports come from (we answer there).
    pub(crate) source: Option<SocketAddr>,
    interval: Duration,
    next: Instant,
    cname: String,
    rng: u64,
    /// Round-trip time from the last report on our SR.
    pub(crate) rtt: Option<Duration>,
    /// Loss of our stream as the far end last reported it, percent.
    pub(crate) remote_loss: Option<f64>,
}

impl RtcpState {
    pub(crate) fn new(interval: Duration, cname: &str, rng: u64, now: Instant) -> Self {
        let mut state = RtcpState {
            source: None,
            interval: interval.clamp(FRAME_DURATION, MAX_INTERVAL),
            next: now,
            cname: cname.to_owned(),
            rng,
            rtt: None,
            remote_loss: None,
        };
        state.next = now + state.jittered();
        state
    }

    /// The interval randomized to 0.5–1.5× (RFC 3550 §6.3.1).
    fn jittered(&mut self) -> Duration {
        let r = (xorshift(&mut self.rng) % 1000) as f64 / 1000.0;
        self.interval.mul_f64(0.5 + r)
    }

    /// A report is due at `now`; the next one is scheduled.
    pub(crate) fn due(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        self.next = now + self.jittered();
        true
    }

    /// Reads the report blocks about our stream `ssrc`, received at the
    /// middle-32-bit NTP time `arrival`.
    pub(crate) fn on_report_blocks(&mut self, reports: ReportBlocks<'_>, ssrc: u32, arrival: u32) {
        for block in reports {
            if block.ssrc != ssrc {
                continue;
            }
            if let Some(rtt) = round_trip_time(arrival, block.lsr, block.dlsr) {
                self.rtt = Some(rtt);
            }
            self.remote_loss = Some(block.loss_percent());
        }
    }

    /// Writes our compound report into `out`: an SR when `sender` (we sent
    /// since the last one) else an RR, with a report block on the stream
    /// we receive, and the SDES CNAME. Returns its length.
    pub(crate) fn write_report(
        &mut self,
        out: &mut [u8],
        ssrc: u32,
        reception: &mut ReceptionStats,
        sender: Option<SenderInfo>,
        now: Instant,
    ) -> Option<usize> {
        let mut blocks = [ReportBlock::default(); 1];
        let reports: &[ReportBlock] = if reception.ssrc().is_some() {
            blocks[0] = reception.report_block(now);
            &blocks
        } else {
            &[]
        };
        let len = match sender {
            Some(info) => write_sender_report(out, ssrc, &info, reports),
            None => write_receiver_report(out, ssrc, reports),
        }
        .ok()?;
        let sdes = write_sdes_cname(out.get_mut(len..)?, ssrc, self.cname.as_bytes()).ok()?;
        Some(len + sdes)
    }
}
