//! Packetization times other than 20 ms (RFC 4566 `a=ptime`: 10, 30, 40,
//! 60 ms ...).
//!
//! The worker's tick and the frames the application sees stay 20 ms. On
//! the receive side the jitter buffer works in packets of the negotiated
//! ptime (it places them by timestamp and counts loss by sequence number,
//! one push per packet); their decoded samples pass through a small FIFO
//! from which each tick takes 160. On the send side 20 ms of playback per
//! tick goes into a packetizer that sends a packet whenever a whole ptime
//! of audio is in it, with timestamps contiguous over the talkspurt; a
//! 30 ms stream therefore goes out at 20/40 ms spacing that averages 30.
//! A play counts as sent (its [`MediaEvent::PlaybackFinished`]) once its
//! last sample is in the packetizer, up to one ptime before that packet
//! leaves.

use super::dtmf_send::send_rtp;
use super::{CallMedia, Side, TickCtx};
use crate::engine::{FrameKind, MediaEvent, FRAME_SAMPLES};
use crate::g711::Codec;
use crate::jitter::{Concealer, ConcealerConfig, Frame, JitterBuffer, JitterConfig};
use std::time::Duration;

/// Longest ptime accepted, in ms (960 G.711 bytes, within one MTU).
pub(crate) const MAX_PTIME_MS: u32 = 120;
/// Samples in the longest packet.
const MAX_PACKET_SAMPLES: usize = (MAX_PTIME_MS * 8) as usize;

/// `ptime_ms` is a multiple of 10 between 10 and [`MAX_PTIME_MS`].
pub(crate) fn ptime_supported(ptime_ms: u32) -> bool {
    ptime_ms % 10 == 0 && (10..=MAX_PTIME_MS).contains(&ptime_ms)
}

/// Samples (= G.711 bytes) in one packet of `ptime_ms`.
pub(crate) fn packet_samples(ptime_ms: u32) -> usize {
    (ptime_ms * Codec::CLOCK_RATE / 1000) as usize
}

/// Jitter buffer settings for packets of `ptime_ms`.
pub(crate) fn jitter_config(base: JitterConfig, ptime_ms: u32) -> JitterConfig {
    JitterConfig {
        clock_rate: Codec::CLOCK_RATE,
        ptime: Duration::from_millis(u64::from(ptime_ms)),
        max_payload: base.max_payload.max(packet_samples(ptime_ms)),
        ..base
    }
}

/// How bad a frame is, to label a 20 ms frame made of several packets by
/// its worst part.
fn severity(kind: FrameKind) -> u8 {
    match kind {
        FrameKind::Audio => 0,
        FrameKind::Concealed => 1,
        FrameKind::ComfortNoise => 2,
        FrameKind::Silence => 3,
    }
}

fn kind_of(frame: &Frame<'_>) -> FrameKind {
    match frame {
        Frame::Audio(_) => FrameKind::Audio,
        Frame::Concealed => FrameKind::Concealed,
        Frame::ComfortNoise => FrameKind::ComfortNoise,
        Frame::Empty => FrameKind::Silence,
    }
}

/// Decoded samples of received packets waiting to be played out in 20 ms
/// frames, with the kind of each stretch.
#[derive(Debug)]
pub(crate) struct RxFifo {
    packet: usize,
    samples: [i16; MAX_PACKET_SAMPLES + FRAME_SAMPLES],
    len: usize,
    /// (samples, kind) of the stretches in `samples`, oldest first; at
    /// most two packets are ever buffered.
    parts: [(usize, FrameKind); 3],
    n_parts: usize,
}

impl RxFifo {
    fn new(ptime_ms: u32) -> Self {
        RxFifo {
            packet: packet_samples(ptime_ms),
            samples: [0; MAX_PACKET_SAMPLES + FRAME_SAMPLES],
            len: 0,
            parts: [(0, FrameKind::Silence); 3],
            n_parts: 0,
        }
    }
}

/// Playback collected into packets of the negotiated ptime.
#[derive(Debug)]
pub(crate) struct Packetizer {
    packet: usize,
    samples: [i16; MAX_PACKET_SAMPLES + FRAME_SAMPLES],
    len: usize,
    /// RTP timestamp of `samples[0]`.
    ts: u32,
}

impl Packetizer {
    fn new(ptime_ms: u32) -> Self {
        Packetizer {
            packet: packet_samples(ptime_ms),
            samples: [0; MAX_PACKET_SAMPLES + FRAME_SAMPLES],
            len: 0,
            ts: 0,
        }
    }

    fn push(&mut self, pcm: &[i16; FRAME_SAMPLES], ts: u32) {
        if self.len == 0 {
            self.ts = ts;
        }
        self.samples[self.len..self.len + FRAME_SAMPLES].copy_from_slice(pcm);
        self.len += FRAME_SAMPLES;
    }

    /// Moves the oldest packet (padded with silence when `flush`) into
    /// `out`; returns its timestamp and length.
    fn take(&mut self, flush: bool, out: &mut [i16]) -> Option<(u32, usize)> {
        if self.len == 0 || (self.len < self.packet && !flush) {
            return None;
        }
        let n = self.packet;
        let have = self.len.min(n);
        out[..have].copy_from_slice(&self.samples[..have]);
        out[have..n].fill(0);
        self.samples.copy_within(have..self.len, 0);
        self.len -= have;
        let ts = self.ts;
        self.ts = self.ts.wrapping_add(n as u32);
        Some((ts, n))
    }
}

/// Per-call state for a ptime other than 20 ms.
#[derive(Debug)]
pub(crate) struct Repacketizer {
    ptime_ms: u32,
    rx: RxFifo,
    tx: Packetizer,
}

impl Repacketizer {
    /// `None` for 20 ms, which needs no repacketizing.
    pub(crate) fn for_ptime(ptime_ms: u32) -> Option<Box<Repacketizer>> {
        (ptime_ms != 20).then(|| {
            Box::new(Repacketizer {
                ptime_ms,
                rx: RxFifo::new(ptime_ms),
                tx: Packetizer::new(ptime_ms),
            })
        })
    }
}

impl CallMedia {
    /// Rebuilds the receive and send packetization for a new ptime
    /// (re-INVITE): the jitter buffer starts over at the new packet size.
    pub(crate) fn set_ptime(&mut self, ptime_ms: u32, base: JitterConfig, cc: ConcealerConfig) {
        self.jitter = JitterBuffer::new(jitter_config(base, ptime_ms));
        self.concealer = Concealer::new(packet_samples(ptime_ms), cc);
        self.repacketizer = Repacketizer::for_ptime(ptime_ms);
    }

    /// The next 20 ms frame of received audio: one jitter-buffer frame at
    /// 20 ms ptime, else from the FIFO refilled one packet at a time. Also
    /// returns the frame's sum of squared samples, for the VAD gate.
    pub(crate) fn pull_frame(&mut self, out: &mut [i16; FRAME_SAMPLES]) -> (FrameKind, u64) {
        let codec = self.params.codec;
        let Some(rp) = self.repacketizer.as_mut() else {
            let frame = self.jitter.pop();
            let kind = kind_of(&frame);
            let (_, energy) = self.concealer.render_energy(frame, codec, out);
            return (kind, energy);
        };
        let fifo = &mut rp.rx;
        while fifo.len < FRAME_SAMPLES {
            let frame = self.jitter.pop();
            let kind = kind_of(&frame);
            let slot = &mut fifo.samples[fifo.len..fifo.len + fifo.packet];
            slot.fill(0);
            self.concealer.render(frame, codec, slot);
            fifo.len += fifo.packet;
            if fifo.n_parts < fifo.parts.len() {
                fifo.parts[fifo.n_parts] = (fifo.packet, kind);
                fifo.n_parts += 1;
            }
        }
        out.copy_from_slice(&fifo.samples[..FRAME_SAMPLES]);
        fifo.samples.copy_within(FRAME_SAMPLES..fifo.len, 0);
        fifo.len -= FRAME_SAMPLES;
        // Label by the worst stretch the frame overlaps, and consume it.
        let mut need = FRAME_SAMPLES;
        let mut kind = FrameKind::Audio;
        while need > 0 && fifo.n_parts > 0 {
            let (left, k) = &mut fifo.parts[0];
            if severity(*k) > severity(kind) {
                kind = *k;
            }
            let used = need.min(*left);
            *left -= used;
            need -= used;
            if *left == 0 {
                fifo.parts.copy_within(1..fifo.n_parts, 0);
                fifo.n_parts -= 1;
            }
        }
        (kind, crate::vad::sum_of_squares(out))
    }

    /// The send path for a ptime other than 20 ms; called once per tick
    /// with the RTP timestamp of the tick set. Returns false at 20 ms
    /// ptime, where the caller sends one packet per tick itself.
    pub(crate) fn send_packetized(&mut self, ctx: &mut TickCtx) -> bool {
        if self.repacketizer.is_none() {
            return false;
        }
        let target = match self.latch.target() {
            Some(t) if self.params.direction.send => t,
            _ => {
                // Hold or nowhere to send: what was collected is dropped.
                if let Some(rp) = self.repacketizer.as_mut() {
                    rp.tx.len = 0;
                }
                self.talking = false;
                return true;
            }
        };
        let playing = !self.playback.is_empty();
        if playing {
            let mut pcm = [0i16; FRAME_SAMPLES];
            let n = self.playback.len().min(FRAME_SAMPLES);
            for (dst, src) in pcm.iter_mut().zip(self.playback.drain(..n)) {
                *dst = src;
            }
            self.record(Side::Agent, &pcm);
            if let Some(rp) = self.repacketizer.as_mut() {
                rp.tx.push(&pcm, self.current_ts);
            }
            self.sent_total += n as u64;
            self.finish_sent_plays();
        }
        // At the end of a talkspurt the last partial packet goes out padded.
        self.send_packets(ctx, target, !playing);
        if !playing {
            self.talking = false;
        }
        true
    }

    /// Sends every whole packet collected (and the partial one if `flush`).
    pub(crate) fn send_packets(
        &mut self,
        ctx: &mut TickCtx,
        to: std::net::SocketAddr,
        flush: bool,
    ) {
        let mut pcm = [0i16; MAX_PACKET_SAMPLES];
        let mut payload = [0u8; MAX_PACKET_SAMPLES];
        loop {
            let Some(rp) = self.repacketizer.as_mut() else {
                return;
            };
            let Some((ts, n)) = rp.tx.take(flush, &mut pcm) else {
                return;
            };
            self.params.codec.encode(&pcm[..n], &mut payload[..n]);
            let marker = !self.talking;
            let pt = self.params.payload_type;
            send_rtp(self, ctx, to, pt, marker, ts, &payload[..n]);
            self.talking = true;
        }
    }

    /// Sends 20 ms of audio (a tone) through the packetizer: `false` at
    /// 20 ms ptime, where the caller sends it as one packet.
    pub(crate) fn packetize(
        &mut self,
        ctx: &mut TickCtx,
        to: std::net::SocketAddr,
        pcm: &[i16; FRAME_SAMPLES],
        flush: bool,
    ) -> bool {
        let ts = self.current_ts;
        let Some(rp) = self.repacketizer.as_mut() else {
            return false;
        };
        rp.tx.push(pcm, ts);
        self.send_packets(ctx, to, flush);
        true
    }

    /// Reports the plays whose last sample has been taken for sending.
    fn finish_sent_plays(&mut self) {
        while let Some(&(id, end)) = self.marks.front() {
            if end > self.sent_total {
                break;
            }
            self.marks.pop_front();
            self.emit(MediaEvent::PlaybackFinished {
                id,
                interrupted: false,
            });
        }
    }

    /// The ptime in effect, in ms.
    pub(crate) fn ptime_ms(&self) -> u32 {
        self.repacketizer.as_ref().map_or(20, |r| r.ptime_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: i16) -> [i16; FRAME_SAMPLES] {
        [v; FRAME_SAMPLES]
    }

    #[test]
    fn packetizer_cuts_30_ms_packets_with_contiguous_timestamps() {
        let mut p = Packetizer::new(30);
        let mut out = [0i16; MAX_PACKET_SAMPLES];
        p.push(&frame(1), 1000);
        assert_eq!(p.take(false, &mut out), None, "20 ms is not a packet yet");
        p.push(&frame(2), 1160);
        assert_eq!(p.take(false, &mut out), Some((1000, 240)));
        assert!(out[..160].iter().all(|&x| x == 1));
        assert!(out[160..240].iter().all(|&x| x == 2));
        assert_eq!(p.take(false, &mut out), None);
        // End of the talkspurt: the 10 ms left go out padded.
        assert_eq!(p.take(true, &mut out), Some((1240, 240)));
        assert!(out[..80].iter().all(|&x| x == 2));
        assert!(out[80..240].iter().all(|&x| x == 0));
        assert_eq!(p.take(true, &mut out), None);
        // A new talkspurt takes the timestamp of its first frame.
        p.push(&frame(3), 5000);
        assert_eq!(p.take(true, &mut out), Some((5000, 240)));
    }

    #[test]
    fn packetizer_splits_a_frame_into_10_ms_packets() {
        let mut p = Packetizer::new(10);
        let mut out = [0i16; MAX_PACKET_SAMPLES];
        p.push(&frame(7), 0);
        assert_eq!(p.take(false, &mut out), Some((0, 80)));
        assert_eq!(p.take(false, &mut out), Some((80, 80)));
        assert_eq!(p.take(false, &mut out), None);
    }

    #[test]
    fn supported_ptimes() {
        for ok in [10, 20, 30, 40, 60, 120] {
            assert!(ptime_supported(ok), "{ok}");
        }
        for bad in [0, 5, 25, 130, u32::MAX] {
            assert!(!ptime_supported(bad), "{bad}");
        }
        assert_eq!(jitter_config(JitterConfig::default(), 60).max_payload, 480);
        assert_eq!(jitter_config(JitterConfig::default(), 20).max_payload, 320);
    }
}
