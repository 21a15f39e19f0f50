//! A safe DAHDI channel: open a channel by number, carry 20 ms frames of
//! µ-law or linear audio, wait for line events, set the hook state and
//! enable the channel's echo canceller.
//!
//! The [`AnalogChannel`] trait is what a line driver talks to, so a
//! simulated channel ([`sim::SimulatedChannel`]) can stand in for
//! [`Channel`] where there is no card.
//!
//! The kernel queues line events (ring, hook, wink, alarms, polarity) per
//! channel; while one waits, a read or write fails with [`ELAST`]. The
//! channel collects such an event into its own queue and retries, so audio
//! keeps flowing and [`AnalogChannel::next_event`] hands the event out in
//! order.
//!
//! ```no_run
//! use dahdi_sys::channel::{AnalogChannel, Channel, ChannelEvent, Hook, SampleFormat};
//!
//! # fn main() -> Result<(), dahdi_sys::channel::ChannelError> {
//! let mut line = Channel::open(1, SampleFormat::Linear)?;
//! while let Some(event) = line.next_event(None)? {
//!     if event == ChannelEvent::RingOffHook {
//!         line.set_hook(Hook::OffHook)?; // answer
//!         let frame = line.read_frame()?; // 20 ms of the caller
//!         line.write_frame(&frame)?; // echo it back
//!         break;
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libc::{c_char, c_int, Ioctl};

use crate::user::*;

pub mod sim;

/// The generic channel device: opened, then bound to a channel number with
/// [`DAHDI_SPECIFY`].
pub const CHANNEL_DEVICE: &str = "/dev/dahdi/channel";

/// Samples in one frame: 20 ms at the line's 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// The time one frame covers.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);

/// How the channel carries its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleFormat {
    /// G.711 µ-law, one byte a sample (the channel's law set to µ-law).
    Mulaw,
    /// Signed 16-bit linear samples in the host's byte order (the kernel
    /// converts from the line's law).
    Linear,
}

impl SampleFormat {
    /// Bytes one 20 ms frame takes on the device.
    pub const fn frame_bytes(self) -> usize {
        match self {
            SampleFormat::Mulaw => FRAME_SAMPLES,
            SampleFormat::Linear => FRAME_SAMPLES * 2,
        }
    }
}

/// One 20 ms frame of audio as the channel carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// 160 µ-law bytes.
    Mulaw([u8; FRAME_SAMPLES]),
    /// 160 signed 16-bit linear samples.
    Linear([i16; FRAME_SAMPLES]),
}

impl Frame {
    /// A frame of silence in `format` (µ-law silence is 0xFF).
    pub const fn silence(format: SampleFormat) -> Frame {
        match format {
            SampleFormat::Mulaw => Frame::Mulaw([0xFF; FRAME_SAMPLES]),
            SampleFormat::Linear => Frame::Linear([0; FRAME_SAMPLES]),
        }
    }

    /// The format the frame is in.
    pub const fn format(&self) -> SampleFormat {
        match self {
            Frame::Mulaw(_) => SampleFormat::Mulaw,
            Frame::Linear(_) => SampleFormat::Linear,
        }
    }
}

/// A hook state to set with [`AnalogChannel::set_hook`]; the values of
/// [`DAHDI_HOOK`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    /// Hang up (on an FXO port) or stop feeding the phone (FXS).
    OnHook,
    /// Seize the line / answer a ringing line.
    OffHook,
    /// Go off hook momentarily.
    Wink,
    /// Go on hook momentarily (hook flash, e.g. for call waiting).
    Flash,
    /// Start the line (ground start, or ring on an FXS port).
    Start,
    /// Ring the phone on an FXS port (the same as start).
    Ring,
    /// Stop ringing.
    RingOff,
}

impl Hook {
    /// The value [`DAHDI_HOOK`] takes.
    pub const fn to_raw(self) -> c_int {
        match self {
            Hook::OnHook => DAHDI_ONHOOK,
            Hook::OffHook => DAHDI_OFFHOOK,
            Hook::Wink => DAHDI_WINK,
            Hook::Flash => DAHDI_FLASH,
            Hook::Start => DAHDI_START,
            Hook::Ring => DAHDI_RING,
            Hook::RingOff => DAHDI_RINGOFF,
        }
    }

    /// The hook state a [`DAHDI_HOOK`] value names, if any.
    pub const fn from_raw(raw: c_int) -> Option<Hook> {
        Some(match raw {
            DAHDI_ONHOOK => Hook::OnHook,
            DAHDI_OFFHOOK => Hook::OffHook,
            DAHDI_WINK => Hook::Wink,
            DAHDI_FLASH => Hook::Flash,
            DAHDI_START => Hook::Start,
            DAHDI_RING => Hook::Ring,
            DAHDI_RINGOFF => Hook::RingOff,
            _ => return None,
        })
    }
}

/// A line event, decoded from the integer [`DAHDI_GETEVENT`] answers.
///
/// On a port facing a phone line (FXS signalling, FXO hardware) a ring
/// shows as [`ChannelEvent::RingBegin`] when the ring voltage appears and
/// [`ChannelEvent::RingOffHook`] when the ring has been qualified (at its
/// end); the far end hanging up shows as [`ChannelEvent::OnHook`] (kewl
/// start) and a polarity reversal as [`ChannelEvent::Polarity`]. On a port
/// facing a phone (FXO signalling), the phone lifting its handset is
/// [`ChannelEvent::RingOffHook`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelEvent {
    /// Went on hook (`DAHDI_EVENT_ONHOOK`).
    OnHook,
    /// Went off hook, or a ring was detected (`DAHDI_EVENT_RINGOFFHOOK`).
    RingOffHook,
    /// A wink or a hook flash (`DAHDI_EVENT_WINKFLASH`).
    WinkFlash,
    /// The span or channel went into alarm (`DAHDI_EVENT_ALARM`).
    Alarm,
    /// The alarm cleared (`DAHDI_EVENT_NOALARM`).
    NoAlarm,
    /// HDLC abort frame (`DAHDI_EVENT_ABORT`).
    Abort,
    /// HDLC frame overrun (`DAHDI_EVENT_OVERRUN`).
    Overrun,
    /// HDLC bad FCS (`DAHDI_EVENT_BADFCS`).
    BadFcs,
    /// Dialling finished (`DAHDI_EVENT_DIALCOMPLETE`).
    DialComplete,
    /// The ringer went on (`DAHDI_EVENT_RINGERON`).
    RingerOn,
    /// The ringer went off (`DAHDI_EVENT_RINGEROFF`).
    RingerOff,
    /// A hook change (wink, flash, start) completed
    /// (`DAHDI_EVENT_HOOKCOMPLETE`).
    HookComplete,
    /// CAS bits changed (`DAHDI_EVENT_BITSCHANGED`).
    BitsChanged,
    /// A pulse-dialled digit is starting (`DAHDI_EVENT_PULSE_START`).
    PulseStart,
    /// A timer expired (`DAHDI_EVENT_TIMER_EXPIRED`).
    TimerExpired,
    /// A timer ping is ready (`DAHDI_EVENT_TIMER_PING`).
    TimerPing,
    /// The line's polarity reversed (`DAHDI_EVENT_POLARITY`): on many
    /// lines, the far end answered or hung up.
    Polarity,
    /// Ring voltage appeared on the line (`DAHDI_EVENT_RINGBEGIN`).
    RingBegin,
    /// The echo canceller was disabled, e.g. by a fax or modem answer tone
    /// (`DAHDI_EVENT_EC_DISABLED`).
    EchoCancellerDisabled,
    /// The channel was removed (card unplugged or unconfigured); close it
    /// (`DAHDI_EVENT_REMOVED`).
    Removed,
    /// Neon message-waiting pulses started (`DAHDI_EVENT_NEONMWI_ACTIVE`).
    NeonMwiActive,
    /// Neon message-waiting pulses stopped
    /// (`DAHDI_EVENT_NEONMWI_INACTIVE`).
    NeonMwiInactive,
    /// Fax CED tone sent (`DAHDI_EVENT_TX_CED_DETECTED`).
    TxCedDetected,
    /// Fax CED tone received (`DAHDI_EVENT_RX_CED_DETECTED`).
    RxCedDetected,
    /// Fax CNG tone sent (`DAHDI_EVENT_TX_CNG_DETECTED`).
    TxCngDetected,
    /// Fax CNG tone received (`DAHDI_EVENT_RX_CNG_DETECTED`).
    RxCngDetected,
    /// The echo canceller's non-linear processor was disabled
    /// (`DAHDI_EVENT_EC_NLP_DISABLED`).
    EchoCancellerNlpDisabled,
    /// The echo canceller's non-linear processor was enabled
    /// (`DAHDI_EVENT_EC_NLP_ENABLED`).
    EchoCancellerNlpEnabled,
    /// Received audio was lost: the application read too slowly
    /// (`DAHDI_EVENT_READ_OVERRUN`).
    ReadOverrun,
    /// The line ran out of audio to send: the application wrote too slowly
    /// (`DAHDI_EVENT_WRITE_UNDERRUN`).
    WriteUnderrun,
    /// A pulse-dialled digit was received (`DAHDI_EVENT_PULSEDIGIT`).
    PulseDigit(char),
    /// A DTMF key went down (`DAHDI_EVENT_DTMFDOWN`).
    DtmfDown(char),
    /// A DTMF key went up (`DAHDI_EVENT_DTMFUP`).
    DtmfUp(char),
    /// An event this crate does not know (a newer kernel), kept raw.
    Unknown(c_int),
}

impl ChannelEvent {
    /// Decodes a [`DAHDI_GETEVENT`] answer; `None` for
    /// [`DAHDI_EVENT_NONE`].
    pub fn from_raw(raw: c_int) -> Option<ChannelEvent> {
        use ChannelEvent::*;
        let digit_flags = DAHDI_EVENT_PULSEDIGIT | DAHDI_EVENT_DTMFDOWN | DAHDI_EVENT_DTMFUP;
        if raw & digit_flags != 0 {
            let digit = match u8::try_from(raw & !digit_flags) {
                Ok(byte) if byte.is_ascii_alphanumeric() || byte == b'*' || byte == b'#' => {
                    char::from(byte)
                }
                _ => return Some(Unknown(raw)),
            };
            return Some(match raw & digit_flags {
                DAHDI_EVENT_PULSEDIGIT => PulseDigit(digit),
                DAHDI_EVENT_DTMFDOWN => DtmfDown(digit),
                DAHDI_EVENT_DTMFUP => DtmfUp(digit),
                _ => Unknown(raw),
            });
        }
        Some(match raw {
            DAHDI_EVENT_NONE => return None,
            DAHDI_EVENT_ONHOOK => OnHook,
            DAHDI_EVENT_RINGOFFHOOK => RingOffHook,
            DAHDI_EVENT_WINKFLASH => WinkFlash,
            DAHDI_EVENT_ALARM => Alarm,
            DAHDI_EVENT_NOALARM => NoAlarm,
            DAHDI_EVENT_ABORT => Abort,
            DAHDI_EVENT_OVERRUN => Overrun,
            DAHDI_EVENT_BADFCS => BadFcs,
            DAHDI_EVENT_DIALCOMPLETE => DialComplete,
            DAHDI_EVENT_RINGERON => RingerOn,
            DAHDI_EVENT_RINGEROFF => RingerOff,
            DAHDI_EVENT_HOOKCOMPLETE => HookComplete,
            DAHDI_EVENT_BITSCHANGED => BitsChanged,
            DAHDI_EVENT_PULSE_START => PulseStart,
            DAHDI_EVENT_TIMER_EXPIRED => TimerExpired,
            DAHDI_EVENT_TIMER_PING => TimerPing,
            DAHDI_EVENT_POLARITY => Polarity,
            DAHDI_EVENT_RINGBEGIN => RingBegin,
            DAHDI_EVENT_EC_DISABLED => EchoCancellerDisabled,
            DAHDI_EVENT_REMOVED => Removed,
            DAHDI_EVENT_NEONMWI_ACTIVE => NeonMwiActive,
            DAHDI_EVENT_NEONMWI_INACTIVE => NeonMwiInactive,
            DAHDI_EVENT_TX_CED_DETECTED => TxCedDetected,
            DAHDI_EVENT_RX_CED_DETECTED => RxCedDetected,
            DAHDI_EVENT_TX_CNG_DETECTED => TxCngDetected,
            DAHDI_EVENT_RX_CNG_DETECTED => RxCngDetected,
            DAHDI_EVENT_EC_NLP_DISABLED => EchoCancellerNlpDisabled,
            DAHDI_EVENT_EC_NLP_ENABLED => EchoCancellerNlpEnabled,
            DAHDI_EVENT_READ_OVERRUN => ReadOverrun,
            DAHDI_EVENT_WRITE_UNDERRUN => WriteUnderrun,
            _ => Unknown(raw),
        })
    }
}

/// Why a channel operation failed. Every variant names the channel; those
/// the kernel refused carry its answer (an errno) as their source.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// DAHDI numbers channels from 1, and the kernel takes the number as an
    /// `int`.
    #[error("DAHDI channel {channel}: no such channel number (channels are numbered from 1)")]
    InvalidNumber {
        /// The number asked for.
        channel: u32,
    },
    /// The channel device could not be opened: DAHDI not loaded, no
    /// permission, or no such device.
    #[error("DAHDI channel {channel}: cannot open {}: {source}", path.display())]
    Open {
        /// The channel being opened.
        channel: u32,
        /// The device path.
        path: PathBuf,
        /// What the kernel answered.
        source: io::Error,
    },
    /// The kernel refused a request on the channel.
    #[error("DAHDI channel {channel}: {request} failed: {source}")]
    Ioctl {
        /// The channel.
        channel: u32,
        /// The request, named as in `dahdi/user.h` (e.g. `DAHDI_SPECIFY`).
        request: &'static str,
        /// What the kernel answered.
        source: io::Error,
    },
    /// Reading audio failed.
    #[error("DAHDI channel {channel}: reading audio failed: {source}")]
    Read {
        /// The channel.
        channel: u32,
        /// What the kernel answered.
        source: io::Error,
    },
    /// Writing audio failed.
    #[error("DAHDI channel {channel}: writing audio failed: {source}")]
    Write {
        /// The channel.
        channel: u32,
        /// What the kernel answered.
        source: io::Error,
    },
    /// Waiting for an event failed.
    #[error("DAHDI channel {channel}: waiting for an event failed: {source}")]
    Wait {
        /// The channel.
        channel: u32,
        /// What the kernel answered.
        source: io::Error,
    },
    /// The kernel handed over less or more than one frame: the channel's
    /// block size is not the 160 samples this crate set.
    #[error("DAHDI channel {channel}: read {got} bytes where a 20 ms frame is {expected}")]
    ShortRead {
        /// The channel.
        channel: u32,
        /// Bytes read.
        got: usize,
        /// Bytes in one frame.
        expected: usize,
    },
    /// The kernel took only part of a frame.
    #[error(
        "DAHDI channel {channel}: the kernel took {written} of the {expected} bytes of a frame"
    )]
    ShortWrite {
        /// The channel.
        channel: u32,
        /// Bytes written.
        written: usize,
        /// Bytes in one frame.
        expected: usize,
    },
    /// A frame in one format was written to a channel carrying the other.
    #[error("DAHDI channel {channel}: a {frame:?} frame cannot be written to a channel carrying {carries:?}")]
    FormatMismatch {
        /// The channel.
        channel: u32,
        /// The format the channel was opened with.
        carries: SampleFormat,
        /// The format of the frame.
        frame: SampleFormat,
    },
    /// DAHDI echo cancellers take 32 to 1024 taps in powers of two, that is
    /// a tail of 4, 8, 16, 32, 64 or 128 ms.
    #[error(
        "DAHDI channel {channel}: echo canceller tail {tail:?} is not 4, 8, 16, 32, 64 or 128 ms"
    )]
    EchoCancellerTail {
        /// The channel.
        channel: u32,
        /// The tail asked for.
        tail: Duration,
    },
    /// An echo canceller parameter the kernel cannot take: more than
    /// [`DAHDI_MAX_ECHOCANPARAMS`], or a name longer than 15 bytes or
    /// holding a NUL.
    #[error("DAHDI channel {channel}: echo canceller parameter {name:?}: {reason}")]
    EchoCancellerParam {
        /// The channel.
        channel: u32,
        /// The parameter's name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl ChannelError {
    /// The channel the error is about.
    pub fn channel(&self) -> u32 {
        match self {
            ChannelError::InvalidNumber { channel }
            | ChannelError::Open { channel, .. }
            | ChannelError::Ioctl { channel, .. }
            | ChannelError::Read { channel, .. }
            | ChannelError::Write { channel, .. }
            | ChannelError::Wait { channel, .. }
            | ChannelError::ShortRead { channel, .. }
            | ChannelError::ShortWrite { channel, .. }
            | ChannelError::FormatMismatch { channel, .. }
            | ChannelError::EchoCancellerTail { channel, .. }
            | ChannelError::EchoCancellerParam { channel, .. } => *channel,
        }
    }

    /// The errno the kernel answered, where the error came from the kernel.
    pub fn os_error(&self) -> Option<i32> {
        match self {
            ChannelError::Open { source, .. }
            | ChannelError::Ioctl { source, .. }
            | ChannelError::Read { source, .. }
            | ChannelError::Write { source, .. }
            | ChannelError::Wait { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// An analog line as a line driver sees it: 20 ms frames in and out, line
/// events, and the hook. [`Channel`] implements it over DAHDI; a simulated
/// line can implement it for tests.
pub trait AnalogChannel {
    /// The channel's number (DAHDI numbers channels from 1).
    fn number(&self) -> u32;

    /// The format frames are read and written in.
    fn format(&self) -> SampleFormat;

    /// Blocks until the next 20 ms of received audio.
    fn read_frame(&mut self) -> Result<Frame, ChannelError>;

    /// Queues 20 ms of audio to send; blocks while the channel's buffers are
    /// full. The frame must be in [`AnalogChannel::format`].
    fn write_frame(&mut self, frame: &Frame) -> Result<(), ChannelError>;

    /// The next line event, waiting up to `timeout` (`None`: until one
    /// comes; `Some(Duration::ZERO)`: only one already waiting).
    /// `Ok(None)` when the time ran out.
    fn next_event(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<ChannelEvent>, ChannelError>;

    /// Sets the hook state: answer or seize the line, hang up, wink, flash,
    /// ring.
    fn set_hook(&mut self, hook: Hook) -> Result<(), ChannelError>;
}

/// An open DAHDI channel, bound to its number, with a 20 ms block size.
///
/// Closing (dropping) the channel hangs the line up and drops what this
/// open set: its buffers and block size, the law and linear mode, and the
/// echo canceller.
pub struct Channel {
    file: File,
    number: u32,
    format: SampleFormat,
    /// Events the kernel handed over while a read or write was refused
    /// with `ELAST`, oldest first.
    pending: VecDeque<ChannelEvent>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("number", &self.number)
            .field("format", &self.format)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// Opens channel `number` through [`CHANNEL_DEVICE`] and sets it up for
    /// 20 ms frames in `format`.
    pub fn open(number: u32, format: SampleFormat) -> Result<Channel, ChannelError> {
        Channel::open_device(Path::new(CHANNEL_DEVICE), number, format)
    }

    /// Opens channel `number` through the generic channel device at `device`
    /// (`/dev/dahdi/channel` unless DAHDI's devices live elsewhere), binds it
    /// with [`DAHDI_SPECIFY`], sets the block size to [`FRAME_SAMPLES`] and
    /// the sample format.
    pub fn open_device(
        device: &Path,
        number: u32,
        format: SampleFormat,
    ) -> Result<Channel, ChannelError> {
        let raw_number = match c_int::try_from(number) {
            Ok(n) if n >= 1 => n,
            _ => return Err(ChannelError::InvalidNumber { channel: number }),
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(device)
            .map_err(|source| ChannelError::Open {
                channel: number,
                path: device.to_path_buf(),
                source,
            })?;
        let channel = Channel {
            file,
            number,
            format,
            pending: VecDeque::with_capacity(DAHDI_MAX_EVENTSIZE as usize),
        };
        channel.ioctl_int(DAHDI_SPECIFY, "DAHDI_SPECIFY", raw_number)?;
        channel.ioctl_int(
            DAHDI_SET_BLOCKSIZE,
            "DAHDI_SET_BLOCKSIZE",
            FRAME_SAMPLES as c_int,
        )?;
        match format {
            SampleFormat::Mulaw => {
                channel.ioctl_int(DAHDI_SETLINEAR, "DAHDI_SETLINEAR", 0)?;
                channel.ioctl_int(DAHDI_SETLAW, "DAHDI_SETLAW", DAHDI_LAW_MULAW)?;
            }
            SampleFormat::Linear => {
                channel.ioctl_int(DAHDI_SETLINEAR, "DAHDI_SETLINEAR", 1)?;
            }
        }
        tracing::debug!(channel = number, ?format, "DAHDI channel open");
        Ok(channel)
    }

    /// The channel's parameters as the kernel reports them
    /// ([`DAHDI_GET_PARAMS`]): span, signalling, hook state, alarms, timings.
    pub fn params(&self) -> Result<dahdi_params, ChannelError> {
        let mut params = dahdi_params::default();
        // SAFETY: `params` is a `dahdi_params`, the struct DAHDI_GET_PARAMS
        // encodes (layout checked against the header by the layout test).
        unsafe { self.ioctl(DAHDI_GET_PARAMS, "DAHDI_GET_PARAMS", &mut params)? };
        Ok(params)
    }

    /// Enables the channel's echo canceller with a tail of `tail` (4, 8,
    /// 16, 32, 64 or 128 ms) and the canceller module's `params` (name,
    /// value), through [`DAHDI_ECHOCANCEL_PARAMS`].
    pub fn enable_echo_canceller(
        &mut self,
        tail: Duration,
        params: &[(&str, i32)],
    ) -> Result<(), ChannelError> {
        let tap_length = match tail.as_millis() {
            ms @ (4 | 8 | 16 | 32 | 64 | 128) if tail.subsec_nanos() % 1_000_000 == 0 => {
                ms as u32 * 8
            }
            _ => {
                return Err(ChannelError::EchoCancellerTail {
                    channel: self.number,
                    tail,
                })
            }
        };
        let mut request = EchoCancelRequest::default();
        if params.len() > DAHDI_MAX_ECHOCANPARAMS {
            let (name, _) = params[DAHDI_MAX_ECHOCANPARAMS];
            return Err(ChannelError::EchoCancellerParam {
                channel: self.number,
                name: name.to_string(),
                reason: "more parameters than the kernel takes (8)",
            });
        }
        for (slot, (name, value)) in request.params.iter_mut().zip(params) {
            let bad = |reason| ChannelError::EchoCancellerParam {
                channel: self.number,
                name: name.to_string(),
                reason,
            };
            copy_c_string(&mut slot.name, name).map_err(bad)?;
            slot.value = *value;
        }
        request.head.tap_length = tap_length;
        request.head.param_count = params.len() as u32;
        // SAFETY: `request` starts with the `dahdi_echocanparams` that
        // DAHDI_ECHOCANCEL_PARAMS encodes, and its `param_count` entries
        // follow it where the header's flexible array member puts them.
        unsafe {
            self.ioctl(
                DAHDI_ECHOCANCEL_PARAMS,
                "DAHDI_ECHOCANCEL_PARAMS",
                &mut request,
            )?
        };
        Ok(())
    }

    /// Disables the channel's echo canceller (a tap length of 0).
    pub fn disable_echo_canceller(&mut self) -> Result<(), ChannelError> {
        let mut request = EchoCancelRequest::default();
        // SAFETY: as in `enable_echo_canceller`, with no parameters.
        unsafe {
            self.ioctl(
                DAHDI_ECHOCANCEL_PARAMS,
                "DAHDI_ECHOCANCEL_PARAMS",
                &mut request,
            )
        }
    }

    /// Drops the audio buffered in both directions ([`DAHDI_FLUSH`]), e.g.
    /// when the agent is interrupted and what it queued must not play.
    pub fn flush_audio(&mut self) -> Result<(), ChannelError> {
        self.ioctl_int(DAHDI_FLUSH, "DAHDI_FLUSH", DAHDI_FLUSH_BOTH)
            .map(drop)
    }

    /// Takes the next event from the kernel's queue without waiting.
    fn take_kernel_event(&mut self) -> Result<Option<ChannelEvent>, ChannelError> {
        let raw = self.ioctl_int(DAHDI_GETEVENT, "DAHDI_GETEVENT", 0)?;
        Ok(ChannelEvent::from_raw(raw))
    }

    /// Moves the event that made a read or write fail with `ELAST` into
    /// the channel's own queue.
    fn collect_pending_event(&mut self) -> Result<(), ChannelError> {
        if let Some(event) = self.take_kernel_event()? {
            tracing::trace!(channel = self.number, ?event, "DAHDI event during audio");
            self.pending.push_back(event);
        }
        Ok(())
    }

    /// Performs an ioctl whose argument is an `int`, passed by pointer as
    /// DAHDI reads and writes it; returns the `int` afterwards.
    fn ioctl_int(
        &self,
        request: Ioctl,
        name: &'static str,
        value: c_int,
    ) -> Result<c_int, ChannelError> {
        let mut arg = value;
        // SAFETY: every `int` request DAHDI defines reads and/or writes one
        // `int` through the pointer, and `arg` is one.
        unsafe { self.ioctl(request, name, &mut arg)? };
        Ok(arg)
    }

    /// Performs an ioctl on the channel, retrying when a signal interrupts
    /// it.
    ///
    /// # Safety
    ///
    /// `T` must be the type `request` encodes (or begin with it, followed by
    /// whatever the kernel reads after it), so the kernel stays inside `arg`.
    unsafe fn ioctl<T>(
        &self,
        request: Ioctl,
        name: &'static str,
        arg: &mut T,
    ) -> Result<(), ChannelError> {
        loop {
            // SAFETY: the descriptor is open for as long as `self` lives;
            // the caller guarantees `arg` is what `request` reads and writes.
            let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), request, arg as *mut T) };
            if rc >= 0 {
                return Ok(());
            }
            let source = io::Error::last_os_error();
            match source.raw_os_error() {
                Some(libc::EINTR) => continue,
                // A wink, flash or start on a non-blocking descriptor: the
                // kernel accepted it and reports HOOKCOMPLETE when done.
                Some(libc::EINPROGRESS) if request == DAHDI_HOOK => return Ok(()),
                _ => {
                    return Err(ChannelError::Ioctl {
                        channel: self.number,
                        request: name,
                        source,
                    })
                }
            }
        }
    }

    /// Waits until the kernel has an event queued or `deadline` passes.
    /// Returns whether an event is queued.
    fn wait_for_event(&self, deadline: Option<Instant>) -> Result<bool, ChannelError> {
        loop {
            let timeout_ms: c_int = match deadline {
                None => -1,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    // Round up so a wait never ends before its deadline.
                    let ms = left.as_nanos().div_ceil(1_000_000);
                    c_int::try_from(ms).unwrap_or(c_int::MAX)
                }
            };
            let mut fds = libc::pollfd {
                fd: self.file.as_raw_fd(),
                events: libc::POLLPRI,
                revents: 0,
            };
            // SAFETY: `fds` is one valid `pollfd` and we pass a count of 1.
            let rc = unsafe { libc::poll(&mut fds, 1, timeout_ms) };
            if rc < 0 {
                let source = io::Error::last_os_error();
                if source.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(ChannelError::Wait {
                    channel: self.number,
                    source,
                });
            }
            if fds.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
                // DAHDI answers a poll this way once the driver has
                // unregistered the channel (card removed or unconfigured).
                return Err(ChannelError::Wait {
                    channel: self.number,
                    source: io::Error::from_raw_os_error(libc::ENODEV),
                });
            }
            if fds.revents & libc::POLLNVAL != 0 {
                return Err(ChannelError::Wait {
                    channel: self.number,
                    source: io::Error::from_raw_os_error(libc::EBADF),
                });
            }
            if fds.revents & libc::POLLPRI != 0 {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
        }
    }
}

impl AnalogChannel for Channel {
    fn number(&self) -> u32 {
        self.number
    }

    fn format(&self) -> SampleFormat {
        self.format
    }

    fn read_frame(&mut self) -> Result<Frame, ChannelError> {
        let expected = self.format.frame_bytes();
        let mut bytes = [0u8; FRAME_SAMPLES * 2];
        loop {
            match self.file.read(&mut bytes[..expected]) {
                Ok(got) if got == expected => break,
                Ok(got) => {
                    return Err(ChannelError::ShortRead {
                        channel: self.number,
                        got,
                        expected,
                    })
                }
                Err(e) if e.raw_os_error() == Some(ELAST) => self.collect_pending_event()?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ChannelError::Read {
                        channel: self.number,
                        source,
                    })
                }
            }
        }
        Ok(match self.format {
            SampleFormat::Mulaw => {
                let mut samples = [0u8; FRAME_SAMPLES];
                samples.copy_from_slice(&bytes[..FRAME_SAMPLES]);
                Frame::Mulaw(samples)
            }
            SampleFormat::Linear => {
                let mut samples = [0i16; FRAME_SAMPLES];
                for (sample, pair) in samples.iter_mut().zip(bytes.chunks_exact(2)) {
                    *sample = i16::from_ne_bytes([pair[0], pair[1]]);
                }
                Frame::Linear(samples)
            }
        })
    }

    fn write_frame(&mut self, frame: &Frame) -> Result<(), ChannelError> {
        let mut bytes = [0u8; FRAME_SAMPLES * 2];
        let len = match (self.format, frame) {
            (SampleFormat::Mulaw, Frame::Mulaw(samples)) => {
                bytes[..FRAME_SAMPLES].copy_from_slice(samples);
                FRAME_SAMPLES
            }
            (SampleFormat::Linear, Frame::Linear(samples)) => {
                for (pair, sample) in bytes.chunks_exact_mut(2).zip(samples) {
                    pair.copy_from_slice(&sample.to_ne_bytes());
                }
                FRAME_SAMPLES * 2
            }
            (carries, frame) => {
                return Err(ChannelError::FormatMismatch {
                    channel: self.number,
                    carries,
                    frame: frame.format(),
                })
            }
        };
        loop {
            match self.file.write(&bytes[..len]) {
                Ok(written) if written == len => return Ok(()),
                Ok(written) => {
                    return Err(ChannelError::ShortWrite {
                        channel: self.number,
                        written,
                        expected: len,
                    })
                }
                Err(e) if e.raw_os_error() == Some(ELAST) => self.collect_pending_event()?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ChannelError::Write {
                        channel: self.number,
                        source,
                    })
                }
            }
        }
    }

    fn next_event(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<ChannelEvent>, ChannelError> {
        if let Some(event) = self.pending.pop_front() {
            return Ok(Some(event));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if !self.wait_for_event(deadline)? {
                return Ok(None);
            }
            if let Some(event) = self.take_kernel_event()? {
                return Ok(Some(event));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    fn set_hook(&mut self, hook: Hook) -> Result<(), ChannelError> {
        self.ioctl_int(DAHDI_HOOK, "DAHDI_HOOK", hook.to_raw())
            .map(drop)
    }
}

/// [`dahdi_echocanparams`] with room for the most parameters the kernel
/// takes, laid out as the header's flexible array member expects.
#[repr(C)]
#[derive(Default)]
struct EchoCancelRequest {
    head: dahdi_echocanparams,
    params: [dahdi_echocanparam; DAHDI_MAX_ECHOCANPARAMS],
}

/// Copies `text` into a NUL-terminated C string field.
fn copy_c_string(field: &mut [c_char], text: &str) -> Result<(), &'static str> {
    if text.len() >= field.len() {
        return Err("longer than the kernel's name field (15 bytes)");
    }
    if text.bytes().any(|b| b == 0) {
        return Err("holds a NUL byte");
    }
    for (slot, byte) in field.iter_mut().zip(text.bytes()) {
        *slot = byte as c_char;
    }
    field[text.len()] = 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_number_of_the_header_decodes_to_its_own_variant() {
        let events = [
            (DAHDI_EVENT_ONHOOK, ChannelEvent::OnHook),
            (DAHDI_EVENT_RINGOFFHOOK, ChannelEvent::RingOffHook),
            (DAHDI_EVENT_WINKFLASH, ChannelEvent::WinkFlash),
            (DAHDI_EVENT_ALARM, ChannelEvent::Alarm),
            (DAHDI_EVENT_NOALARM, ChannelEvent::NoAlarm),
            (DAHDI_EVENT_ABORT, ChannelEvent::Abort),
            (DAHDI_EVENT_OVERRUN, ChannelEvent::Overrun),
            (DAHDI_EVENT_BADFCS, ChannelEvent::BadFcs),
            (DAHDI_EVENT_DIALCOMPLETE, ChannelEvent::DialComplete),
            (DAHDI_EVENT_RINGERON, ChannelEvent::RingerOn),
            (DAHDI_EVENT_RINGEROFF, ChannelEvent::RingerOff),
            (DAHDI_EVENT_HOOKCOMPLETE, ChannelEvent::HookComplete),
            (DAHDI_EVENT_BITSCHANGED, ChannelEvent::BitsChanged),
            (DAHDI_EVENT_PULSE_START, ChannelEvent::PulseStart),
            (DAHDI_EVENT_TIMER_EXPIRED, ChannelEvent::TimerExpired),
            (DAHDI_EVENT_TIMER_PING, ChannelEvent::TimerPing),
            (DAHDI_EVENT_POLARITY, ChannelEvent::Polarity),
            (DAHDI_EVENT_RINGBEGIN, ChannelEvent::RingBegin),
            (DAHDI_EVENT_EC_DISABLED, ChannelEvent::EchoCancellerDisabled),
            (DAHDI_EVENT_REMOVED, ChannelEvent::Removed),
            (DAHDI_EVENT_NEONMWI_ACTIVE, ChannelEvent::NeonMwiActive),
            (DAHDI_EVENT_NEONMWI_INACTIVE, ChannelEvent::NeonMwiInactive),
            (DAHDI_EVENT_TX_CED_DETECTED, ChannelEvent::TxCedDetected),
            (DAHDI_EVENT_RX_CED_DETECTED, ChannelEvent::RxCedDetected),
            (DAHDI_EVENT_TX_CNG_DETECTED, ChannelEvent::TxCngDetected),
            (DAHDI_EVENT_RX_CNG_DETECTED, ChannelEvent::RxCngDetected),
            (
                DAHDI_EVENT_EC_NLP_DISABLED,
                ChannelEvent::EchoCancellerNlpDisabled,
            ),
            (
                DAHDI_EVENT_EC_NLP_ENABLED,
                ChannelEvent::EchoCancellerNlpEnabled,
            ),
            (DAHDI_EVENT_READ_OVERRUN, ChannelEvent::ReadOverrun),
            (DAHDI_EVENT_WRITE_UNDERRUN, ChannelEvent::WriteUnderrun),
        ];
        // The header numbers its plain events 1..=30 with no gaps.
        assert_eq!(events.len(), 30);
        let mut seen = std::collections::HashSet::new();
        for (raw, event) in events {
            assert_eq!(ChannelEvent::from_raw(raw), Some(event), "event {raw}");
            assert!(seen.insert(event), "{event:?} decoded from two numbers");
        }
    }

    #[test]
    fn no_event_decodes_to_none_and_an_unknown_number_is_kept_raw() {
        assert_eq!(ChannelEvent::from_raw(DAHDI_EVENT_NONE), None);
        assert_eq!(ChannelEvent::from_raw(31), Some(ChannelEvent::Unknown(31)));
        assert_eq!(ChannelEvent::from_raw(-1), Some(ChannelEvent::Unknown(-1)));
    }

    #[test]
    fn digit_events_carry_the_digit_or_in_their_low_bits() {
        assert_eq!(
            ChannelEvent::from_raw(DAHDI_EVENT_DTMFDOWN | b'5' as c_int),
            Some(ChannelEvent::DtmfDown('5'))
        );
        assert_eq!(
            ChannelEvent::from_raw(DAHDI_EVENT_DTMFUP | b'#' as c_int),
            Some(ChannelEvent::DtmfUp('#'))
        );
        assert_eq!(
            ChannelEvent::from_raw(DAHDI_EVENT_PULSEDIGIT | b'0' as c_int),
            Some(ChannelEvent::PulseDigit('0'))
        );
        assert_eq!(
            ChannelEvent::from_raw(DAHDI_EVENT_DTMFDOWN | b'D' as c_int),
            Some(ChannelEvent::DtmfDown('D'))
        );
        // Two digit flags at once, or a digit byte that is no key, is not a
        // digit event this crate can name.
        let both = DAHDI_EVENT_DTMFDOWN | DAHDI_EVENT_DTMFUP | b'1' as c_int;
        assert_eq!(
            ChannelEvent::from_raw(both),
            Some(ChannelEvent::Unknown(both))
        );
        let control = DAHDI_EVENT_DTMFDOWN | 0x07;
        assert_eq!(
            ChannelEvent::from_raw(control),
            Some(ChannelEvent::Unknown(control))
        );
    }

    #[test]
    fn hook_states_round_trip_through_the_dahdi_hook_values() {
        let hooks = [
            (Hook::OnHook, DAHDI_ONHOOK),
            (Hook::OffHook, DAHDI_OFFHOOK),
            (Hook::Wink, DAHDI_WINK),
            (Hook::Flash, DAHDI_FLASH),
            (Hook::Start, DAHDI_START),
            (Hook::Ring, DAHDI_RING),
            (Hook::RingOff, DAHDI_RINGOFF),
        ];
        for (hook, raw) in hooks {
            assert_eq!(hook.to_raw(), raw);
            assert_eq!(Hook::from_raw(raw), Some(hook));
        }
        assert_eq!(Hook::from_raw(7), None);
        assert_eq!(Hook::from_raw(-1), None);
    }

    #[test]
    fn a_frame_is_160_samples_in_either_format() {
        assert_eq!(SampleFormat::Mulaw.frame_bytes(), 160);
        assert_eq!(SampleFormat::Linear.frame_bytes(), 320);
        assert_eq!(FRAME_DURATION.as_millis() * 8, FRAME_SAMPLES as u128);
        assert_eq!(
            Frame::silence(SampleFormat::Mulaw).format(),
            SampleFormat::Mulaw
        );
        assert_eq!(
            Frame::silence(SampleFormat::Linear),
            Frame::Linear([0; 160])
        );
    }

    #[test]
    fn echo_canceller_names_must_fit_the_kernels_field() {
        let mut field = [1 as c_char; 16];
        assert!(copy_c_string(&mut field, "aggressive").is_ok());
        assert_eq!(field[10], 0);
        assert_eq!(field[0], b'a' as c_char);
        assert!(copy_c_string(&mut field, "fifteen_bytes__").is_ok());
        assert!(copy_c_string(&mut field, "sixteen_bytes___").is_err());
        assert!(copy_c_string(&mut field, "nul\0").is_err());
    }

    /// A channel over `/dev/null`: a real descriptor that is no DAHDI
    /// device, for the paths that need an open channel.
    fn channel_on_dev_null(number: u32, format: SampleFormat) -> Channel {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .expect("/dev/null opens");
        Channel {
            file,
            number,
            format,
            pending: VecDeque::new(),
        }
    }

    #[test]
    fn an_echo_canceller_tail_the_kernel_would_replace_is_refused() {
        let mut channel = channel_on_dev_null(4, SampleFormat::Linear);
        for ms in [0, 1, 10, 100, 256] {
            let err = channel
                .enable_echo_canceller(Duration::from_millis(ms), &[])
                .unwrap_err();
            assert!(
                matches!(err, ChannelError::EchoCancellerTail { channel: 4, .. }),
                "{ms} ms: {err}"
            );
        }
        let err = channel
            .enable_echo_canceller(Duration::from_micros(8_500), &[])
            .unwrap_err();
        assert!(
            matches!(err, ChannelError::EchoCancellerTail { .. }),
            "{err}"
        );
    }

    #[test]
    fn a_valid_echo_canceller_request_reaches_the_kernel_and_names_the_request_it_refused() {
        let mut channel = channel_on_dev_null(4, SampleFormat::Linear);
        let err = channel
            .enable_echo_canceller(Duration::from_millis(16), &[("aggressive", 1)])
            .unwrap_err();
        assert!(
            matches!(
                err,
                ChannelError::Ioctl {
                    channel: 4,
                    request: "DAHDI_ECHOCANCEL_PARAMS",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.os_error(), Some(libc::ENOTTY));
        let err = channel
            .enable_echo_canceller(Duration::from_millis(16), &[("x", 0); 9])
            .unwrap_err();
        assert!(
            matches!(err, ChannelError::EchoCancellerParam { .. }),
            "{err}"
        );
        let err = channel
            .enable_echo_canceller(
                Duration::from_millis(16),
                &[("a_name_too_long_for_dahdi", 0)],
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("a_name_too_long_for_dahdi"),
            "{err}"
        );
    }

    #[test]
    fn a_read_that_returns_less_than_a_frame_is_an_error_naming_both_sizes() {
        // /dev/null reads as end of file: 0 bytes where a frame is 320.
        let mut channel = channel_on_dev_null(9, SampleFormat::Linear);
        let err = channel.read_frame().unwrap_err();
        assert!(
            matches!(
                err,
                ChannelError::ShortRead {
                    channel: 9,
                    got: 0,
                    expected: 320
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_frame_in_the_other_format_is_refused_before_the_kernel_sees_it() {
        let mut channel = channel_on_dev_null(2, SampleFormat::Mulaw);
        channel
            .write_frame(&Frame::silence(SampleFormat::Mulaw))
            .expect("a µ-law frame to a µ-law channel is written");
        let err = channel
            .write_frame(&Frame::silence(SampleFormat::Linear))
            .unwrap_err();
        assert!(
            matches!(
                err,
                ChannelError::FormatMismatch {
                    channel: 2,
                    carries: SampleFormat::Mulaw,
                    frame: SampleFormat::Linear
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn waiting_for_an_event_on_a_quiet_descriptor_ends_at_the_timeout() {
        // /dev/null never signals POLLPRI, the readiness DAHDI gives a
        // queued event.
        let mut channel = channel_on_dev_null(1, SampleFormat::Linear);
        assert_eq!(channel.next_event(Some(Duration::ZERO)).unwrap(), None);
        let started = Instant::now();
        assert_eq!(
            channel.next_event(Some(Duration::from_millis(30))).unwrap(),
            None
        );
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn a_hung_up_descriptor_ends_the_wait_with_an_error_instead_of_spinning() {
        // A socket whose peer closed polls as POLLHUP, as DAHDI polls a
        // channel whose driver went away.
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        drop(theirs);
        let mut channel = channel_on_dev_null(5, SampleFormat::Linear);
        channel.file = File::from(std::os::fd::OwnedFd::from(ours));
        let err = channel.next_event(None).unwrap_err();
        assert!(
            matches!(err, ChannelError::Wait { channel: 5, .. }),
            "{err}"
        );
        assert_eq!(err.os_error(), Some(libc::ENODEV));
    }

    #[test]
    fn an_event_collected_during_audio_comes_out_of_next_event_first() {
        let mut channel = channel_on_dev_null(1, SampleFormat::Linear);
        channel.pending.push_back(ChannelEvent::RingBegin);
        channel.pending.push_back(ChannelEvent::RingOffHook);
        assert_eq!(
            channel.next_event(Some(Duration::ZERO)).unwrap(),
            Some(ChannelEvent::RingBegin)
        );
        assert_eq!(
            channel.next_event(None).unwrap(),
            Some(ChannelEvent::RingOffHook)
        );
        assert_eq!(channel.next_event(Some(Duration::ZERO)).unwrap(), None);
    }

    #[test]
    fn the_echo_cancel_request_puts_parameters_where_the_flexible_array_is() {
        assert_eq!(
            std::mem::offset_of!(EchoCancelRequest, params),
            std::mem::offset_of!(dahdi_echocanparams, params)
        );
    }
}
