//! SDP offer/answer for a phone line (RFC 3264, RFC 4566).
//!
//! The `sdp` crate parses and serialises the session description; this module
//! decides what a phone line says in it. A line speaks G.711 only — PCMU
//! first, then PCMA — plus RFC 4733 `telephone-event` for DTMF, so the
//! negotiation is small and strict about what matters (a common codec, where
//! to send RTP, which way media flows, the packet time) and lenient about
//! what real offers get wrong (line order, missing `s=`/`t=`, stray spaces,
//! bare LF line ends). Whatever the crate cannot take is repaired in
//! [`normalize`] before it is handed over, and a test shows the offer that
//! needed it.
//!
//! [`SdpSession`] holds one side's state for the life of a call: the origin
//! line whose version goes up with every new description (RFC 3264 §8), the
//! local media address, and the last negotiated result.
//!
//! ```
//! use std::time::Duration;
//! use sip_core::sdp::{LocalMedia, SdpSession, Codec, Direction};
//!
//! let offer = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\n\
//!              t=0 0\r\nm=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n\
//!              a=ptime:20\r\n";
//! let local = LocalMedia::new("203.0.113.5".parse().unwrap(), 16384).unwrap();
//! let mut session = SdpSession::new(local);
//! let (answer, media) = session.answer(offer).unwrap();
//! assert_eq!(media.codec, Codec::Pcmu); // our preference wins when both are offered
//! assert_eq!(media.remote_rtp.unwrap().to_string(), "198.51.100.7:40000");
//! assert_eq!(media.telephone_event_pt, Some(101));
//! assert_eq!(media.ptime, Duration::from_millis(20));
//! assert_eq!(media.direction, Direction::SendRecv);
//! assert!(answer.contains("m=audio 16384 RTP/AVP 0 101\r\n"));
//! ```

use std::fmt;
use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use sdp::description::common::{Address, Attribute, ConnectionInformation};
use sdp::description::media::{MediaDescription, MediaName, RangedPort};
use sdp::description::session::{Origin, SessionDescription, TimeDescription, Timing};

use crate::util;

/// Largest SDP body we negotiate; a phone line's SDP is a few hundred bytes.
pub const MAX_SDP_LEN: usize = 16 * 1024;

/// An audio codec a phone line speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// The static payload type of RFC 3551 (what we offer it under).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The encoding name used in `a=rtpmap`.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// RTP clock rate in Hz.
    pub fn clock_rate(self) -> u32 {
        8000
    }

    fn from_name(name: &str) -> Option<Codec> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }
}

/// Which way media flows, from the point of view of the side that wrote the
/// attribute (RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Both ways (the default when no attribute is present).
    #[default]
    SendRecv,
    /// The writer only sends: the other side is on hold from the writer's view.
    SendOnly,
    /// The writer only receives.
    RecvOnly,
    /// No media either way.
    Inactive,
}

impl Direction {
    /// The attribute name (`sendrecv`, `sendonly`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Whether the writer sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the writer receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// The direction an answerer whose own wish is `local` answers to an
    /// offer of `self` (RFC 3264 §6.1): we send only if they receive, and
    /// receive only if they send.
    pub fn answer_with(self, local: Direction) -> Direction {
        Direction::from_flags(
            self.receives() && local.sends(),
            self.sends() && local.receives(),
        )
    }

    fn from_attribute(key: &str) -> Option<Direction> {
        match key {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an SDP could not be negotiated. [`SdpError::status`] gives the SIP
/// response for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The body is not a session description we can read.
    #[error("malformed SDP: {0}")]
    Malformed(String),
    /// The body is larger than [`MAX_SDP_LEN`].
    #[error("SDP body of {0} bytes is too large")]
    TooLarge(usize),
    /// No `m=audio` line over plain RTP.
    #[error("no audio stream over RTP/AVP in the SDP")]
    NoAudio,
    /// An audio stream, but no codec we speak.
    #[error("no common codec (offered: {0})")]
    NoCommonCodec(String),
    /// The answer does not match our offer (RFC 3264 §6).
    #[error("answer does not match the offer: {0}")]
    AnswerMismatch(&'static str),
    /// Our own media address is unspecified (`0.0.0.0` or `::`, a socket
    /// bound to every interface). Written into `c=` it would mean hold
    /// (RFC 3264 §8.4, RFC 2543), so it is refused: give the address the
    /// far end can reach, e.g. the external RTP address behind NAT.
    #[error("{0} is not an address the far end can send media to; give the interface's or the external address")]
    UnspecifiedAddress(IpAddr),
}

impl SdpError {
    /// The SIP status to answer an offer that fails this way: 488 Not
    /// Acceptable Here for anything we cannot negotiate, 400 for a body we
    /// cannot read.
    pub fn status(&self) -> u16 {
        match self {
            SdpError::Malformed(_) | SdpError::TooLarge(_) => 400,
            // Our configuration, not the offer, is at fault.
            SdpError::UnspecifiedAddress(_) => 500,
            _ => 488,
        }
    }
}

/// What we offer or accept on our side of a call: where we receive RTP and
/// what we speak. The address is what goes into `c=`, so behind NAT it is
/// the external RTP address (FreeSWITCH's `external_rtp_ip`), not the
/// socket's; it is never unspecified (see [`LocalMedia::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// The address written into `o=` and `c=`; private so that only
    /// [`LocalMedia::new`] and [`LocalMedia::set_address`], which refuse an
    /// unspecified address, can set it.
    address: IpAddr,
    /// Our RTP port (RTCP is on `port + 1`).
    pub port: u16,
    /// Codecs in order of preference.
    pub codecs: Vec<Codec>,
    /// Payload type of RFC 4733 `telephone-event` in our offers; `None`
    /// when we take no DTMF events in the media (neither offered nor
    /// accepted).
    pub telephone_event_pt: Option<u8>,
    /// Packet time (`a=ptime`) for our offers, and for our answer when the
    /// offer has none. SDP carries whole milliseconds, so it is written
    /// rounded to the nearest millisecond (at least 1).
    pub ptime: Duration,
    /// The direction we want (hold is `SendOnly`).
    pub direction: Direction,
}

impl LocalMedia {
    /// Media at `address`:`port`: PCMU then PCMA, `telephone-event` on
    /// payload type 101, 20 ms, sendrecv. Fails with
    /// [`SdpError::UnspecifiedAddress`] for `0.0.0.0` or `::`: in `c=` that
    /// address puts the call on hold, so an engine bound to every interface
    /// must say which address the far end reaches it at.
    pub fn new(address: IpAddr, port: u16) -> Result<LocalMedia, SdpError> {
        Ok(LocalMedia {
            address: media_address(address)?,
            port,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event_pt: Some(101),
            ptime: Duration::from_millis(20),
            direction: Direction::SendRecv,
        })
    }

    /// The address written into `o=` and `c=`.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// Changes the address the next offer or answer carries (a new
    /// external address, a move to another interface). Refuses an
    /// unspecified address, as [`LocalMedia::new`] does, and then leaves
    /// the address as it was.
    pub fn set_address(&mut self, address: IpAddr) -> Result<(), SdpError> {
        self.address = media_address(address)?;
        Ok(())
    }
}

/// `address` if the far end can send media to it.
fn media_address(address: IpAddr) -> Result<IpAddr, SdpError> {
    if address.is_unspecified() {
        return Err(SdpError::UnspecifiedAddress(address));
    }
    Ok(address)
}

/// Packet times we take from the far end's `a=ptime` (milliseconds in
/// the text): 10 to 60 ms in steps of 10, what a G.711 line's 10 ms frames
/// make. Anything else (0, 5, 25, 1000) is not honoured and our own
/// packet time is used instead.
fn usable_ptime(ms: u32) -> Option<Duration> {
    ((10..=60).contains(&ms) && ms % 10 == 0).then(|| Duration::from_millis(u64::from(ms)))
}

/// A packet time as SDP writes it: whole milliseconds, rounded to the
/// nearest, at least 1.
fn ptime_millis(ptime: Duration) -> u128 {
    ((ptime.as_micros() + 500) / 1000).max(1)
}

/// The outcome of offer/answer: what the media engine needs to run the
/// call. The fields are named as the media session's parameters are, so
/// that one converts into the other field for field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedMedia {
    /// The codec both sides will send.
    pub codec: Codec,
    /// Its payload type on the wire (the offerer's numbering).
    pub payload_type: u8,
    /// Payload type of RFC 4733 `telephone-event`, when both sides take it.
    pub telephone_event_pt: Option<u8>,
    /// Where to send RTP; `None` when the far end gave no usable address
    /// (port 0, or `c=0.0.0.0` old-style hold).
    pub remote_rtp: Option<SocketAddr>,
    /// Where to send RTCP (`a=rtcp` or RTP port + 1).
    pub remote_rtcp: Option<SocketAddr>,
    /// Packet time: the far end's `a=ptime` when it is one we take (10 to
    /// 60 ms in steps of 10), else ours.
    pub ptime: Duration,
    /// Our direction: whether we send and receive.
    pub direction: Direction,
}

/// One side's SDP state for a call. See the module documentation.
#[derive(Debug, Clone)]
pub struct SdpSession {
    local: LocalMedia,
    session_id: u64,
    version: u64,
    last: Option<NegotiatedMedia>,
}

impl SdpSession {
    /// A new session for `local`, with a random session id.
    pub fn new(local: LocalMedia) -> SdpSession {
        let session_id = util::random_u64() >> 1;
        SdpSession {
            local,
            session_id,
            version: session_id,
            last: None,
        }
    }

    /// Our media as we describe it.
    pub fn local(&self) -> &LocalMedia {
        &self.local
    }

    /// Changes our media (hold is `direction = SendOnly`); the next offer or
    /// answer carries it.
    pub fn local_mut(&mut self) -> &mut LocalMedia {
        &mut self.local
    }

    /// The last negotiation's result.
    pub fn negotiated(&self) -> Option<&NegotiatedMedia> {
        self.last.as_ref()
    }

    /// Answers `offer` (RFC 3264 §6): the first audio stream over RTP/AVP
    /// takes our most preferred codec among those offered, the offered
    /// `ptime`, `telephone-event` if offered, and the direction that mirrors
    /// the offer's; every other stream is refused with port 0.
    pub fn answer(&mut self, offer: &str) -> Result<(String, NegotiatedMedia), SdpError> {
        let offer = parse(offer)?;
        let mut chosen: Option<(usize, NegotiatedMedia)> = None;
        for (i, md) in offer.media_descriptions.iter().enumerate() {
            if chosen.is_some() || !is_plain_audio(md) || md.media_name.port.value == 0 {
                continue;
            }
            let offered = StreamView::read(&offer, md);
            let Some((codec, pt)) = offered.pick_codec(&self.local.codecs) else {
                continue;
            };
            let te = self
                .local
                .telephone_event_pt
                .and(offered.telephone_event_pt);
            let ptime = offered
                .ptime
                .and_then(usable_ptime)
                .unwrap_or(self.local.ptime);
            chosen = Some((
                i,
                NegotiatedMedia {
                    codec,
                    payload_type: pt,
                    telephone_event_pt: te,
                    remote_rtp: offered.rtp,
                    remote_rtcp: offered.rtcp,
                    ptime,
                    direction: offered.direction.answer_with(self.local.direction),
                },
            ));
        }
        let Some((index, media)) = chosen else {
            let audio: Vec<&MediaDescription> = offer
                .media_descriptions
                .iter()
                .filter(|m| is_plain_audio(m))
                .collect();
            if audio.is_empty() {
                return Err(SdpError::NoAudio);
            }
            let formats: Vec<String> = audio
                .iter()
                .flat_map(|m| m.media_name.formats.iter().cloned())
                .collect();
            return Err(SdpError::NoCommonCodec(formats.join(" ")));
        };

        self.version += 1;
        let mut answer = self.skeleton();
        for (i, md) in offer.media_descriptions.iter().enumerate() {
            if i == index {
                answer.media_descriptions.push(self.audio_description(
                    &[(media.codec, media.payload_type)],
                    media.telephone_event_pt,
                    media.ptime,
                    media.direction,
                ));
            } else {
                answer.media_descriptions.push(refused(md));
            }
        }
        self.last = Some(media.clone());
        Ok((answer.marshal(), media))
    }

    /// Makes an offer for an outbound call or a re-INVITE: our codecs in
    /// preference order with their static payload types, `telephone-event`,
    /// `ptime` and our direction.
    pub fn offer(&mut self) -> String {
        self.version += 1;
        let codecs: Vec<(Codec, u8)> = self
            .local
            .codecs
            .iter()
            .map(|c| (*c, c.payload_type()))
            .collect();
        let md = self.audio_description(
            &codecs,
            self.local.telephone_event_pt,
            self.local.ptime,
            self.local.direction,
        );
        let mut sd = self.skeleton();
        sd.media_descriptions.push(md);
        sd.marshal()
    }

    /// Reads the answer to our last [`offer`](Self::offer) (RFC 3264 §7): the
    /// first codec of the answer that we offered is the one in use.
    pub fn accept_answer(&mut self, answer: &str) -> Result<NegotiatedMedia, SdpError> {
        let sd = parse(answer)?;
        let md = sd
            .media_descriptions
            .iter()
            .find(|m| is_plain_audio(m))
            .ok_or(SdpError::NoAudio)?;
        if md.media_name.port.value == 0 {
            return Err(SdpError::AnswerMismatch("the audio stream was refused"));
        }
        let view = StreamView::read(&sd, md);
        // The answerer lists what it will send; take the first we offered.
        let (codec, pt) = view
            .formats
            .iter()
            .find_map(|(pt, c)| {
                c.filter(|c| self.local.codecs.contains(c))
                    .map(|c| (c, *pt))
            })
            .ok_or_else(|| SdpError::NoCommonCodec(md.media_name.formats.join(" ")))?;
        let te = self.local.telephone_event_pt.and(view.telephone_event_pt);
        let media = NegotiatedMedia {
            codec,
            payload_type: pt,
            telephone_event_pt: te,
            remote_rtp: view.rtp,
            remote_rtcp: view.rtcp,
            ptime: view
                .ptime
                .and_then(usable_ptime)
                .unwrap_or(self.local.ptime),
            direction: view.direction.answer_with(self.local.direction),
        };
        self.last = Some(media.clone());
        Ok(media)
    }

    fn skeleton(&self) -> SessionDescription {
        let (addr_type, addr) = addr_parts(self.local.address);
        SessionDescription {
            version: 0,
            origin: Origin {
                username: "-".into(),
                session_id: self.session_id,
                session_version: self.version,
                network_type: "IN".into(),
                address_type: addr_type.into(),
                unicast_address: addr.clone(),
            },
            session_name: "-".into(),
            session_information: None,
            uri: None,
            email_address: None,
            phone_number: None,
            connection_information: Some(ConnectionInformation {
                network_type: "IN".into(),
                address_type: addr_type.into(),
                address: Some(Address {
                    address: addr,
                    ttl: None,
                    range: None,
                }),
            }),
            bandwidth: vec![],
            time_descriptions: vec![TimeDescription {
                timing: Timing {
                    start_time: 0,
                    stop_time: 0,
                },
                repeat_times: vec![],
            }],
            time_zones: vec![],
            encryption_key: None,
            attributes: vec![],
            media_descriptions: vec![],
        }
    }

    fn audio_description(
        &self,
        codecs: &[(Codec, u8)],
        te: Option<u8>,
        ptime: Duration,
        direction: Direction,
    ) -> MediaDescription {
        let mut formats: Vec<String> = codecs.iter().map(|(_, pt)| pt.to_string()).collect();
        let mut attributes = Vec::new();
        for (codec, pt) in codecs {
            attributes.push(attr(
                "rtpmap",
                Some(format!(
                    "{pt} {}/{}",
                    codec.encoding_name(),
                    codec.clock_rate()
                )),
            ));
        }
        if let Some(pt) = te {
            formats.push(pt.to_string());
            attributes.push(attr("rtpmap", Some(format!("{pt} telephone-event/8000"))));
            attributes.push(attr("fmtp", Some(format!("{pt} 0-16"))));
        }
        attributes.push(attr("ptime", Some(ptime_millis(ptime).to_string())));
        attributes.push(attr(direction.as_str(), None));
        MediaDescription {
            media_name: MediaName {
                media: "audio".into(),
                port: RangedPort {
                    value: self.local.port as isize,
                    range: None,
                },
                protos: vec!["RTP".into(), "AVP".into()],
                formats,
            },
            media_title: None,
            connection_information: None,
            bandwidth: vec![],
            encryption_key: None,
            attributes,
        }
    }
}

fn attr(key: &str, value: Option<String>) -> Attribute {
    Attribute {
        key: key.into(),
        value,
    }
}

fn addr_parts(ip: IpAddr) -> (&'static str, String) {
    match ip {
        IpAddr::V4(v4) => ("IP4", v4.to_string()),
        IpAddr::V6(v6) => ("IP6", v6.to_string()),
    }
}

/// A refused stream in an answer: same media and formats, port 0 (RFC 3264 §6).
fn refused(md: &MediaDescription) -> MediaDescription {
    MediaDescription {
        media_name: MediaName {
            media: md.media_name.media.clone(),
            port: RangedPort {
                value: 0,
                range: None,
            },
            protos: md.media_name.protos.clone(),
            formats: md.media_name.formats.clone(),
        },
        media_title: None,
        connection_information: None,
        bandwidth: vec![],
        encryption_key: None,
        attributes: vec![],
    }
}

fn is_plain_audio(md: &MediaDescription) -> bool {
    md.media_name.media.eq_ignore_ascii_case("audio")
        && md.media_name.protos.len() == 2
        && md.media_name.protos[0].eq_ignore_ascii_case("RTP")
        && (md.media_name.protos[1].eq_ignore_ascii_case("AVP")
            || md.media_name.protos[1].eq_ignore_ascii_case("AVPF"))
}

/// What one audio stream of a received SDP says, read once.
struct StreamView {
    /// Formats in the order listed, each with the codec it maps to.
    formats: Vec<(u8, Option<Codec>)>,
    telephone_event_pt: Option<u8>,
    rtp: Option<SocketAddr>,
    rtcp: Option<SocketAddr>,
    direction: Direction,
    /// `a=ptime` as written, in milliseconds.
    ptime: Option<u32>,
}

impl StreamView {
    fn read(sd: &SessionDescription, md: &MediaDescription) -> StreamView {
        let conn = md
            .connection_information
            .as_ref()
            .or(sd.connection_information.as_ref())
            .and_then(|c| c.address.as_ref())
            .and_then(|a| connection_ip(&a.address));
        let port = md.media_name.port.value;
        let rtp = match (conn, u16::try_from(port)) {
            (Some(ip), Ok(p)) if p != 0 && !ip.is_unspecified() => Some(SocketAddr::new(ip, p)),
            _ => None,
        };
        let attrs = || md.attributes.iter().chain(sd.attributes.iter());
        let media_attr = |key: &str| {
            md.attributes
                .iter()
                .find(|a| a.key.eq_ignore_ascii_case(key))
                .or_else(|| {
                    sd.attributes
                        .iter()
                        .find(|a| a.key.eq_ignore_ascii_case(key))
                })
                .and_then(|a| a.value.as_deref())
        };

        let mut formats = Vec::new();
        let mut telephone_event_pt = None;
        for f in &md.media_name.formats {
            let Ok(pt) = f.trim().parse::<u8>() else {
                continue;
            };
            if pt > 127 {
                continue;
            }
            let rtpmap = md.attributes.iter().find_map(|a| {
                if !a.key.eq_ignore_ascii_case("rtpmap") {
                    return None;
                }
                let v = a.value.as_deref()?.trim();
                let (num, enc) = v.split_once(char::is_whitespace)?;
                (num.trim().parse::<u8>().ok()? == pt).then_some(enc.trim())
            });
            let codec = match rtpmap {
                Some(enc) => {
                    let mut parts = enc.split('/');
                    let name = parts.next().unwrap_or("");
                    let rate = parts.next().and_then(|r| r.trim().parse::<u32>().ok());
                    if name.eq_ignore_ascii_case("telephone-event") && rate.unwrap_or(8000) == 8000
                    {
                        telephone_event_pt.get_or_insert(pt);
                        None
                    } else {
                        Codec::from_name(name).filter(|_| rate.unwrap_or(8000) == 8000)
                    }
                }
                // Static payload types need no rtpmap (RFC 3551).
                None => match pt {
                    0 => Some(Codec::Pcmu),
                    8 => Some(Codec::Pcma),
                    _ => None,
                },
            };
            formats.push((pt, codec));
        }

        let mut direction = attrs()
            .find_map(|a| Direction::from_attribute(&a.key.to_ascii_lowercase()))
            .unwrap_or_default();
        // RFC 2543 hold: c=0.0.0.0 means "do not send to me".
        if conn.is_some_and(|ip| ip.is_unspecified()) && direction.receives() {
            direction = Direction::from_flags(direction.sends(), false);
        }
        let rtcp = media_attr("rtcp")
            .and_then(|v| {
                let mut it = v.split_whitespace();
                let p: u16 = it.next()?.parse().ok()?;
                let ip = match (it.next(), it.next(), it.next()) {
                    (Some(_), Some(_), Some(a)) => connection_ip(a)?,
                    _ => rtp?.ip(),
                };
                Some(SocketAddr::new(ip, p))
            })
            .or_else(|| {
                rtp.and_then(|a| a.port().checked_add(1).map(|p| SocketAddr::new(a.ip(), p)))
            });
        let ptime = media_attr("ptime").and_then(|v| v.trim().parse::<u32>().ok());
        StreamView {
            formats,
            telephone_event_pt,
            rtp,
            rtcp,
            direction,
            ptime,
        }
    }

    /// Our most preferred codec among those offered, with the offer's
    /// payload type for it.
    fn pick_codec(&self, preference: &[Codec]) -> Option<(Codec, u8)> {
        preference.iter().find_map(|want| {
            self.formats
                .iter()
                .find(|(_, c)| *c == Some(*want))
                .map(|(pt, _)| (*want, *pt))
        })
    }
}

fn connection_ip(s: &str) -> Option<IpAddr> {
    // A multicast address may carry "/ttl"; a phone line never uses it but
    // the address part is still the address.
    let s = s.split('/').next()?.trim();
    s.parse().ok()
}

/// Parses an SDP body with the `sdp` crate after [`normalize`].
pub fn parse(body: &str) -> Result<SessionDescription, SdpError> {
    if body.len() > MAX_SDP_LEN {
        return Err(SdpError::TooLarge(body.len()));
    }
    let text = normalize(body)?;
    SessionDescription::unmarshal(&mut Cursor::new(text.as_bytes()))
        .map_err(|e| SdpError::Malformed(e.to_string()))
}

/// Rewrites an SDP into the strict shape the `sdp` crate reads, keeping its
/// meaning. Real peers send bodies the crate's RFC 4566 state machine
/// rejects: LF-only line ends, trailing spaces, blank lines, session lines in
/// another order (`c=` after `t=`, `a=` before `t=`), no `s=` or `t=` line
/// at all, and line types the crate does not know. This puts each line in
/// RFC 4566 order within its section, adds `s=-` and `t=0 0` when missing,
/// and drops lines of unknown type (RFC 4566 §5 says to ignore them).
pub fn normalize(body: &str) -> Result<String, SdpError> {
    const SESSION_ORDER: &[u8] = b"vosiuepcbtrzka";
    const MEDIA_ORDER: &[u8] = b"micbka";
    let mut session: Vec<(u8, &str)> = Vec::new();
    let mut media: Vec<Vec<(u8, &str)>> = Vec::new();
    for line in body.split('\n') {
        let line = line.trim_end_matches('\r').trim();
        if line.is_empty() {
            continue;
        }
        let b = line.as_bytes();
        if b.len() < 2 || b[1] != b'=' || !b[0].is_ascii_lowercase() {
            return Err(SdpError::Malformed(format!(
                "line is not <type>=<value>: {:.40}",
                line
            )));
        }
        let kind = b[0];
        let value = line[2..].trim();
        if kind == b'm' {
            media.push(vec![(kind, value)]);
        } else if let Some(m) = media.last_mut() {
            if MEDIA_ORDER.contains(&kind) {
                m.push((kind, value));
            }
        } else if SESSION_ORDER.contains(&kind) {
            session.push((kind, value));
        }
    }
    if !session.iter().any(|(k, _)| *k == b'v') {
        return Err(SdpError::Malformed("no v= line".into()));
    }
    if !session.iter().any(|(k, _)| *k == b'o') {
        return Err(SdpError::Malformed("no o= line".into()));
    }
    if !session.iter().any(|(k, _)| *k == b's') {
        session.push((b's', "-"));
    }
    if !session.iter().any(|(k, _)| *k == b't') {
        session.push((b't', "0 0"));
    }
    let rank = |order: &[u8], k: u8| order.iter().position(|o| *o == k).unwrap_or(order.len());
    // Stable sort keeps the order of lines of the same type (rtpmap order
    // matters to nobody, but `a=` order is preserved anyway).
    session.sort_by_key(|(k, _)| rank(SESSION_ORDER, *k));
    // Only one of each single-valued session line is allowed.
    let mut seen = [false; 26];
    let mut out = String::with_capacity(body.len() + 32);
    for (k, v) in &session {
        let single = b"vosiuepcz".contains(k);
        let slot = (*k - b'a') as usize;
        if single && seen[slot] {
            continue;
        }
        seen[slot] = true;
        push_line(
            &mut out,
            *k,
            if *k == b's' && v.is_empty() { "-" } else { v },
        );
    }
    for m in &mut media {
        let head = m.remove(0);
        m.sort_by_key(|(k, _)| rank(MEDIA_ORDER, *k));
        push_line(&mut out, head.0, head.1);
        let mut seen = [false; 26];
        for (k, v) in m.iter() {
            let single = b"ick".contains(k);
            let slot = (*k - b'a') as usize;
            if single && seen[slot] {
                continue;
            }
            seen[slot] = true;
            push_line(&mut out, *k, v);
        }
    }
    Ok(out)
}

fn push_line(out: &mut String, kind: u8, value: &str) {
    out.push(kind as char);
    out.push('=');
    out.push_str(value);
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> SdpSession {
        SdpSession::new(LocalMedia::new("203.0.113.5".parse().unwrap(), 16384).unwrap())
    }

    /// SIPp's built-in `uac` scenario offer.
    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    /// What baresip 1.x/2.x offers with its default codecs (opus, G.722, G.711).
    const BARESIP_OFFER: &str = "v=0\r\no=- 1846339402 2813491127 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=tool:baresip 1.0.0\r\nm=audio 10278 RTP/AVP 96 9 0 8 101\r\nb=AS:96\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 stereo=1;sprop-stereo=1\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\na=label:1\r\na=ssrc:3104565063 cname:c0b0d5b9-7a6e-4d18-a43e\r\na=rtcp-rsize\r\na=ptime:20\r\n";

    /// A carrier offer (Twilio/Bandwidth style): PCMA preferred, dynamic
    /// telephone-event, a=rtcp, maxptime, session-level direction.
    const CARRIER_OFFER: &str = "v=0\r\no=root 1785343717 1785343717 IN IP4 198.51.100.20\r\ns=Twilio Media Gateway\r\nc=IN IP4 198.51.100.21\r\nt=0 0\r\na=sendrecv\r\nm=audio 13762 RTP/AVP 8 0 126\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:126 telephone-event/8000\r\na=fmtp:126 0-16\r\na=rtcp:13763 IN IP4 198.51.100.21\r\na=maxptime:40\r\na=ptime:30\r\n";

    #[test]
    fn answers_sipp_with_pcmu_and_no_dtmf() {
        let mut s = session();
        let (answer, m) = s.answer(SIPP_OFFER).unwrap();
        assert_eq!(m.codec, Codec::Pcmu);
        assert_eq!(m.payload_type, 0);
        assert_eq!(m.telephone_event_pt, None);
        assert_eq!(m.remote_rtp, Some("127.0.0.1:6000".parse().unwrap()));
        assert_eq!(m.remote_rtcp, Some("127.0.0.1:6001".parse().unwrap()));
        assert_eq!(m.ptime, Duration::from_millis(20));
        assert!(answer.contains("m=audio 16384 RTP/AVP 0\r\n"), "{answer}");
        assert!(answer.contains("c=IN IP4 203.0.113.5\r\n"));
        assert!(answer.contains("a=sendrecv\r\n"));
        assert!(!answer.contains("telephone-event"));
        // The answer is itself valid SDP.
        parse(&answer).unwrap();
    }

    #[test]
    fn answers_baresip_with_pcmu_skipping_opus_and_g722() {
        let mut s = session();
        let (answer, m) = s.answer(BARESIP_OFFER).unwrap();
        assert_eq!((m.codec, m.payload_type), (Codec::Pcmu, 0));
        assert_eq!(m.telephone_event_pt, Some(101));
        assert_eq!(m.remote_rtp, Some("127.0.0.1:10278".parse().unwrap()));
        assert!(
            answer.contains("m=audio 16384 RTP/AVP 0 101\r\n"),
            "{answer}"
        );
        assert!(answer.contains("a=rtpmap:101 telephone-event/8000\r\n"));
    }

    #[test]
    fn answers_a_carrier_with_its_ptime_rtcp_port_and_dtmf_type() {
        let mut s = session();
        let (answer, m) = s.answer(CARRIER_OFFER).unwrap();
        // PCMU is our preference even though the carrier lists PCMA first.
        assert_eq!((m.codec, m.payload_type), (Codec::Pcmu, 0));
        assert_eq!(m.telephone_event_pt, Some(126));
        assert_eq!(m.ptime, Duration::from_millis(30));
        assert_eq!(m.remote_rtp, Some("198.51.100.21:13762".parse().unwrap()));
        assert_eq!(m.remote_rtcp, Some("198.51.100.21:13763".parse().unwrap()));
        assert!(answer.contains("a=ptime:30\r\n"));
        assert!(answer.contains("m=audio 16384 RTP/AVP 0 126\r\n"));
    }

    #[test]
    fn pcma_only_offer_gets_pcma_and_dynamic_numbering_is_honoured() {
        let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 8\r\n";
        let (_, m) = session().answer(offer).unwrap();
        assert_eq!((m.codec, m.payload_type), (Codec::Pcma, 8));
        let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 97\r\na=rtpmap:97 pcmu/8000\r\n";
        let (answer, m) = session().answer(offer).unwrap();
        assert_eq!((m.codec, m.payload_type), (Codec::Pcmu, 97));
        assert!(answer.contains("a=rtpmap:97 PCMU/8000"));
    }

    #[test]
    fn no_common_codec_is_488() {
        let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 9 18 96\r\na=rtpmap:96 opus/48000/2\r\n";
        let err = session().answer(offer).unwrap_err();
        assert_eq!(err, SdpError::NoCommonCodec("9 18 96".into()));
        assert_eq!(err.status(), 488);
        let video = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 31\r\n";
        assert_eq!(session().answer(video).unwrap_err(), SdpError::NoAudio);
        let srtp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 5000 RTP/SAVP 0\r\n";
        assert_eq!(session().answer(srtp).unwrap_err().status(), 488);
        assert_eq!(session().answer("hello").unwrap_err().status(), 400);
    }

    #[test]
    fn hold_directions_are_mirrored() {
        let base = "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
        for (offered, ours) in [
            ("sendonly", Direction::RecvOnly),
            ("recvonly", Direction::SendOnly),
            ("inactive", Direction::Inactive),
            ("sendrecv", Direction::SendRecv),
        ] {
            let (answer, m) = session().answer(&format!("{base}a={offered}\r\n")).unwrap();
            assert_eq!(m.direction, ours, "offer {offered}");
            assert!(answer.contains(&format!("a={ours}\r\n")), "{answer}");
        }
        // RFC 2543 hold: c=0.0.0.0.
        let old = base.replace("c=IN IP4 192.0.2.1", "c=IN IP4 0.0.0.0");
        let (_, m) = session().answer(&old).unwrap();
        assert_eq!(m.remote_rtp, None);
        assert_eq!(
            m.direction,
            Direction::SendOnly.answer_with(Direction::SendRecv)
        );
        // Our own hold wish combines with theirs.
        let mut s = session();
        s.local_mut().direction = Direction::SendOnly;
        let (_, m) = s.answer(base).unwrap();
        assert_eq!(m.direction, Direction::SendOnly);
    }

    #[test]
    fn other_streams_are_refused_with_port_zero_in_order() {
        let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=video 6000 RTP/AVP 31\r\nm=audio 5000 RTP/AVP 0\r\n";
        let (answer, m) = session().answer(offer).unwrap();
        assert_eq!(m.remote_rtp.unwrap().port(), 5000);
        let v = answer.find("m=video 0 RTP/AVP 31").expect(&answer);
        let a = answer.find("m=audio 16384").expect(&answer);
        assert!(v < a);
    }

    #[test]
    fn version_goes_up_with_each_description() {
        let mut s = session();
        let version = |sdp: &str| parse(sdp).unwrap().origin.session_version;
        let (a1, _) = s.answer(SIPP_OFFER).unwrap();
        let (a2, _) = s.answer(SIPP_OFFER).unwrap();
        let o3 = s.offer();
        assert_eq!(version(&a2), version(&a1) + 1);
        assert_eq!(version(&o3), version(&a2) + 1);
    }

    #[test]
    fn offer_and_answer_round_trip_between_two_sessions() {
        let mut caller =
            SdpSession::new(LocalMedia::new("192.0.2.10".parse().unwrap(), 20000).unwrap());
        let mut callee =
            SdpSession::new(LocalMedia::new("192.0.2.20".parse().unwrap(), 30000).unwrap());
        let offer = caller.offer();
        assert!(
            offer.contains("m=audio 20000 RTP/AVP 0 8 101\r\n"),
            "{offer}"
        );
        let (answer, theirs) = callee.answer(&offer).unwrap();
        let ours = caller.accept_answer(&answer).unwrap();
        assert_eq!(ours.codec, Codec::Pcmu);
        assert_eq!(ours.remote_rtp, Some("192.0.2.20:30000".parse().unwrap()));
        assert_eq!(theirs.remote_rtp, Some("192.0.2.10:20000".parse().unwrap()));
        assert_eq!(ours.telephone_event_pt, Some(101));
        // An answer that refuses audio fails.
        let refused = answer.replace("m=audio 30000", "m=audio 0");
        assert!(matches!(
            caller.accept_answer(&refused),
            Err(SdpError::AnswerMismatch(_))
        ));
    }

    #[test]
    fn ipv6_offers_are_answered() {
        let offer = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
        let mut s = SdpSession::new(LocalMedia::new("2001:db8::2".parse().unwrap(), 4000).unwrap());
        let (answer, m) = s.answer(offer).unwrap();
        assert_eq!(m.remote_rtp, Some("[2001:db8::1]:5000".parse().unwrap()));
        assert!(answer.contains("c=IN IP6 2001:db8::2\r\n"));
    }

    #[test]
    fn sloppy_offers_are_repaired_before_parsing() {
        // LF line ends, trailing spaces, c= after t=, a= before t=, no s=,
        // an unknown line type and a blank line: all seen from real gateways.
        let offer = "v=0\no=gw 1 1 IN IP4 192.0.2.1 \na=sendrecv\nt=0 0\nc=IN IP4 192.0.2.1\n\nx=whatever\nm=audio 5000 RTP/AVP 0 \na=ptime:20\nc=IN IP4 192.0.2.9\n";
        let (_, m) = session().answer(offer).unwrap();
        assert_eq!(m.remote_rtp, Some("192.0.2.9:5000".parse().unwrap()));
        // No t= at all, empty s=.
        let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=\r\nc=IN IP4 192.0.2.1\r\nm=audio 5000 RTP/AVP 8\r\n";
        let (_, m) = session().answer(offer).unwrap();
        assert_eq!(m.codec, Codec::Pcma);
    }

    #[test]
    fn garbage_never_panics() {
        for body in [
            "",
            "v=0",
            "v=0\r\no=\r\n",
            "v=0\r\no=- x y IN IP4 1.2.3.4\r\nm=audio\r\n",
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 99999999999999999999 RTP/AVP 0\r\n",
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio -5 RTP/AVP 0\r\n",
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 0\r\na=rtpmap:\r\na=rtcp:\r\n",
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 5000/2 RTP/AVP 300 0\r\na=ptime:abc\r\n",
            "\u{e9}=\u{e9}",
        ] {
            let _ = session().answer(body);
            let _ = session().accept_answer(body);
        }
    }

    #[test]
    fn unspecified_media_address_is_refused_and_never_written() {
        // An engine bound to every interface must not put 0.0.0.0 (or ::)
        // into c=: that says "hold" to the far end.
        for any in ["0.0.0.0", "::"] {
            let ip: IpAddr = any.parse().unwrap();
            let err = LocalMedia::new(ip, 16384).unwrap_err();
            assert_eq!(err, SdpError::UnspecifiedAddress(ip));
            assert_eq!(err.status(), 500);
        }
        let mut s = session();
        let err = s.local_mut().set_address("0.0.0.0".parse().unwrap());
        assert_eq!(
            err,
            Err(SdpError::UnspecifiedAddress("0.0.0.0".parse().unwrap()))
        );
        // The refused address left the old one in place.
        assert_eq!(
            s.local().address(),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        let (answer, _) = s.answer(SIPP_OFFER).unwrap();
        let offer = s.offer();
        for sdp in [&answer, &offer] {
            assert!(!sdp.contains("0.0.0.0"), "{sdp}");
            assert!(sdp.contains("c=IN IP4 203.0.113.5\r\n"), "{sdp}");
            assert!(sdp.contains(" IN IP4 203.0.113.5\r\n"), "{sdp}");
        }
        // A real address may replace it.
        s.local_mut()
            .set_address("198.51.100.9".parse().unwrap())
            .unwrap();
        assert!(s.offer().contains("c=IN IP4 198.51.100.9\r\n"));
    }

    #[test]
    fn ptime_is_a_duration_written_and_read_as_whole_milliseconds() {
        let mut s = session();
        assert!(s.offer().contains("a=ptime:20\r\n"));
        s.local_mut().ptime = Duration::from_micros(29_600);
        assert!(
            s.offer().contains("a=ptime:30\r\n"),
            "rounded to the nearest ms"
        );
        s.local_mut().ptime = Duration::ZERO;
        assert!(s.offer().contains("a=ptime:1\r\n"), "never a=ptime:0");
        // An offered packet time we cannot use falls back to ours.
        let base = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
        for (ptime, expect) in [("40", 40), ("0", 20), ("25", 20), ("100000", 20)] {
            let (answer, m) = session()
                .answer(&format!("{base}a=ptime:{ptime}\r\n"))
                .unwrap();
            assert_eq!(m.ptime, Duration::from_millis(expect), "a=ptime:{ptime}");
            assert!(
                answer.contains(&format!("a=ptime:{expect}\r\n")),
                "{answer}"
            );
        }
        // The same for an answer to our offer.
        let mut caller = session();
        caller.offer();
        let m = caller
            .accept_answer(&format!("{base}a=ptime:0\r\n"))
            .unwrap();
        assert_eq!(m.ptime, Duration::from_millis(20));
        let m = caller
            .accept_answer(&format!("{base}a=ptime:30\r\n"))
            .unwrap();
        assert_eq!(m.ptime, Duration::from_millis(30));
    }

    #[test]
    fn without_a_telephone_event_type_dtmf_is_neither_offered_nor_accepted() {
        let mut s = session();
        s.local_mut().telephone_event_pt = None;
        let offer = s.offer();
        assert!(!offer.contains("telephone-event"), "{offer}");
        assert!(offer.contains("m=audio 16384 RTP/AVP 0 8\r\n"), "{offer}");
        let (answer, m) = s.answer(BARESIP_OFFER).unwrap();
        assert_eq!(m.telephone_event_pt, None);
        assert!(!answer.contains("telephone-event"), "{answer}");
        // Our own offer's payload type is the one we set.
        let mut s = session();
        s.local_mut().telephone_event_pt = Some(96);
        assert!(s.offer().contains("a=rtpmap:96 telephone-event/8000\r\n"));
    }

    #[test]
    fn static_payload_types_match_rfc_3551() {
        assert_eq!(Codec::Pcmu.payload_type(), 0);
        assert_eq!(Codec::Pcma.payload_type(), 8);
    }
}
