//! The media join: what SIP negotiated and reports, carried into the
//! call's media session.
//!
//! [`session_params`] is the one place where what SDP negotiated becomes
//! the media session's parameters. The signalling side of an answered
//! call runs beside the media bridge ([`crate::media::MediaBridge`]) for
//! the life of the call: re-INVITEs (hold, a new remote address, a codec
//! change) and keys sent as SIP INFO go to the bridge as
//! [`LineSignal`]s, the far end's BYE ends the bridge's run, and our BYE
//! is sent when the switch ends the call.

use std::time::Duration;

use rtp_media::engine::{Direction as MediaDirection, SessionParams};
use rtp_media::g711::Codec as MediaCodec;
use sip_core::call::{Call, CallEvent, HangupCause as SipHangupCause};
use sip_core::resolve::CallTarget;
use sip_core::sdp::{Codec, Direction, NegotiatedMedia};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info};

use crate::media::LineSignal;

/// The media session's parameters for what SDP negotiated, field for
/// field. Keys are also listened for in the audio when the far end did
/// not agree on RFC 4733 `telephone-event` (an analog gateway that passes
/// the tones through).
pub fn session_params(media: &NegotiatedMedia) -> SessionParams {
    SessionParams {
        codec: match media.codec {
            Codec::Pcmu => MediaCodec::Pcmu,
            Codec::Pcma => MediaCodec::Pcma,
        },
        payload_type: media.payload_type,
        telephone_event_pt: media.telephone_event_pt,
        remote_rtp: media.remote_rtp,
        remote_rtcp: media.remote_rtcp,
        ptime: media.ptime,
        direction: match media.direction {
            Direction::SendRecv => MediaDirection::SendRecv,
            Direction::SendOnly => MediaDirection::SendOnly,
            Direction::RecvOnly => MediaDirection::RecvOnly,
            Direction::Inactive => MediaDirection::Inactive,
        },
        inband_dtmf: media.telephone_event_pt.is_none(),
    }
}

/// How the signalling side of a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEnding {
    /// The far end hung up (BYE).
    Remote,
    /// We hung up (BYE sent).
    Local,
    /// The far end took a blind transfer (REFER) and the target answered;
    /// we left the call.
    Transferred,
    /// The call failed (no ACK, in-dialog requests unanswered); the text
    /// says what.
    Failed(String),
}

fn ending_of(cause: SipHangupCause) -> CallEnding {
    match cause {
        SipHangupCause::RemoteBye | SipHangupCause::Cancelled => CallEnding::Remote,
        SipHangupCause::LocalHangup => CallEnding::Local,
        SipHangupCause::NoAck => CallEnding::Failed("no ACK for our 200 OK".into()),
        SipHangupCause::Failed(why) | SipHangupCause::UnusableAnswer(why) => {
            CallEnding::Failed(why)
        }
    }
}

/// How long the far end may take to report a transfer's outcome (the
/// target ringing included) before the transfer counts as failed.
pub(crate) const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);

/// What the switch asks of a call's signalling side.
#[derive(Debug)]
pub(crate) enum SipCommand {
    /// Send BYE (if the call is still up) and end.
    HangUp,
    /// Blind transfer (RFC 3515 REFER, RFC 5589): the reply says whether
    /// the target answered; on success the call is left with BYE.
    Transfer(CallTarget, oneshot::Sender<Result<(), String>>),
}

/// A transfer waiting for the far end's NOTIFY with the target's final
/// response.
struct PendingTransfer {
    reply: oneshot::Sender<Result<(), String>>,
    deadline: tokio::time::Instant,
}

/// The SIP side of an answered call, for as long as it is up: keys sent
/// as SIP INFO and re-INVITEs (as the media session's parameters) go to
/// the media bridge on `signals`; `gone` turns true when the call is over
/// (BYE either way, a failure); `commands` hang up (also when dropped) or
/// transfer the call.
pub(crate) async fn signalling(
    mut call: Call,
    signals: mpsc::UnboundedSender<LineSignal>,
    gone: watch::Sender<bool>,
    mut commands: mpsc::UnboundedReceiver<SipCommand>,
) -> CallEnding {
    let mut transfer: Option<PendingTransfer> = None;
    let ending = loop {
        let deadline = transfer.as_ref().map(|t| t.deadline);
        tokio::select! {
            event = call.next_event() => match event {
                None => break CallEnding::Failed("the call's signalling stopped".into()),
                Some(CallEvent::Hangup(cause)) => {
                    if let Some(t) = transfer.take() {
                        let _ = t.reply.send(Err("the call ended before the transfer's outcome".into()));
                    }
                    break ending_of(cause);
                }
                Some(CallEvent::Dtmf { digit, duration }) => {
                    let _ = signals.send(LineSignal::Dtmf { digit, duration });
                }
                Some(CallEvent::SessionModified { media: Some(media), .. }) => {
                    info!(?media, "media follows the re-INVITE");
                    let _ = signals.send(LineSignal::Media(session_params(&media)));
                }
                Some(CallEvent::TransferProgress { code, last }) => {
                    info!(code, last, "transfer progress");
                    if code >= 200 || last {
                        if let Some(t) = transfer.take() {
                            let ok = (200..300).contains(&code);
                            let _ = t.reply.send(if ok {
                                Ok(())
                            } else {
                                Err(format!("the transfer target answered {code}"))
                            });
                            if ok {
                                // RFC 5589 6.1: the transferor leaves.
                                let _ = call.hangup().await;
                                break CallEnding::Transferred;
                            }
                        }
                    }
                }
                Some(other) => debug!(event = ?other, "call event"),
            },
            () = sleep_until(deadline) => {
                if let Some(t) = transfer.take() {
                    let _ = t.reply.send(Err("no outcome of the transfer from the far end".into()));
                }
            }
            command = commands.recv() => match command {
                None | Some(SipCommand::HangUp) => {
                    let _ = call.hangup().await;
                    break CallEnding::Local;
                }
                Some(SipCommand::Transfer(target, reply)) => match call.transfer(&target).await {
                    Ok(()) => {
                        info!(%target, "transfer accepted by the far end");
                        transfer = Some(PendingTransfer {
                            reply,
                            deadline: tokio::time::Instant::now() + TRANSFER_TIMEOUT,
                        });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(format!("REFER to {target}: {e}")));
                    }
                },
            },
        }
    };
    info!(?ending, "signalling ended");
    gone.send_replace(true);
    ending
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiated_media_becomes_session_params_field_by_field() {
        let media = NegotiatedMedia {
            codec: Codec::Pcma,
            payload_type: 8,
            telephone_event_pt: Some(96),
            remote_rtp: Some("192.0.2.7:40000".parse().unwrap()),
            remote_rtcp: Some("192.0.2.7:40005".parse().unwrap()),
            direction: Direction::RecvOnly,
            ptime: Duration::from_millis(30),
        };
        let p = session_params(&media);
        assert_eq!(p.codec, MediaCodec::Pcma);
        assert_eq!(p.payload_type, 8);
        assert_eq!(p.telephone_event_pt, Some(96));
        assert_eq!(p.remote_rtp, media.remote_rtp);
        assert_eq!(p.remote_rtcp, media.remote_rtcp);
        assert_eq!(p.ptime, Duration::from_millis(30));
        assert_eq!(p.direction, MediaDirection::RecvOnly);
        assert!(!p.inband_dtmf, "RFC 4733 negotiated: no tone detection");

        let plain = NegotiatedMedia {
            codec: Codec::Pcmu,
            payload_type: 0,
            telephone_event_pt: None,
            remote_rtp: None,
            remote_rtcp: None,
            direction: Direction::SendRecv,
            ptime: Duration::from_millis(20),
        };
        let p = session_params(&plain);
        assert_eq!(p.codec, MediaCodec::Pcmu);
        assert_eq!(p.payload_type, 0);
        assert_eq!(p.telephone_event_pt, None);
        assert_eq!(p.remote_rtp, None);
        assert_eq!(p.remote_rtcp, None);
        assert_eq!(p.ptime, Duration::from_millis(20));
        assert_eq!(p.direction, MediaDirection::SendRecv);
        assert!(p.inband_dtmf, "no telephone-event: keys are heard as tones");
        for (sdp, media) in [
            (Direction::SendOnly, MediaDirection::SendOnly),
            (Direction::Inactive, MediaDirection::Inactive),
        ] {
            let n = NegotiatedMedia {
                direction: sdp,
                ..plain.clone()
            };
            assert_eq!(session_params(&n).direction, media);
        }
    }
}
