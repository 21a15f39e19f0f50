//! What the engine tells the application about a call: events, decoded
//! frames and quality counters.

use std::net::SocketAddr;
use std::time::Duration;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// The engine's frame period.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);

/// Identifies one [`MediaSession::play`](super::MediaSession::play) call in [`MediaEvent::PlaybackFinished`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlaybackId(pub u64);

/// Something the application should know about a call.
#[derive(Debug, Clone, PartialEq)]
// `Stats` is the large variant; it is sent every few seconds, and boxing it
// would change what applications match on for no measurable gain.
#[allow(clippy::large_enum_variant)]
pub enum MediaEvent {
    /// The caller pressed a key (RFC 4733, or in-band when enabled): it
    /// went down. Reported at once, so a menu need not wait for the
    /// release; [`MediaEvent::Dtmf`] follows when the key comes up.
    DtmfStarted {
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// Where the key went down, on the delivered-audio clock (8 kHz
        /// samples, as [`AudioFrame::media_ts`] and the speech events).
        media_ts: u32,
    },
    /// A key press completed: the key came up (its end packets, a newer
    /// key, a second without packets for it, or the end of its tone), or
    /// the session closed with it still down. Follows the key's
    /// [`MediaEvent::DtmfStarted`].
    Dtmf {
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// How long the key was held (so far, when the session closed).
        duration: Duration,
        /// Where the key went down, on the delivered-audio clock: the same
        /// position as its [`MediaEvent::DtmfStarted`]; it came up at
        /// `media_ts` + `duration`.
        media_ts: u32,
    },
    /// A key press queued by [`MediaSession::send_dtmf`](super::MediaSession::send_dtmf) has been sent
    /// completely (its end packets, or its tone and the pause after it).
    DtmfSent {
        /// The key.
        digit: char,
        /// How long it was held.
        duration: Duration,
        /// Our RTP timestamp of the key: the one its event packets carry
        /// (RFC 4733 §2.3), or, sent as in-band tones, that of the tone's
        /// first audio packet. It is on our sending clock, unlike the
        /// `media_ts` of the other events (the delivered-audio clock).
        rtp_ts: u32,
    },
    /// A key press queued by [`MediaSession::send_dtmf`](super::MediaSession::send_dtmf) was dropped by
    /// [`MediaSession::clear_playback`](super::MediaSession::clear_playback) before it started: nothing of it
    /// was sent, and no [`MediaEvent::DtmfSent`] follows for it (the
    /// counterpart of an `interrupted` [`MediaEvent::PlaybackFinished`]).
    DtmfCancelled {
        /// The key.
        digit: char,
        /// How long it would have been held.
        duration: Duration,
    },
    /// The caller started talking (voice activity detection).
    SpeechStarted {
        /// Position in the delivered-audio clock (8 kHz samples).
        media_ts: u32,
    },
    /// The caller stopped talking.
    SpeechStopped {
        /// Position in the delivered-audio clock (8 kHz samples).
        media_ts: u32,
    },
    /// Periodic quality report.
    Stats(MediaStats),
    /// Latching moved the RTP destination (NAT, or the far end moved).
    RemoteAddressChanged {
        /// Previous destination.
        from: Option<SocketAddr>,
        /// New destination.
        to: SocketAddr,
    },
    /// No RTP for the configured time while receiving.
    Timeout {
        /// Time since the last packet (or since the call started).
        silent_for: Duration,
    },
    /// The audio of one `play` was fully sent, or dropped by
    /// [`MediaSession::clear_playback`](super::MediaSession::clear_playback) (`interrupted`).
    PlaybackFinished {
        /// Which play.
        id: PlaybackId,
        /// Cleared before it was all sent.
        interrupted: bool,
    },
}

/// What [`MediaSession::stop_recording`](super::MediaSession::stop_recording) wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingSummary {
    /// Samples per channel in the file, at 8 kHz (samples / 8000 is its
    /// length in seconds).
    pub samples: u64,
    /// 20 ms frames dropped because the writer fell behind the call.
    pub frames_dropped: u64,
}

/// How a delivered frame was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Decoded from a received packet.
    Audio,
    /// The packet was missing: repeated and faded from the previous audio.
    Concealed,
    /// Missing for a while: comfort noise.
    ComfortNoise,
    /// Nothing buffered yet: silence.
    Silence,
}

/// 20 ms of decoded audio from the far end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFrame {
    /// Frames delivered before this one; consecutive unless the application
    /// fell behind and frames were dropped.
    pub index: u64,
    /// `index × 160`: position in the delivered-audio clock.
    pub media_ts: u32,
    /// How the samples were produced.
    pub kind: FrameKind,
    /// 8 kHz linear samples.
    pub samples: [i16; FRAME_SAMPLES],
}

/// A call's quality and error counters, sent in [`MediaEvent::Stats`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaStats {
    /// RTP packets accepted (audio and telephone events).
    pub packets_received: u64,
    /// RTP payload bytes accepted.
    pub bytes_received: u64,
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP payload bytes sent.
    pub bytes_sent: u64,
    /// Packets expected from sequence numbers (RFC 3550).
    pub expected: u64,
    /// Audio packets never received (late packets are not lost).
    pub lost: u64,
    /// `lost / expected` in percent.
    pub loss_pct: f64,
    /// Interarrival jitter (RFC 3550 §6.4.1, A.8).
    pub jitter: Duration,
    /// Round-trip time from RTCP, once the far end reported on our SR.
    pub rtt: Option<Duration>,
    /// Estimated listening quality of the received audio (1.0 to 4.5).
    pub mos: f64,
    /// Loss of our audio as the far end reports it, percent.
    pub remote_loss_pct: Option<f64>,
    /// Current jitter buffer delay.
    pub jitter_buffer_delay: Duration,
    /// Current jitter buffer target delay.
    pub jitter_buffer_target: Duration,
    /// Packets that arrived after their frame was played.
    pub late: u64,
    /// Frames concealed (loss, lateness, buffer growth).
    pub concealed: u64,
    /// Frames of comfort noise.
    pub comfort_noise: u64,
    /// Duplicate packets dropped.
    pub duplicates: u64,
    /// Datagrams on the RTP port that are not RTP, dropped.
    pub malformed: u64,
    /// RTP packets with a payload type not negotiated, dropped.
    pub unknown_payload: u64,
    /// RTP from a source other than the latched one, dropped.
    pub foreign_source: u64,
    /// Times latching moved the send address.
    pub latch_changes: u32,
    /// Frames handed to the application (or to a joined call).
    pub frames_delivered: u64,
    /// Frames dropped because the application did not read them.
    pub frames_overflowed: u64,
    /// Events dropped because the application did not read them.
    pub events_dropped: u64,
    /// Telephone-event payloads that could not be parsed.
    pub dtmf_malformed: u64,
    /// RTCP compound packets received.
    pub rtcp_received: u64,
    /// RTCP compound packets sent.
    pub rtcp_sent: u64,
    /// Datagrams on the RTCP port that are not valid RTCP.
    pub rtcp_malformed: u64,
    /// Socket errors other than "would block".
    pub socket_errors: u64,
    /// Key presses sent by [`MediaSession::send_dtmf`](super::MediaSession::send_dtmf)
    /// (RFC 4733 or in-band).
    pub dtmf_sent: u64,
    /// Key presses dropped because too many were queued.
    pub dtmf_send_dropped: u64,
    /// Key presses cancelled by
    /// [`MediaSession::clear_playback`](super::MediaSession::clear_playback)
    /// before they started.
    pub dtmf_send_cancelled: u64,
    /// Times the call's worker fell more than 200 ms behind its 20 ms
    /// schedule (a stalled or overloaded machine) and skipped ticks;
    /// worker-wide, shared by the calls of the worker.
    pub worker_overruns: u64,
    /// 20 ms ticks the call's worker skipped in those overruns (each one
    /// a frame neither played out nor sent on time); worker-wide.
    pub worker_ticks_skipped: u64,
    /// Frames the running recording dropped because its writer fell
    /// behind (a slow disk); zero when not recording.
    pub recording_dropped: u64,
    /// Packet time of the audio received: the negotiated ptime until the
    /// far end is seen sending packets of another size, which the receive
    /// side then follows (the send side keeps the negotiated one).
    pub rx_ptime: Duration,
    /// Times the receive side changed to another packet size because the
    /// far end's packets did.
    pub rx_ptime_changes: u32,
}
