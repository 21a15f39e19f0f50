//! The call's outgoing RTP stream: its SSRC, sequence numbers and
//! timestamps (RFC 3550 §5.1), the playback queue, and the packetizer of
//! a ptime other than 20 ms.

use super::ptime::Packetizer;
use crate::engine::event::{PlaybackId, FRAME_SAMPLES};
use crate::rtp::RtpHeader;
use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// Audio queued by the application, waiting to be sent, and the plays
/// whose end has not been sent yet.
#[derive(Debug)]
pub(crate) struct Playback {
    queue: VecDeque<i16>,
    /// (play, `queued_total` at its last sample), oldest first.
    marks: VecDeque<(PlaybackId, u64)>,
    queued_total: u64,
    sent_total: u64,
    /// Plays at the front of `marks` cut short by the last clear.
    cut: usize,
}

impl Playback {
    fn new() -> Self {
        Playback {
            queue: VecDeque::with_capacity(FRAME_SAMPLES * 8),
            marks: VecDeque::new(),
            queued_total: 0,
            sent_total: 0,
            cut: 0,
        }
    }

    /// Queues a play; `false` when it is empty (finished at once).
    pub(crate) fn play(&mut self, id: PlaybackId, samples: Vec<i16>) -> bool {
        if samples.is_empty() {
            return false;
        }
        self.queued_total += samples.len() as u64;
        self.queue.extend(samples);
        self.marks.push_back((id, self.queued_total));
        true
    }

    /// Queues 20 ms without an id.
    pub(crate) fn play_frame(&mut self, samples: &[i16; FRAME_SAMPLES]) {
        self.queued_total += samples.len() as u64;
        self.queue.extend(samples);
    }

    /// Drops everything queued; [`Playback::next_cut`] then gives the
    /// plays cut short.
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.sent_total = self.queued_total;
        self.cut = self.marks.len();
    }

    /// The next play cut short by [`Playback::clear`], in order.
    pub(crate) fn next_cut(&mut self) -> Option<PlaybackId> {
        self.cut = self.cut.checked_sub(1)?;
        self.marks.pop_front().map(|(id, _)| id)
    }

    /// Nothing queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Moves the next 20 ms (or what is left, padded with silence) into
    /// `pcm`; returns how many samples were queued audio.
    pub(crate) fn take_frame(&mut self, pcm: &mut [i16; FRAME_SAMPLES]) -> usize {
        let n = self.queue.len().min(FRAME_SAMPLES);
        for (dst, src) in pcm.iter_mut().zip(self.queue.drain(..n)) {
            *dst = src;
        }
        pcm[n..].fill(0);
        self.sent_total += n as u64;
        n
    }

    /// The next play whose last sample has been taken for sending.
    pub(crate) fn next_finished(&mut self) -> Option<PlaybackId> {
        let &(id, end) = self.marks.front()?;
        if end > self.sent_total {
            return None;
        }
        self.marks.pop_front();
        Some(id)
    }
}

/// The outgoing RTP stream of one call.
#[derive(Debug)]
pub(crate) struct SendSide {
    pub(crate) ssrc: u32,
    seq: u16,
    ts_base: u32,
    start_tick: u64,
    /// RTP timestamp of the current tick's audio.
    pub(crate) ts: u32,
    /// Inside a talkspurt: the next audio packet carries no marker.
    pub(crate) talking: bool,
    /// Packets sent since the last RTCP report (SR rather than RR).
    pub(crate) sent_since_report: bool,
    pub(crate) packets_sent: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) playback: Playback,
    /// Packets of the negotiated ptime; `None` at 20 ms.
    pub(crate) packetizer: Option<Box<Packetizer>>,
}

/// A packet could not be written or sent (counted as a socket error).
#[derive(Debug)]
pub(crate) struct SendFailed;

impl SendSide {
    /// A stream with random SSRC, first sequence number and timestamp
    /// (RFC 3550 §5.1), sending packets of `ptime`.
    pub(crate) fn new(ssrc: u32, seq: u16, ts_base: u32, ptime: Duration) -> Self {
        SendSide {
            ssrc,
            seq,
            ts_base,
            start_tick: 0,
            ts: ts_base,
            talking: false,
            sent_since_report: false,
            packets_sent: 0,
            bytes_sent: 0,
            playback: Playback::new(),
            packetizer: Packetizer::for_ptime(ptime),
        }
    }

    /// The stream's timestamps count from `tick`.
    pub(crate) fn start(&mut self, tick: u64) {
        self.start_tick = tick;
    }

    /// Sets the RTP timestamp of tick `tick` (8 kHz, following real time
    /// even across skipped ticks).
    #[inline]
    pub(crate) fn set_tick(&mut self, tick: u64) {
        let elapsed = tick.wrapping_sub(self.start_tick) as u32;
        self.ts = self
            .ts_base
            .wrapping_add(elapsed.wrapping_mul(FRAME_SAMPLES as u32));
    }

    /// A new negotiated ptime (re-INVITE): packets of that size from now on.
    pub(crate) fn set_ptime(&mut self, ptime: Duration) {
        self.packetizer = Packetizer::for_ptime(ptime);
    }

    /// Writes one RTP packet of the stream into `out` and sends it to `to`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn send(
        &mut self,
        socket: &UdpSocket,
        out: &mut [u8],
        to: SocketAddr,
        payload_type: u8,
        marker: bool,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<(), SendFailed> {
        let mut header = RtpHeader::new(payload_type, self.seq, timestamp, self.ssrc);
        header.marker = marker;
        self.seq = self.seq.wrapping_add(1);
        self.sent_since_report = true;
        let len = header
            .write_packet(payload, 0, out)
            .map_err(|_| SendFailed)?;
        socket.send_to(&out[..len], to).map_err(|_| SendFailed)?;
        self.packets_sent += 1;
        self.bytes_sent += payload.len() as u64;
        Ok(())
    }
}
