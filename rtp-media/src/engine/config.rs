//! Settings of the media engine.

use crate::jitter::{ConcealerConfig, JitterConfig};
use crate::vad::VadConfig;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;
use std::time::Duration;

/// Settings of a [`MediaEngine`](super::MediaEngine).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Local address the RTP/RTCP sockets bind to. The unspecified address
    /// (the default) takes packets on every interface.
    pub bind_ip: IpAddr,
    /// The address written into SDP for our media (`c=`), when it is not
    /// the one bound: the public address of a host behind NAT, or the one
    /// interface of a host bound to all of them. When `None`, SDP gets
    /// `bind_ip` if it is a specific address, else the local address the
    /// kernel routes to the remote (see
    /// [`MediaSession::advertised_rtp_addr`](super::MediaSession::advertised_rtp_addr)).
    /// Must be a specific address.
    pub advertised_ip: Option<IpAddr>,
    /// Ports for RTP (even) and RTCP (odd, RTP + 1).
    pub port_range: RangeInclusive<u16>,
    /// Worker threads; each owns many calls.
    pub workers: usize,
    /// Jitter buffer settings for every call (its ptime is the size of the
    /// packets each call receives).
    /// The default keeps at least 40 ms: a worker reads each socket once
    /// per tick, so a packet landing just after its read waits a whole
    /// frame, and a 20 ms floor would trim and conceal around that phase.
    pub jitter: JitterConfig,
    /// Loss concealment settings.
    pub concealer: ConcealerConfig,
    /// Consecutive valid packets from one source before RTP is sent there
    /// (symmetric RTP latching).
    pub latch_packets: u32,
    /// How long the latched source must be silent before another source
    /// can take the latch over (NAT rebinding mid-call).
    pub relatch_idle: Duration,
    /// Raise [`MediaEvent::Timeout`](super::MediaEvent::Timeout) after this long without RTP while
    /// receiving; `None` disables it.
    pub rtp_timeout: Option<Duration>,
    /// Mean interval between RTCP reports (randomized ±50%, RFC 3550 §6.2).
    pub rtcp_interval: Duration,
    /// Interval of [`MediaEvent::Stats`](super::MediaEvent::Stats).
    pub stats_interval: Duration,
    /// Decoded frames buffered towards the application before new ones are
    /// dropped (and counted) because it is not reading.
    pub frame_queue: usize,
    /// Events buffered towards the application.
    pub event_queue: usize,
    /// CNAME sent in RTCP SDES.
    pub cname: String,
    /// Voice activity detection on every received frame, reported as
    /// [`MediaEvent::SpeechStarted`](super::MediaEvent::SpeechStarted)/[`MediaEvent::SpeechStopped`](super::MediaEvent::SpeechStopped); `None`
    /// turns it off.
    pub vad: Option<VadConfig>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            advertised_ip: None,
            port_range: 16384..=32768,
            workers: 2,
            jitter: JitterConfig {
                min_delay: Duration::from_millis(40),
                ..JitterConfig::default()
            },
            concealer: ConcealerConfig::default(),
            latch_packets: 2,
            relatch_idle: Duration::from_millis(500),
            rtp_timeout: Some(Duration::from_secs(30)),
            rtcp_interval: Duration::from_secs(5),
            stats_interval: Duration::from_secs(5),
            frame_queue: 50,
            event_queue: 64,
            cname: "ai-line".to_owned(),
            vad: Some(VadConfig::default()),
        }
    }
}
