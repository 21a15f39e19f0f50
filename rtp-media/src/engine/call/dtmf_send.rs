//! Key presses sent by the agent: RFC 4733 telephone events on the
//! negotiated payload type, or in-band DTMF tones when none was negotiated.
//!
//! Each key is one event: its packets carry the RTP timestamp of the tick
//! where the key went down, the marker bit on the first, a duration that
//! grows by one packetization interval per packet, and three end packets
//! with the E bit and the final duration (RFC 4733 §2.5.1). They share the
//! audio's SSRC and sequence numbers. Queued audio waits while a key (or a
//! queue of keys) is sent, and resumes as a new talkspurt afterwards.
//!
//! Clearing the playback (barge-in) cancels the keys that have not started
//! and reports each as [`MediaEvent::DtmfCancelled`]. The key being sent
//! finishes as if nothing happened: an event cut short without its end
//! packets would leave the far end holding the key down until its own
//! timeout, and a tone cut short may not be detected at all.
//!
//! Without a telephone-event payload type the key is played as its dual
//! tone over the audio payload type, followed by a pause of silence, so
//! lines without RFC 4733 (analog gateways) still hear it.

use super::{CallMedia, Side, TickCtx};
use crate::dtmf::{digit_to_event, DtmfSender, EventPacket, ToneGenerator};
use crate::engine::{MediaEvent, FRAME_DURATION, FRAME_SAMPLES};
use crate::rtp::RtpHeader;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

/// Shortest key press sent; shorter requests are lengthened to it (ITU-T
/// Q.24 receivers need about 40 ms of tone).
pub(crate) const MIN_DIGIT: Duration = Duration::from_millis(40);
/// Longest key press sent: the 16-bit duration field at 8 kHz, without
/// the segmentation no key press needs.
pub(crate) const MAX_DIGIT: Duration = Duration::from_millis(8000);
/// Pause between the release of one key and the press of the next.
pub(crate) const INTER_DIGIT_PAUSE: Duration = Duration::from_millis(100);
/// Volume of RFC 4733 events, −dBm0.
const EVENT_VOLUME: u8 = 10;
/// Amplitude of each of the two in-band tones (about −10 dBm0 each).
const TONE_AMPLITUDE: i16 = 6000;
/// Keys waiting to be sent; more are dropped and counted.
pub(crate) const MAX_QUEUED_DIGITS: usize = 64;

#[derive(Debug, Clone, Copy)]
struct QueuedDigit {
    digit: char,
    length: Duration,
}

#[derive(Debug)]
enum Signal {
    /// Packets of `DtmfSend::packets`, the next one at `next`.
    Events { payload_type: u8, next: usize },
    /// Tone samples still to play, then silence samples.
    Tone {
        generator: ToneGenerator,
        tone_left: usize,
        pause_left: usize,
    },
}

#[derive(Debug)]
struct ActiveDigit {
    digit: char,
    length: Duration,
    /// Tick the key went down.
    start_tick: u64,
    /// RTP timestamp of the key-down tick.
    timestamp: u32,
    /// Tick from which the next key may start.
    next_key_tick: u64,
    signal: Signal,
}

/// Per-call outgoing DTMF state.
#[derive(Debug, Default)]
pub(crate) struct DtmfSend {
    queue: VecDeque<QueuedDigit>,
    active: Option<ActiveDigit>,
    /// The active event's packets (buffer reused from key to key).
    packets: Vec<EventPacket>,
    /// Tick before which the next key may not start (the pause after the
    /// previous key's release).
    pause_until: u64,
    /// Keys fully sent.
    sent: u64,
    /// Keys dropped because the queue was full.
    dropped: u64,
    /// Keys cancelled before they started.
    cancelled: u64,
}

/// Whole ticks from the key-down tick until `after` has passed.
fn ticks_for(after: Duration) -> u64 {
    let frame = FRAME_DURATION.as_nanos();
    after.as_nanos().div_ceil(frame) as u64
}

impl DtmfSend {
    /// Queues a key press; `false` when the queue is full.
    pub(crate) fn push(&mut self, digit: char, length: Duration) -> bool {
        if self.queue.len() >= MAX_QUEUED_DIGITS {
            self.dropped += 1;
            return false;
        }
        self.queue.push_back(QueuedDigit {
            digit,
            length: length.clamp(MIN_DIGIT, MAX_DIGIT),
        });
        true
    }

    /// A key is being sent, or keys wait: audio must wait too.
    pub(crate) fn busy(&self) -> bool {
        self.active.is_some() || !self.queue.is_empty()
    }

    pub(crate) fn sent(&self) -> u64 {
        self.sent
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    pub(crate) fn cancelled(&self) -> u64 {
        self.cancelled
    }

    /// Starts the next queued key at `tick` (RTP timestamp `timestamp`).
    fn start_next(
        &mut self,
        tick: u64,
        timestamp: u32,
        event_pt: Option<u8>,
        ptime: Duration,
    ) -> bool {
        let Some(q) = self.queue.pop_front() else {
            return false;
        };
        let release = ticks_for(q.length);
        let pause = ticks_for(INTER_DIGIT_PAUSE);
        let signal = match (event_pt, digit_to_event(q.digit)) {
            (Some(payload_type), Some(_)) => {
                let sender = DtmfSender {
                    clock_rate: crate::g711::Codec::CLOCK_RATE,
                    interval: ptime,
                    volume: EVENT_VOLUME,
                };
                self.packets.clear();
                if let Some(packets) = sender.packets(q.digit, timestamp, q.length) {
                    self.packets.extend(packets);
                }
                Signal::Events {
                    payload_type,
                    next: 0,
                }
            }
            _ => {
                let Some(generator) = ToneGenerator::dtmf(q.digit, TONE_AMPLITUDE) else {
                    // Digits are checked by the session; nothing to send.
                    return false;
                };
                Signal::Tone {
                    generator,
                    tone_left: release as usize * FRAME_SAMPLES,
                    pause_left: pause as usize * FRAME_SAMPLES,
                }
            }
        };
        self.active = Some(ActiveDigit {
            digit: q.digit,
            length: q.length,
            start_tick: tick,
            timestamp,
            next_key_tick: tick + release + pause,
            signal,
        });
        true
    }
}

/// What the DTMF sender does with this tick's send slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DtmfSlot {
    /// No key: queued audio goes out as usual.
    Audio,
    /// A key owns the slot (packets sent, or a pause between them).
    Taken,
}

impl CallMedia {
    /// Queues a key press to send (see the module documentation).
    pub(crate) fn queue_dtmf(&mut self, digit: char, length: Duration) {
        if !self.dtmf_send.push(digit, length) {
            tracing::debug!(call = self.id, %digit, "outgoing DTMF queue full, key dropped");
        }
    }

    /// Cancels the keys that have not started, reporting each; the key
    /// being sent, if any, goes on to its end.
    pub(crate) fn cancel_queued_dtmf(&mut self) {
        while let Some(q) = self.dtmf_send.queue.pop_front() {
            self.dtmf_send.cancelled += 1;
            self.emit(MediaEvent::DtmfCancelled {
                digit: q.digit,
                duration: q.length,
            });
        }
    }

    /// Runs the outgoing DTMF for this tick; called from the send path once
    /// `current_ts` is set for the tick. Returns [`DtmfSlot::Taken`] when
    /// audio must not be sent this tick.
    pub(crate) fn send_dtmf_tick(&mut self, ctx: &mut TickCtx) -> DtmfSlot {
        if !self.dtmf_send.busy() {
            return DtmfSlot::Audio;
        }
        let target = self.latch.target().filter(|_| self.params.direction.send);
        if self.dtmf_send.active.is_none() {
            // Keys wait for somewhere to send them (hold, unknown remote).
            if target.is_none() {
                return DtmfSlot::Audio;
            }
            if ctx.tick < self.dtmf_send.pause_until {
                // The pause after a key; the next key and the audio wait.
                return DtmfSlot::Taken;
            }
            let ptime = Duration::from_millis(u64::from(self.params.ptime_ms));
            let ts = self.current_ts;
            let pt = self.params.telephone_event_pt;
            if let Some(to) = target {
                // Audio collected for a longer ptime goes out before the key.
                self.send_packets(ctx, to, true);
            }
            if !self.dtmf_send.start_next(ctx.tick, ts, pt, ptime) {
                return DtmfSlot::Audio;
            }
            // The audio after the keys starts a new talkspurt.
            self.talking = false;
        }
        let Some(mut active) = self.dtmf_send.active.take() else {
            return DtmfSlot::Audio;
        };
        let elapsed = FRAME_DURATION * ctx.tick.saturating_sub(active.start_tick) as u32;
        let mut tone = None;
        let finished = match &mut active.signal {
            Signal::Events { payload_type, next } => {
                while let Some(&p) = self.dtmf_send.packets.get(*next) {
                    if p.send_after > elapsed {
                        break;
                    }
                    *next += 1;
                    if let Some(to) = target {
                        send_rtp(
                            self,
                            ctx,
                            to,
                            *payload_type,
                            p.marker,
                            p.timestamp,
                            &p.payload,
                        );
                    }
                }
                *next >= self.dtmf_send.packets.len()
            }
            Signal::Tone {
                generator,
                tone_left,
                pause_left,
            } => {
                let mut pcm = [0i16; FRAME_SAMPLES];
                let n = (*tone_left).min(FRAME_SAMPLES);
                generator.fill(&mut pcm[..n]);
                *tone_left -= n;
                if n < FRAME_SAMPLES {
                    *pause_left = pause_left.saturating_sub(FRAME_SAMPLES - n);
                }
                tone = Some(pcm);
                *tone_left == 0 && *pause_left == 0
            }
        };
        if let (Some(pcm), Some(to)) = (tone, target) {
            self.record(Side::Agent, &pcm);
            // At a longer ptime the tone goes through the packetizer, and
            // the key's last packet out with the end of its pause.
            if !self.packetize(ctx, to, &pcm, finished) {
                let mut payload = [0u8; FRAME_SAMPLES];
                self.params.codec.encode(&pcm, &mut payload);
                let marker = !self.talking;
                let (pt, ts) = (self.params.payload_type, self.current_ts);
                send_rtp(self, ctx, to, pt, marker, ts, &payload);
                self.talking = true;
            }
        }
        if !finished {
            self.dtmf_send.active = Some(active);
            return DtmfSlot::Taken;
        }
        let done = active;
        self.dtmf_send.sent += 1;
        self.dtmf_send.pause_until = done.next_key_tick;
        self.talking = false;
        self.emit(MediaEvent::DtmfSent {
            digit: done.digit,
            duration: done.length,
            media_ts: done.timestamp,
        });
        DtmfSlot::Taken
    }
}

/// Sends one RTP packet in the call's SSRC and sequence space.
pub(super) fn send_rtp(
    call: &mut CallMedia,
    ctx: &mut TickCtx,
    to: SocketAddr,
    payload_type: u8,
    marker: bool,
    timestamp: u32,
    payload: &[u8],
) {
    let mut header = RtpHeader::new(payload_type, call.seq, timestamp, call.ssrc);
    header.marker = marker;
    match header.write_packet(payload, 0, &mut ctx.out) {
        Ok(len) => match call.io.rtp.send_to(&ctx.out[..len], to) {
            Ok(_) => {
                call.counters.packets_sent += 1;
                call.counters.bytes_sent += payload.len() as u64;
            }
            Err(_) => call.counters.socket_errors += 1,
        },
        Err(_) => call.counters.socket_errors += 1,
    }
    call.seq = call.seq.wrapping_add(1);
    call.sent_since_report = true;
}
