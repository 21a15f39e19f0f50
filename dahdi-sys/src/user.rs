//! The definitions of `dahdi/user.h`, the DAHDI kernel's user interface,
//! written by hand from the header and named exactly as it names them.
//!
//! Every ioctl number, struct size, alignment and field offset here is
//! compared with the real header by the `layout_matches_dahdi_user_header`
//! test, so a difference on any architecture shows up as a failing test
//! rather than as a kernel writing past a buffer.
//!
//! Integer constants are `c_int` where the kernel reads or writes them
//! through an `int` (hook states, events, signalling types, flush flags),
//! and `usize` where the header uses them as array lengths.

#![allow(non_camel_case_types, non_upper_case_globals)]

use libc::{c_char, c_int, c_long, c_uint, c_ushort, c_void, Ioctl, _IO, _IOR, _IOW, _IOWR};

/// Fallback value of `ELAST` the header defines when the C library has none
/// (Linux has none): a read or write fails with this errno while a
/// signalling event waits to be collected with [`DAHDI_GETEVENT`].
pub const ELAST: c_int = 500;

// ---------------------------------------------------------------------------
// Per-span configuration values
// ---------------------------------------------------------------------------

/// Bits 0-2 of a span's line configuration are its transmit level.
pub const DAHDI_CONFIG_TXLEVEL: c_int = 7;
/// T1: D4 (superframe) framing.
pub const DAHDI_CONFIG_D4: c_int = 1 << 4;
/// T1: extended superframe framing.
pub const DAHDI_CONFIG_ESF: c_int = 1 << 5;
/// T1/E1: AMI line coding.
pub const DAHDI_CONFIG_AMI: c_int = 1 << 6;
/// T1: B8ZS line coding.
pub const DAHDI_CONFIG_B8ZS: c_int = 1 << 7;
/// E1: common channel signalling (ISDN) instead of CAS (robbed bit).
pub const DAHDI_CONFIG_CCS: c_int = 1 << 8;
/// E1: HDB3 line coding instead of AMI.
pub const DAHDI_CONFIG_HDB3: c_int = 1 << 9;
/// E1: CRC4 framing.
pub const DAHDI_CONFIG_CRC4: c_int = 1 << 10;
/// BRI: NT mode (0 is TE mode).
pub const DAHDI_CONFIG_NTTE: c_int = 1 << 11;
/// BRI: termination resistance on.
pub const DAHDI_CONFIG_TERM: c_int = 1 << 12;
/// The span is not open.
pub const DAHDI_CONFIG_NOTOPEN: c_int = 1 << 16;

// ---------------------------------------------------------------------------
// Signalling types (`dahdi_params::sigtype`, `dahdi_params::sigcap`)
// ---------------------------------------------------------------------------

/// The port is broken or failed its initialisation.
pub const DAHDI_SIG_BROKEN: c_int = 1 << 31;
/// FXO family bit; the header says never to use it directly.
pub const __DAHDI_SIG_FXO: c_int = 1 << 12;
/// FXS family bit; the header says never to use it directly.
pub const __DAHDI_SIG_FXS: c_int = 1 << 13;
/// Channel not configured.
pub const DAHDI_SIG_NONE: c_int = 0;
/// FXS signalling, loop start (the port faces a phone line: FXO hardware).
pub const DAHDI_SIG_FXSLS: c_int = (1 << 0) | __DAHDI_SIG_FXS;
/// FXS signalling, ground start.
pub const DAHDI_SIG_FXSGS: c_int = (1 << 1) | __DAHDI_SIG_FXS;
/// FXS signalling, kewl start (loop start with disconnect supervision).
pub const DAHDI_SIG_FXSKS: c_int = (1 << 2) | __DAHDI_SIG_FXS;
/// FXO signalling, loop start (the port faces a phone: FXS hardware).
pub const DAHDI_SIG_FXOLS: c_int = (1 << 3) | __DAHDI_SIG_FXO;
/// FXO signalling, ground start.
pub const DAHDI_SIG_FXOGS: c_int = (1 << 4) | __DAHDI_SIG_FXO;
/// FXO signalling, kewl start.
pub const DAHDI_SIG_FXOKS: c_int = (1 << 5) | __DAHDI_SIG_FXO;
/// Ear & Mouth (E&M).
pub const DAHDI_SIG_EM: c_int = 1 << 6;
/// Cross-connect family bit; the header says never to use it directly.
pub const __DAHDI_SIG_DACS: c_int = 1 << 16;
/// Clear channel.
pub const DAHDI_SIG_CLEAR: c_int = 1 << 7;
/// Raw unchecked HDLC.
pub const DAHDI_SIG_HDLCRAW: c_int = (1 << 8) | DAHDI_SIG_CLEAR;
/// HDLC with FCS calculation.
pub const DAHDI_SIG_HDLCFCS: c_int = (1 << 9) | DAHDI_SIG_HDLCRAW;
/// HDLC network device.
pub const DAHDI_SIG_HDLCNET: c_int = (1 << 10) | DAHDI_SIG_HDLCFCS;
/// Slave to another channel.
pub const DAHDI_SIG_SLAVE: c_int = 1 << 11;
/// Single-frequency tone only, no signalling bits.
pub const DAHDI_SIG_SF: c_int = 1 << 14;
/// Just get the CAS bits.
pub const DAHDI_SIG_CAS: c_int = 1 << 15;
/// Cross connect.
pub const DAHDI_SIG_DACS: c_int = __DAHDI_SIG_DACS | DAHDI_SIG_CLEAR;
/// E1 E&M variation.
pub const DAHDI_SIG_EM_E1: c_int = 1 << 17;
/// Cross connect with robbed-bit signalling.
pub const DAHDI_SIG_DACS_RBS: c_int = (1 << 18) | __DAHDI_SIG_DACS;
/// HDLC done by the hardware.
pub const DAHDI_SIG_HARDHDLC: c_int = (1 << 19) | DAHDI_SIG_CLEAR;
/// MTP2 (needs HDLC bit stuffing and FCS).
pub const DAHDI_SIG_MTP2: c_int = (1 << 20) | DAHDI_SIG_HDLCFCS;

// ---------------------------------------------------------------------------
// Tone flags and CAS bits
// ---------------------------------------------------------------------------

/// Reverse polarity of the receive tone logic.
pub const DAHDI_REVERSE_RXTONE: c_int = 1;
/// Reverse polarity of the transmit tone logic.
pub const DAHDI_REVERSE_TXTONE: c_int = 2;

/// CAS signalling bit A.
pub const DAHDI_ABIT: c_int = 1 << 3;
/// CAS signalling bit B.
pub const DAHDI_BBIT: c_int = 1 << 2;
/// CAS signalling bit C.
pub const DAHDI_CBIT: c_int = 1 << 1;
/// CAS signalling bit D.
pub const DAHDI_DBIT: c_int = 1 << 0;
/// CAS bits A, B, C and D.
pub const DAHDI_BITS_ABCD: c_int = DAHDI_ABIT | DAHDI_BBIT | DAHDI_CBIT | DAHDI_DBIT;
/// CAS bits A, B and D.
pub const DAHDI_BITS_ABD: c_int = DAHDI_ABIT | DAHDI_BBIT | DAHDI_DBIT;
/// CAS bits A, C and D.
pub const DAHDI_BITS_ACD: c_int = DAHDI_ABIT | DAHDI_CBIT | DAHDI_DBIT;
/// CAS bits B, C and D.
pub const DAHDI_BITS_BCD: c_int = DAHDI_BBIT | DAHDI_CBIT | DAHDI_DBIT;
/// CAS bits A and C.
pub const DAHDI_BITS_AC: c_int = DAHDI_ABIT | DAHDI_CBIT;
/// CAS bits B and D.
pub const DAHDI_BITS_BD: c_int = DAHDI_BBIT | DAHDI_DBIT;

// ---------------------------------------------------------------------------
// Device, buffers and policies
// ---------------------------------------------------------------------------

/// Major device number of `/dev/dahdi/*`.
pub const DAHDI_MAJOR: c_int = 196;
/// Largest block size [`DAHDI_SET_BLOCKSIZE`] accepts.
pub const DAHDI_MAX_BLOCKSIZE: c_int = 8192;
/// Number of buffers a channel starts with.
pub const DAHDI_DEFAULT_NUM_BUFS: c_int = 2;
/// Most buffers a channel may have.
pub const DAHDI_MAX_NUM_BUFS: c_int = 32;
/// Most buffer space a channel may have, in bytes.
pub const DAHDI_MAX_BUF_SPACE: c_int = 32768;
/// Block size a channel starts with.
pub const DAHDI_DEFAULT_BLOCKSIZE: c_int = 1024;
/// Default MTU/MRU (the header's misspelt name, kept for completeness).
pub const DAHDI_DEFAULT_MTR_MRU: c_int = 2048;
/// Default network block size.
pub const DAHDI_DEFAULT_MTU_MRU: c_int = 2048;

/// Buffer policy: start play/record immediately.
pub const DAHDI_POLICY_IMMEDIATE: c_int = 0;
/// Buffer policy: start play/record when the buffer is full.
pub const DAHDI_POLICY_WHEN_FULL: c_int = 1;
/// Buffer policy: start when the buffer is half full (transmit only).
pub const DAHDI_POLICY_HALF_FULL: c_int = 2;

/// Set in `dahdi_params::channo` to have [`DAHDI_GET_PARAMS`] answer for
/// the master of a slave channel.
pub const DAHDI_GET_PARAMS_RETURN_MASTER: c_int = 0x4000_0000;

// ---------------------------------------------------------------------------
// Tones and tone zones
// ---------------------------------------------------------------------------

/// Number of tone zones.
pub const DAHDI_TONE_ZONE_MAX: c_int = 128;
/// Tone zone value that restores the default zone.
pub const DAHDI_TONE_ZONE_DEFAULT: c_int = -1;

/// [`DAHDI_SENDTONE`]: stop the tone being played.
pub const DAHDI_TONE_STOP: c_int = -1;
/// Dial tone.
pub const DAHDI_TONE_DIALTONE: c_int = 0;
/// Busy tone.
pub const DAHDI_TONE_BUSY: c_int = 1;
/// Ringback tone.
pub const DAHDI_TONE_RINGTONE: c_int = 2;
/// Congestion (reorder) tone.
pub const DAHDI_TONE_CONGESTION: c_int = 3;
/// Call-waiting tone.
pub const DAHDI_TONE_CALLWAIT: c_int = 4;
/// Recall dial tone.
pub const DAHDI_TONE_DIALRECALL: c_int = 5;
/// Recording warning tone.
pub const DAHDI_TONE_RECORDTONE: c_int = 6;
/// Special information tone.
pub const DAHDI_TONE_INFO: c_int = 7;
/// Custom tone 1.
pub const DAHDI_TONE_CUST1: c_int = 8;
/// Custom tone 2.
pub const DAHDI_TONE_CUST2: c_int = 9;
/// Stutter dial tone.
pub const DAHDI_TONE_STUTTER: c_int = 10;
/// Number of tone slots in a zone.
pub const DAHDI_TONE_MAX: c_int = 16;

/// First DTMF digit tone.
pub const DAHDI_TONE_DTMF_BASE: c_int = 64;
/// First MF R1 tone.
pub const DAHDI_TONE_MFR1_BASE: c_int = 80;
/// First MF R2 forward tone.
pub const DAHDI_TONE_MFR2_FWD_BASE: c_int = 96;
/// First MF R2 backward tone.
pub const DAHDI_TONE_MFR2_REV_BASE: c_int = 112;

/// DTMF digit 0.
pub const DAHDI_TONE_DTMF_0: c_int = DAHDI_TONE_DTMF_BASE;
/// DTMF digit 1.
pub const DAHDI_TONE_DTMF_1: c_int = DAHDI_TONE_DTMF_BASE + 1;
/// DTMF digit 2.
pub const DAHDI_TONE_DTMF_2: c_int = DAHDI_TONE_DTMF_BASE + 2;
/// DTMF digit 3.
pub const DAHDI_TONE_DTMF_3: c_int = DAHDI_TONE_DTMF_BASE + 3;
/// DTMF digit 4.
pub const DAHDI_TONE_DTMF_4: c_int = DAHDI_TONE_DTMF_BASE + 4;
/// DTMF digit 5.
pub const DAHDI_TONE_DTMF_5: c_int = DAHDI_TONE_DTMF_BASE + 5;
/// DTMF digit 6.
pub const DAHDI_TONE_DTMF_6: c_int = DAHDI_TONE_DTMF_BASE + 6;
/// DTMF digit 7.
pub const DAHDI_TONE_DTMF_7: c_int = DAHDI_TONE_DTMF_BASE + 7;
/// DTMF digit 8.
pub const DAHDI_TONE_DTMF_8: c_int = DAHDI_TONE_DTMF_BASE + 8;
/// DTMF digit 9.
pub const DAHDI_TONE_DTMF_9: c_int = DAHDI_TONE_DTMF_BASE + 9;
/// DTMF star (`*`).
pub const DAHDI_TONE_DTMF_s: c_int = DAHDI_TONE_DTMF_BASE + 10;
/// DTMF pound (`#`).
pub const DAHDI_TONE_DTMF_p: c_int = DAHDI_TONE_DTMF_BASE + 11;
/// DTMF digit A.
pub const DAHDI_TONE_DTMF_A: c_int = DAHDI_TONE_DTMF_BASE + 12;
/// DTMF digit B.
pub const DAHDI_TONE_DTMF_B: c_int = DAHDI_TONE_DTMF_BASE + 13;
/// DTMF digit C.
pub const DAHDI_TONE_DTMF_C: c_int = DAHDI_TONE_DTMF_BASE + 14;
/// DTMF digit D.
pub const DAHDI_TONE_DTMF_D: c_int = DAHDI_TONE_DTMF_BASE + 15;
/// Last DTMF tone.
pub const DAHDI_TONE_DTMF_MAX: c_int = DAHDI_TONE_DTMF_D;

/// MF R1 digit 0.
pub const DAHDI_TONE_MFR1_0: c_int = DAHDI_TONE_MFR1_BASE;
/// MF R1 digit 1.
pub const DAHDI_TONE_MFR1_1: c_int = DAHDI_TONE_MFR1_BASE + 1;
/// MF R1 digit 2.
pub const DAHDI_TONE_MFR1_2: c_int = DAHDI_TONE_MFR1_BASE + 2;
/// MF R1 digit 3.
pub const DAHDI_TONE_MFR1_3: c_int = DAHDI_TONE_MFR1_BASE + 3;
/// MF R1 digit 4.
pub const DAHDI_TONE_MFR1_4: c_int = DAHDI_TONE_MFR1_BASE + 4;
/// MF R1 digit 5.
pub const DAHDI_TONE_MFR1_5: c_int = DAHDI_TONE_MFR1_BASE + 5;
/// MF R1 digit 6.
pub const DAHDI_TONE_MFR1_6: c_int = DAHDI_TONE_MFR1_BASE + 6;
/// MF R1 digit 7.
pub const DAHDI_TONE_MFR1_7: c_int = DAHDI_TONE_MFR1_BASE + 7;
/// MF R1 digit 8.
pub const DAHDI_TONE_MFR1_8: c_int = DAHDI_TONE_MFR1_BASE + 8;
/// MF R1 digit 9.
pub const DAHDI_TONE_MFR1_9: c_int = DAHDI_TONE_MFR1_BASE + 9;
/// MF R1 KP.
pub const DAHDI_TONE_MFR1_KP: c_int = DAHDI_TONE_MFR1_BASE + 10;
/// MF R1 ST.
pub const DAHDI_TONE_MFR1_ST: c_int = DAHDI_TONE_MFR1_BASE + 11;
/// MF R1 STP.
pub const DAHDI_TONE_MFR1_STP: c_int = DAHDI_TONE_MFR1_BASE + 12;
/// MF R1 ST2P.
pub const DAHDI_TONE_MFR1_ST2P: c_int = DAHDI_TONE_MFR1_BASE + 13;
/// MF R1 ST3P.
pub const DAHDI_TONE_MFR1_ST3P: c_int = DAHDI_TONE_MFR1_BASE + 14;
/// Last MF R1 tone.
pub const DAHDI_TONE_MFR1_MAX: c_int = DAHDI_TONE_MFR1_ST3P;

/// MF R2 forward signal 1.
pub const DAHDI_TONE_MFR2_FWD_1: c_int = DAHDI_TONE_MFR2_FWD_BASE;
/// MF R2 forward signal 2.
pub const DAHDI_TONE_MFR2_FWD_2: c_int = DAHDI_TONE_MFR2_FWD_BASE + 1;
/// MF R2 forward signal 3.
pub const DAHDI_TONE_MFR2_FWD_3: c_int = DAHDI_TONE_MFR2_FWD_BASE + 2;
/// MF R2 forward signal 4.
pub const DAHDI_TONE_MFR2_FWD_4: c_int = DAHDI_TONE_MFR2_FWD_BASE + 3;
/// MF R2 forward signal 5.
pub const DAHDI_TONE_MFR2_FWD_5: c_int = DAHDI_TONE_MFR2_FWD_BASE + 4;
/// MF R2 forward signal 6.
pub const DAHDI_TONE_MFR2_FWD_6: c_int = DAHDI_TONE_MFR2_FWD_BASE + 5;
/// MF R2 forward signal 7.
pub const DAHDI_TONE_MFR2_FWD_7: c_int = DAHDI_TONE_MFR2_FWD_BASE + 6;
/// MF R2 forward signal 8.
pub const DAHDI_TONE_MFR2_FWD_8: c_int = DAHDI_TONE_MFR2_FWD_BASE + 7;
/// MF R2 forward signal 9.
pub const DAHDI_TONE_MFR2_FWD_9: c_int = DAHDI_TONE_MFR2_FWD_BASE + 8;
/// MF R2 forward signal 10.
pub const DAHDI_TONE_MFR2_FWD_10: c_int = DAHDI_TONE_MFR2_FWD_BASE + 9;
/// MF R2 forward signal 11.
pub const DAHDI_TONE_MFR2_FWD_11: c_int = DAHDI_TONE_MFR2_FWD_BASE + 10;
/// MF R2 forward signal 12.
pub const DAHDI_TONE_MFR2_FWD_12: c_int = DAHDI_TONE_MFR2_FWD_BASE + 11;
/// MF R2 forward signal 13.
pub const DAHDI_TONE_MFR2_FWD_13: c_int = DAHDI_TONE_MFR2_FWD_BASE + 12;
/// MF R2 forward signal 14.
pub const DAHDI_TONE_MFR2_FWD_14: c_int = DAHDI_TONE_MFR2_FWD_BASE + 13;
/// MF R2 forward signal 15.
pub const DAHDI_TONE_MFR2_FWD_15: c_int = DAHDI_TONE_MFR2_FWD_BASE + 14;
/// Last MF R2 forward tone.
pub const DAHDI_TONE_MFR2_FWD_MAX: c_int = DAHDI_TONE_MFR2_FWD_15;

/// MF R2 backward signal 1.
pub const DAHDI_TONE_MFR2_REV_1: c_int = DAHDI_TONE_MFR2_REV_BASE;
/// MF R2 backward signal 2.
pub const DAHDI_TONE_MFR2_REV_2: c_int = DAHDI_TONE_MFR2_REV_BASE + 1;
/// MF R2 backward signal 3.
pub const DAHDI_TONE_MFR2_REV_3: c_int = DAHDI_TONE_MFR2_REV_BASE + 2;
/// MF R2 backward signal 4.
pub const DAHDI_TONE_MFR2_REV_4: c_int = DAHDI_TONE_MFR2_REV_BASE + 3;
/// MF R2 backward signal 5.
pub const DAHDI_TONE_MFR2_REV_5: c_int = DAHDI_TONE_MFR2_REV_BASE + 4;
/// MF R2 backward signal 6.
pub const DAHDI_TONE_MFR2_REV_6: c_int = DAHDI_TONE_MFR2_REV_BASE + 5;
/// MF R2 backward signal 7.
pub const DAHDI_TONE_MFR2_REV_7: c_int = DAHDI_TONE_MFR2_REV_BASE + 6;
/// MF R2 backward signal 8.
pub const DAHDI_TONE_MFR2_REV_8: c_int = DAHDI_TONE_MFR2_REV_BASE + 7;
/// MF R2 backward signal 9.
pub const DAHDI_TONE_MFR2_REV_9: c_int = DAHDI_TONE_MFR2_REV_BASE + 8;
/// MF R2 backward signal 10.
pub const DAHDI_TONE_MFR2_REV_10: c_int = DAHDI_TONE_MFR2_REV_BASE + 9;
/// MF R2 backward signal 11.
pub const DAHDI_TONE_MFR2_REV_11: c_int = DAHDI_TONE_MFR2_REV_BASE + 10;
/// MF R2 backward signal 12.
pub const DAHDI_TONE_MFR2_REV_12: c_int = DAHDI_TONE_MFR2_REV_BASE + 11;
/// MF R2 backward signal 13.
pub const DAHDI_TONE_MFR2_REV_13: c_int = DAHDI_TONE_MFR2_REV_BASE + 12;
/// MF R2 backward signal 14.
pub const DAHDI_TONE_MFR2_REV_14: c_int = DAHDI_TONE_MFR2_REV_BASE + 13;
/// MF R2 backward signal 15.
pub const DAHDI_TONE_MFR2_REV_15: c_int = DAHDI_TONE_MFR2_REV_BASE + 14;
/// Last MF R2 backward tone.
pub const DAHDI_TONE_MFR2_REV_MAX: c_int = DAHDI_TONE_MFR2_REV_15;

// ---------------------------------------------------------------------------
// Companding law, dialling, cadences, tone detection
// ---------------------------------------------------------------------------

/// The span's default law.
pub const DAHDI_LAW_DEFAULT: c_int = 0;
/// µ-law (G.711).
pub const DAHDI_LAW_MULAW: c_int = 1;
/// A-law (G.711).
pub const DAHDI_LAW_ALAW: c_int = 2;

/// [`DAHDI_DIAL`]: append to the digits being dialled.
pub const DAHDI_DIAL_OP_APPEND: c_int = 1;
/// [`DAHDI_DIAL`]: replace the digits being dialled.
pub const DAHDI_DIAL_OP_REPLACE: c_int = 2;
/// [`DAHDI_DIAL`]: cancel dialling.
pub const DAHDI_DIAL_OP_CANCEL: c_int = 3;

/// Number of entries in a ring cadence.
pub const DAHDI_MAX_CADENCE: usize = 16;

/// [`DAHDI_TONEDETECT`]: detect tones.
pub const DAHDI_TONEDETECT_ON: c_int = 1 << 0;
/// [`DAHDI_TONEDETECT`]: mute the received audio while a tone is detected.
pub const DAHDI_TONEDETECT_MUTE: c_int = 1 << 1;

/// Most DTMF, MF R1 or MF R2 digits queued for dialling.
pub const DAHDI_MAX_DTMF_BUF: usize = 256;
/// Most events a channel's event queue holds.
pub const DAHDI_MAX_EVENTSIZE: c_int = 64;

// ---------------------------------------------------------------------------
// Hook states ([`DAHDI_HOOK`])
// ---------------------------------------------------------------------------

/// Go on hook.
pub const DAHDI_ONHOOK: c_int = 0;
/// Go off hook.
pub const DAHDI_OFFHOOK: c_int = 1;
/// Wink (off hook momentarily).
pub const DAHDI_WINK: c_int = 2;
/// Flash (on hook momentarily).
pub const DAHDI_FLASH: c_int = 3;
/// Start the line.
pub const DAHDI_START: c_int = 4;
/// Ring the line (the same as start).
pub const DAHDI_RING: c_int = 5;
/// Turn the ringer off.
pub const DAHDI_RINGOFF: c_int = 6;

// ---------------------------------------------------------------------------
// Flush flags ([`DAHDI_FLUSH`])
// ---------------------------------------------------------------------------

/// Flush and stop the read (input) side.
pub const DAHDI_FLUSH_READ: c_int = 1;
/// Flush and stop the write (output) side.
pub const DAHDI_FLUSH_WRITE: c_int = 2;
/// Flush and stop both sides.
pub const DAHDI_FLUSH_BOTH: c_int = DAHDI_FLUSH_READ | DAHDI_FLUSH_WRITE;
/// Flush the event queue.
pub const DAHDI_FLUSH_EVENT: c_int = 4;
/// Flush everything.
pub const DAHDI_FLUSH_ALL: c_int = DAHDI_FLUSH_BOTH | DAHDI_FLUSH_EVENT;

/// Most spans.
pub const DAHDI_MAX_SPANS: c_int = 128;
/// Most channels.
pub const DAHDI_MAX_CHANNELS: c_int = 1024;
/// Most conferences.
pub const DAHDI_MAX_CONF: c_int = 1024;

// ---------------------------------------------------------------------------
// Conference modes
// ---------------------------------------------------------------------------

/// Mask of the mode in a conference mode.
pub const DAHDI_CONF_MODE_MASK: c_int = 0xFF;
/// Normal mode.
pub const DAHDI_CONF_NORMAL: c_int = 0;
/// Monitor the receive side of another channel.
pub const DAHDI_CONF_MONITOR: c_int = 1;
/// Monitor the transmit side of another channel.
pub const DAHDI_CONF_MONITORTX: c_int = 2;
/// Monitor both sides of another channel.
pub const DAHDI_CONF_MONITORBOTH: c_int = 3;
/// Conference mode.
pub const DAHDI_CONF_CONF: c_int = 4;
/// Conference announce mode.
pub const DAHDI_CONF_CONFANN: c_int = 5;
/// Conference monitor mode.
pub const DAHDI_CONF_CONFMON: c_int = 6;
/// Conference announce/monitor mode.
pub const DAHDI_CONF_CONFANNMON: c_int = 7;
/// Real and pseudo port both in the conference.
pub const DAHDI_CONF_REALANDPSEUDO: c_int = 8;
/// Do not decode or interpret.
pub const DAHDI_CONF_DIGITALMON: c_int = 9;
/// Monitor receive before the echo canceller.
pub const DAHDI_CONF_MONITOR_RX_PREECHO: c_int = 10;
/// Monitor transmit before the echo canceller.
pub const DAHDI_CONF_MONITOR_TX_PREECHO: c_int = 11;
/// Monitor both sides before the echo canceller.
pub const DAHDI_CONF_MONITORBOTH_PREECHO: c_int = 12;
/// Mask of the flags in a conference mode.
pub const DAHDI_CONF_FLAG_MASK: c_int = 0xFF00;
/// A listener on the conference.
pub const DAHDI_CONF_LISTENER: c_int = 0x100;
/// A talker on the conference.
pub const DAHDI_CONF_TALKER: c_int = 0x200;
/// The pseudo channel is a listener.
pub const DAHDI_CONF_PSEUDO_LISTENER: c_int = 0x400;
/// The pseudo channel is a talker.
pub const DAHDI_CONF_PSEUDO_TALKER: c_int = 0x800;

// ---------------------------------------------------------------------------
// Alarm bits (`dahdi_spaninfo::alarms`, `dahdi_params::chan_alarms`)
// ---------------------------------------------------------------------------

/// No alarms.
pub const DAHDI_ALARM_NONE: c_int = 0;
/// Recovering from an alarm.
pub const DAHDI_ALARM_RECOVER: c_int = 1 << 0;
/// In loopback.
pub const DAHDI_ALARM_LOOPBACK: c_int = 1 << 1;
/// Yellow alarm (remote alarm indication).
pub const DAHDI_ALARM_YELLOW: c_int = 1 << 2;
/// Red alarm (loss of signal or framing).
pub const DAHDI_ALARM_RED: c_int = 1 << 3;
/// Blue alarm (alarm indication signal).
pub const DAHDI_ALARM_BLUE: c_int = 1 << 4;
/// The span is not open.
pub const DAHDI_ALARM_NOTOPEN: c_int = 1 << 5;
/// Loss of signal.
pub const DAHDI_ALARM_LOS: c_int = 1 << 8;
/// Loss of frame alignment.
pub const DAHDI_ALARM_LFA: c_int = 1 << 9;
/// Loss of multi-frame alignment.
pub const DAHDI_ALARM_LMFA: c_int = 1 << 10;

// ---------------------------------------------------------------------------
// Maintenance modes ([`DAHDI_MAINT`])
// ---------------------------------------------------------------------------

/// Normal mode.
pub const DAHDI_MAINT_NONE: c_int = 0;
/// Local loopback.
pub const DAHDI_MAINT_LOCALLOOP: c_int = 1;
/// Remote loopback.
pub const DAHDI_MAINT_REMOTELOOP: c_int = 2;
/// Remote (network line) loopback.
pub const DAHDI_MAINT_NETWORKLINELOOP: c_int = 2;
/// Send the loop-up code.
pub const DAHDI_MAINT_LOOPUP: c_int = 3;
/// Send the loop-down code.
pub const DAHDI_MAINT_LOOPDOWN: c_int = 4;
/// Insert a FAS defect.
pub const DAHDI_MAINT_FAS_DEFECT: c_int = 6;
/// Insert a multiframe defect.
pub const DAHDI_MAINT_MULTI_DEFECT: c_int = 7;
/// Insert a CRC defect.
pub const DAHDI_MAINT_CRC_DEFECT: c_int = 8;
/// Insert a CAS defect.
pub const DAHDI_MAINT_CAS_DEFECT: c_int = 9;
/// Insert a PRBS defect.
pub const DAHDI_MAINT_PRBS_DEFECT: c_int = 10;
/// Insert a bipolar defect.
pub const DAHDI_MAINT_BIPOLAR_DEFECT: c_int = 11;
/// Enable the PRBS generator/monitor.
pub const DAHDI_MAINT_PRBS: c_int = 12;
/// Remote (network payload) loopback.
pub const DAHDI_MAINT_NETWORKPAYLOADLOOP: c_int = 13;
/// Clear the error counters.
pub const DAHDI_RESET_COUNTERS: c_int = 14;
/// Simulate alarms.
pub const DAHDI_MAINT_ALARM_SIM: c_int = 15;

// ---------------------------------------------------------------------------
// IO mux flags ([`DAHDI_IOMUX`])
// ---------------------------------------------------------------------------

/// Wait until a read is possible.
pub const DAHDI_IOMUX_READ: c_int = 1;
/// Wait until a write is possible.
pub const DAHDI_IOMUX_WRITE: c_int = 2;
/// Wait until the writes are done.
pub const DAHDI_IOMUX_WRITEEMPTY: c_int = 4;
/// Wait until a signalling event is available.
pub const DAHDI_IOMUX_SIGEVENT: c_int = 8;
/// Do not wait if there is nothing to report.
pub const DAHDI_IOMUX_NOWAIT: c_int = 0x100;

// ---------------------------------------------------------------------------
// Events ([`DAHDI_GETEVENT`])
// ---------------------------------------------------------------------------

/// No event.
pub const DAHDI_EVENT_NONE: c_int = 0;
/// Went on hook.
pub const DAHDI_EVENT_ONHOOK: c_int = 1;
/// Went off hook, or a ring was detected.
pub const DAHDI_EVENT_RINGOFFHOOK: c_int = 2;
/// Got a wink or a flash.
pub const DAHDI_EVENT_WINKFLASH: c_int = 3;
/// Got an alarm.
pub const DAHDI_EVENT_ALARM: c_int = 4;
/// The alarm cleared.
pub const DAHDI_EVENT_NOALARM: c_int = 5;
/// HDLC abort frame.
pub const DAHDI_EVENT_ABORT: c_int = 6;
/// HDLC frame overrun.
pub const DAHDI_EVENT_OVERRUN: c_int = 7;
/// HDLC bad FCS.
pub const DAHDI_EVENT_BADFCS: c_int = 8;
/// Dialling complete.
pub const DAHDI_EVENT_DIALCOMPLETE: c_int = 9;
/// The ringer went on.
pub const DAHDI_EVENT_RINGERON: c_int = 10;
/// The ringer went off.
pub const DAHDI_EVENT_RINGEROFF: c_int = 11;
/// A hook change completed.
pub const DAHDI_EVENT_HOOKCOMPLETE: c_int = 12;
/// CAS bits changed.
pub const DAHDI_EVENT_BITSCHANGED: c_int = 13;
/// A pulse-dialled digit is starting.
pub const DAHDI_EVENT_PULSE_START: c_int = 14;
/// Timer expired.
pub const DAHDI_EVENT_TIMER_EXPIRED: c_int = 15;
/// Timer ping ready.
pub const DAHDI_EVENT_TIMER_PING: c_int = 16;
/// Polarity reversal.
pub const DAHDI_EVENT_POLARITY: c_int = 17;
/// A ring began.
pub const DAHDI_EVENT_RINGBEGIN: c_int = 18;
/// The echo canceller was disabled.
pub const DAHDI_EVENT_EC_DISABLED: c_int = 19;
/// The channel was removed; close it.
pub const DAHDI_EVENT_REMOVED: c_int = 20;
/// A neon MWI pulse was detected.
pub const DAHDI_EVENT_NEONMWI_ACTIVE: c_int = 21;
/// No neon MWI pulse for a while.
pub const DAHDI_EVENT_NEONMWI_INACTIVE: c_int = 22;
/// CED tone detected in the transmit direction.
pub const DAHDI_EVENT_TX_CED_DETECTED: c_int = 23;
/// CED tone detected in the receive direction.
pub const DAHDI_EVENT_RX_CED_DETECTED: c_int = 24;
/// CNG tone detected in the transmit direction.
pub const DAHDI_EVENT_TX_CNG_DETECTED: c_int = 25;
/// CNG tone detected in the receive direction.
pub const DAHDI_EVENT_RX_CNG_DETECTED: c_int = 26;
/// The echo canceller's NLP (only) was disabled.
pub const DAHDI_EVENT_EC_NLP_DISABLED: c_int = 27;
/// The echo canceller's NLP (only) was enabled.
pub const DAHDI_EVENT_EC_NLP_ENABLED: c_int = 28;
/// The read buffer overran.
pub const DAHDI_EVENT_READ_OVERRUN: c_int = 29;
/// The write buffer underran.
pub const DAHDI_EVENT_WRITE_UNDERRUN: c_int = 30;
/// OR'd with a pulse-dialled digit received.
pub const DAHDI_EVENT_PULSEDIGIT: c_int = 1 << 16;
/// OR'd with a DTMF digit whose key went down.
pub const DAHDI_EVENT_DTMFDOWN: c_int = 1 << 17;
/// OR'd with a DTMF digit whose key went up.
pub const DAHDI_EVENT_DTMFUP: c_int = 1 << 18;

/// Most echo canceller parameters in one [`DAHDI_ECHOCANCEL_PARAMS`].
pub const DAHDI_MAX_ECHOCANPARAMS: usize = 8;

// ---------------------------------------------------------------------------
// Structures
// ---------------------------------------------------------------------------

/// Implements `Default` as all-zero bytes, the way C code `memset`s these
/// structs before filling the fields it needs.
macro_rules! zeroed_default {
    ($($s:ident),* $(,)?) => {$(
        impl Default for $s {
            fn default() -> Self {
                // SAFETY: every field of this struct is an integer, an array
                // of integers or a raw pointer, for all of which all-zero
                // bytes are a valid value (a pointer becomes null).
                unsafe { core::mem::zeroed() }
            }
        }
    )*};
}

/// Source and destination formats of a transcoder channel.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_transcoder_formats {
    pub srcfmt: u32,
    pub dstfmt: u32,
}

/// A transcoder's description ([`DAHDI_TC_GETINFO`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_transcoder_info {
    pub tcnum: u32,
    pub name: [c_char; 80],
    pub numchannels: u32,
    pub dstfmts: u32,
    pub srcfmts: u32,
}

/// A channel's parameters ([`DAHDI_GET_PARAMS`], [`DAHDI_SET_PARAMS`]).
/// Times are in milliseconds.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_params {
    /// Channel number (in: 0 for the open channel).
    pub channo: c_int,
    /// Span number.
    pub spanno: c_int,
    /// Channel number within its span.
    pub chanpos: c_int,
    /// Signalling type in use, a `DAHDI_SIG_*` (read-only).
    pub sigtype: c_int,
    /// Signalling types the channel can do, `DAHDI_SIG_*` bits (read-only).
    pub sigcap: c_int,
    /// Whether the far end is off hook (read-only).
    pub rxisoffhook: c_int,
    /// Received CAS bits (read-only).
    pub rxbits: c_int,
    /// Transmitted CAS bits (read-only).
    pub txbits: c_int,
    /// Transmitted hook signal (read-only).
    pub txhooksig: c_int,
    /// Received hook signal (read-only).
    pub rxhooksig: c_int,
    /// Companding law, [`DAHDI_LAW_MULAW`] or [`DAHDI_LAW_ALAW`] (read-only).
    pub curlaw: c_int,
    /// What is considered the idle state (read-only).
    pub idlebits: c_int,
    /// Name of the channel.
    pub name: [c_char; 40],
    pub prewinktime: c_int,
    pub preflashtime: c_int,
    pub winktime: c_int,
    pub flashtime: c_int,
    pub starttime: c_int,
    pub rxwinktime: c_int,
    pub rxflashtime: c_int,
    pub debouncetime: c_int,
    pub pulsebreaktime: c_int,
    pub pulsemaketime: c_int,
    pub pulseaftertime: c_int,
    /// Alarms on this channel, `DAHDI_ALARM_*` bits.
    pub chan_alarms: u32,
}

/// A span's status ([`DAHDI_SPANSTAT`]); packed in the header.
#[repr(C, packed)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_spaninfo {
    pub spanno: c_int,
    pub name: [c_char; 20],
    pub desc: [c_char; 40],
    pub alarms: c_int,
    pub txlevel: c_int,
    pub rxlevel: c_int,
    pub bpvcount: c_int,
    pub crc4count: c_int,
    pub ebitcount: c_int,
    pub fascount: c_int,
    pub fecount: u32,
    pub cvcount: u32,
    pub becount: u32,
    pub prbs: u32,
    pub errsec: u32,
    pub irqmisses: c_int,
    pub syncsrc: c_int,
    pub numchans: c_int,
    pub totalchans: c_int,
    pub totalspans: c_int,
    pub lbo: c_int,
    pub lineconfig: c_int,
    pub lboname: [c_char; 40],
    pub location: [c_char; 40],
    pub manufacturer: [c_char; 40],
    pub devicetype: [c_char; 40],
    pub irq: c_int,
    pub linecompat: c_int,
    pub spantype: [c_char; 6],
}

/// A span's status in the first version of the interface
/// ([`DAHDI_SPANSTAT_V1`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_spaninfo_v1 {
    pub spanno: c_int,
    pub name: [c_char; 20],
    pub desc: [c_char; 40],
    pub alarms: c_int,
    pub txlevel: c_int,
    pub rxlevel: c_int,
    pub bpvcount: c_int,
    pub crc4count: c_int,
    pub ebitcount: c_int,
    pub fascount: c_int,
    pub irqmisses: c_int,
    pub syncsrc: c_int,
    pub numchans: c_int,
    pub totalchans: c_int,
    pub totalspans: c_int,
    pub lbo: c_int,
    pub lineconfig: c_int,
    pub lboname: [c_char; 40],
    pub location: [c_char; 40],
    pub manufacturer: [c_char; 40],
    pub devicetype: [c_char; 40],
    pub irq: c_int,
    pub linecompat: c_int,
    pub spantype: [c_char; 6],
}

/// A span's maintenance mode ([`DAHDI_MAINT`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_maintinfo {
    pub spanno: c_int,
    /// A `DAHDI_MAINT_*` command.
    pub command: c_int,
}

/// A channel's conference mode ([`DAHDI_GETCONF`], [`DAHDI_SETCONF`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_confinfo {
    /// Channel number, 0 for the open channel.
    pub chan: c_int,
    pub confno: c_int,
    /// A `DAHDI_CONF_*` mode with its flags.
    pub confmode: c_int,
}

/// A channel's audio gain tables ([`DAHDI_GETGAINS`], [`DAHDI_SETGAINS`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_gains {
    /// Channel number, 0 for the open channel.
    pub chan: c_int,
    pub rxgain: [u8; 256],
    pub txgain: [u8; 256],
}

/// A span's line configuration ([`DAHDI_SPANCONFIG`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_lineconfig {
    /// Span number, 0 to use `name`.
    pub span: c_int,
    pub name: [c_char; 20],
    pub lbo: c_int,
    /// `DAHDI_CONFIG_*` framing and coding bits.
    pub lineconfig: c_int,
    pub sync: c_int,
}

/// A channel's configuration ([`DAHDI_CHANCONFIG`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_chanconfig {
    /// Channel number, 0 to use `name`.
    pub chan: c_int,
    pub name: [c_char; 40],
    /// A `DAHDI_SIG_*` signalling type.
    pub sigtype: c_int,
    /// A `DAHDI_LAW_*` law.
    pub deflaw: c_int,
    pub master: c_int,
    pub idlebits: c_int,
    pub netdev_name: [c_char; 16],
}

/// One cadence step of a tone in a tone zone.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_tone_def {
    pub tone: c_int,
    pub next: c_int,
    pub samples: c_int,
    pub shift: c_int,
    pub fac1: c_int,
    pub init_v2_1: c_int,
    pub init_v3_1: c_int,
    pub fac2: c_int,
    pub init_v2_2: c_int,
    pub init_v3_2: c_int,
    pub modulate: c_int,
}

/// A tone zone to load ([`DAHDI_LOADZONE`]); `count` [`dahdi_tone_def`]s
/// follow it in memory.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_tone_def_header {
    pub count: c_int,
    pub zone: c_int,
    /// Ring cadence in ms, ending with a 0.
    pub ringcadence: [c_int; DAHDI_MAX_CADENCE],
    pub name: [c_char; 40],
    /// The header's flexible array member.
    pub tones: [dahdi_tone_def; 0],
}

/// A channel's buffer policy ([`DAHDI_GET_BUFINFO`], [`DAHDI_SET_BUFINFO`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_bufferinfo {
    /// A `DAHDI_POLICY_*`.
    pub txbufpolicy: c_int,
    /// A `DAHDI_POLICY_*`.
    pub rxbufpolicy: c_int,
    pub numbufs: c_int,
    pub bufsize: c_int,
    /// Full read buffers (read-only).
    pub readbufs: c_int,
    /// Full write buffers (read-only).
    pub writebufs: c_int,
}

/// Dialling tone lengths ([`DAHDI_GET_DIALPARAMS`], [`DAHDI_SET_DIALPARAMS`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_dialparams {
    pub mfv1_tonelen: c_int,
    pub dtmf_tonelen: c_int,
    pub mfr2_tonelen: c_int,
    /// Always 0.
    pub reserved: [c_int; 3],
}

/// A dial string operation ([`DAHDI_DIAL`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_dialoperation {
    /// A `DAHDI_DIAL_OP_*`.
    pub op: c_int,
    /// NUL-terminated digits; `T` prefixes DTMF, `M` MF, `P` pulse.
    pub dialstr: [c_char; DAHDI_MAX_DTMF_BUF],
}

/// One named echo canceller parameter.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_echocanparam {
    pub name: [c_char; 16],
    pub value: i32,
}

/// Echo canceller settings ([`DAHDI_ECHOCANCEL_PARAMS`]);
/// `param_count` [`dahdi_echocanparam`]s follow it in memory.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_echocanparams {
    /// Tail length in taps, 8 per millisecond; 0 disables the canceller.
    pub tap_length: u32,
    pub param_count: u32,
    /// The header's flexible array member.
    pub params: [dahdi_echocanparam; 0],
}

/// A ring cadence for an FXS port ([`DAHDI_SETCADENCE`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_ring_cadence {
    pub ringcadence: [c_int; DAHDI_MAX_CADENCE],
}

/// A channel's single-frequency tone configuration ([`DAHDI_SFCONFIG`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_sfconfig {
    /// Channel number, 0 to use `name`.
    pub chan: c_int,
    pub name: [c_char; 40],
    pub rxp1: c_long,
    pub rxp2: c_long,
    pub rxp3: c_long,
    pub txtone: c_int,
    pub tx_v2: c_int,
    pub tx_v3: c_int,
    /// `DAHDI_REVERSE_*` bits.
    pub toneflag: c_int,
}

/// An ioctl on another channel through the control device
/// ([`DAHDI_INDIRECT`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_indirect_data {
    pub chan: c_int,
    pub op: c_int,
    pub data: *mut c_void,
}

/// The running DAHDI version and its echo cancellers ([`DAHDI_GETVERSION`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_versioninfo {
    pub version: [c_char; 80],
    pub echo_canceller: [c_char; 80],
}

/// An echo canceller module to attach to a channel
/// ([`DAHDI_ATTACH_ECHOCAN`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_attach_echocan {
    pub chan: c_int,
    /// Module name; empty for none.
    pub echocan: [c_char; 16],
}

/// A dynamic span ([`DAHDI_DYNAMIC_CREATE`], [`DAHDI_DYNAMIC_DESTROY`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_dynamic_span {
    pub driver: [c_char; 20],
    pub addr: [c_char; 40],
    pub numchans: c_int,
    pub timing: c_int,
    /// Filled in by DAHDI.
    pub spanno: c_int,
}

/// A hardware gain ([`DAHDI_SET_HWGAIN`]). The header's `tx` is a one-bit
/// bitfield; it lives in `tx_bitfield`, read and written with
/// [`dahdi_hwgain::tx`] and [`dahdi_hwgain::set_tx`].
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_hwgain {
    /// Gain in tenths of a dB (-3.5 dB is -35).
    pub newgain: i32,
    /// Storage unit of the `tx:1` bitfield.
    pub tx_bitfield: u32,
}

/// Bit of `dahdi_hwgain::tx_bitfield` that holds `tx`: C compilers allocate
/// bitfields from the least significant bit on little-endian targets and
/// from the most significant one on big-endian targets.
#[cfg(target_endian = "little")]
const HWGAIN_TX_BIT: u32 = 1;
#[cfg(target_endian = "big")]
const HWGAIN_TX_BIT: u32 = 1 << 31;

impl dahdi_hwgain {
    /// Whether the gain is for transmit (`true`) or receive (`false`).
    pub fn tx(&self) -> bool {
        self.tx_bitfield & HWGAIN_TX_BIT != 0
    }

    /// Sets whether the gain is for transmit (`true`) or receive (`false`).
    pub fn set_tx(&mut self, tx: bool) {
        if tx {
            self.tx_bitfield |= HWGAIN_TX_BIT;
        } else {
            self.tx_bitfield &= !HWGAIN_TX_BIT;
        }
    }
}

/// Visual message-waiting indication types ([`DAHDI_VMWI_CONFIG`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_vmwi_info {
    /// `DAHDI_VMWI_*` bits.
    pub vmwi_type: c_uint,
}

/// VMWI by line reversal.
pub const DAHDI_VMWI_LREV: c_uint = 1 << 0;
/// VMWI by 90 V DC.
pub const DAHDI_VMWI_HVDC: c_uint = 1 << 1;
/// VMWI by 90 V AC (neon lamp).
pub const DAHDI_VMWI_HVAC: c_uint = 1 << 2;

/// Radio status: receiving.
pub const DAHDI_RADSTAT_RX: c_int = 1;
/// Radio status: transmitting.
pub const DAHDI_RADSTAT_TX: c_int = 2;
/// Radio status: receiving continuous tone with the current settings.
pub const DAHDI_RADSTAT_RXCT: c_int = 4;
/// Radio status: receiving COR.
pub const DAHDI_RADSTAT_RXCOR: c_int = 8;
/// Radio status: ignoring COR.
pub const DAHDI_RADSTAT_IGNCOR: c_int = 16;
/// Radio status: ignoring CTCSS/DCS decode.
pub const DAHDI_RADSTAT_IGNCT: c_int = 32;
/// Radio status: blocking CTCSS/DCS encode.
pub const DAHDI_RADSTAT_NOENCODE: c_int = 64;

/// A radio channel's status ([`DAHDI_RADIO_GETSTAT`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_radio_stat {
    pub ctcode_rx: c_ushort,
    pub ctclass: c_ushort,
    pub ctcode_tx: c_ushort,
    /// `DAHDI_RADSTAT_*` bits.
    pub radstat: u8,
}

/// Radio parameter: invert COR.
pub const DAHDI_RADPAR_INVERTCOR: c_ushort = 1;
/// Radio parameter: ignore COR.
pub const DAHDI_RADPAR_IGNORECOR: c_ushort = 2;
/// Radio parameter: ignore CTCSS/DCS decode.
pub const DAHDI_RADPAR_IGNORECT: c_ushort = 3;
/// Radio parameter: block CTCSS/DCS encode.
pub const DAHDI_RADPAR_NOENCODE: c_ushort = 4;
/// Radio parameter: COR trigger threshold (0-7).
pub const DAHDI_RADPAR_CORTHRESH: c_ushort = 5;
/// Radio parameter: external receive tone decode mode.
pub const DAHDI_RADPAR_EXTRXTONE: c_ushort = 6;
/// Radio parameter: highest tone index.
pub const DAHDI_RADPAR_NUMTONES: c_ushort = 7;
/// Radio parameter: clear all tone indexes.
pub const DAHDI_RADPAR_INITTONE: c_ushort = 8;
/// Radio parameter: receive CTCSS/DCS tone.
pub const DAHDI_RADPAR_RXTONE: c_ushort = 9;
/// Radio parameter: receive tone class.
pub const DAHDI_RADPAR_RXTONECLASS: c_ushort = 10;
/// Radio parameter: transmit CTCSS/DCS tone.
pub const DAHDI_RADPAR_TXTONE: c_ushort = 11;
/// Radio parameter: receive indication debounce time (ms).
pub const DAHDI_RADPAR_DEBOUNCETIME: c_ushort = 12;
/// Radio parameter: end of transmit with no CT tone (ms).
pub const DAHDI_RADPAR_BURSTTIME: c_ushort = 13;
/// Radio parameter: UIOA/UIOB data.
pub const DAHDI_RADPAR_UIODATA: c_ushort = 14;
/// Radio parameter: UIOA/UIOB direction.
pub const DAHDI_RADPAR_UIOMODE: c_ushort = 15;
/// Radio parameter: remote control data mode.
pub const DAHDI_RADPAR_REMMODE: c_ushort = 16;
/// Remote control data mode: none.
pub const DAHDI_RADPAR_REM_NONE: c_int = 0;
/// Remote control data mode: Doug Hall RBI-1.
pub const DAHDI_RADPAR_REM_RBI1: c_int = 1;
/// Remote control data mode: serial, 9600 bps.
pub const DAHDI_RADPAR_REM_SERIAL: c_int = 2;
/// Remote control data mode: serial ASCII, 9600 bps.
pub const DAHDI_RADPAR_REM_SERIAL_ASCII: c_int = 3;
/// Radio parameter: remote control write data block and command.
pub const DAHDI_RADPAR_REMCOMMAND: c_ushort = 17;
/// Radio parameter: audio de-emphasis.
pub const DAHDI_RADPAR_DEEMP: c_ushort = 18;
/// Radio parameter: audio pre-emphasis.
pub const DAHDI_RADPAR_PREEMP: c_ushort = 19;
/// Radio parameter: receive gain.
pub const DAHDI_RADPAR_RXGAIN: c_ushort = 20;
/// Radio parameter: transmit gain.
pub const DAHDI_RADPAR_TXGAIN: c_ushort = 21;

/// Length of the serial buffer in [`dahdi_radio_param`].
pub const RAD_SERIAL_BUFLEN: usize = 128;

/// A radio channel parameter ([`DAHDI_RADIO_GETPARAM`],
/// [`DAHDI_RADIO_SETPARAM`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dahdi_radio_param {
    /// A `DAHDI_RADPAR_*`.
    pub radpar: c_ushort,
    /// Tone number.
    pub index: c_ushort,
    pub data: c_int,
    pub data2: c_int,
    pub buf: [u8; RAD_SERIAL_BUFLEN],
}

zeroed_default!(
    dahdi_transcoder_formats,
    dahdi_transcoder_info,
    dahdi_params,
    dahdi_spaninfo,
    dahdi_spaninfo_v1,
    dahdi_maintinfo,
    dahdi_confinfo,
    dahdi_gains,
    dahdi_lineconfig,
    dahdi_chanconfig,
    dahdi_tone_def,
    dahdi_tone_def_header,
    dahdi_bufferinfo,
    dahdi_dialparams,
    dahdi_dialoperation,
    dahdi_echocanparam,
    dahdi_echocanparams,
    dahdi_ring_cadence,
    dahdi_sfconfig,
    dahdi_indirect_data,
    dahdi_versioninfo,
    dahdi_attach_echocan,
    dahdi_dynamic_span,
    dahdi_hwgain,
    dahdi_vmwi_info,
    dahdi_radio_stat,
    dahdi_radio_param,
);

// ---------------------------------------------------------------------------
// ioctl request numbers
// ---------------------------------------------------------------------------

/// The ioctl type ("magic") of every DAHDI request.
pub const DAHDI_CODE: u32 = 0xDA;
/// The ioctl type of the transcoder requests.
pub const DAHDI_TC_CODE: u32 = b'T' as u32;

/// Get the transfer block size (samples per read/write).
pub const DAHDI_GET_BLOCKSIZE: Ioctl = _IOR::<c_int>(DAHDI_CODE, 1);
/// Set the transfer block size (samples per read/write, 16 to 8192).
pub const DAHDI_SET_BLOCKSIZE: Ioctl = _IOW::<c_int>(DAHDI_CODE, 1);
/// Flush buffers and/or events and stop I/O (`DAHDI_FLUSH_*` bits).
pub const DAHDI_FLUSH: Ioctl = _IOW::<c_int>(DAHDI_CODE, 3);
/// Wait for writes to finish.
pub const DAHDI_SYNC: Ioctl = _IO(DAHDI_CODE, 4);
/// Get channel parameters, first version of the interface.
pub const DAHDI_GET_PARAMS_V1: Ioctl = _IOR::<dahdi_params>(DAHDI_CODE, 5);
/// Get channel parameters ([`dahdi_params`]).
pub const DAHDI_GET_PARAMS: Ioctl = _IOWR::<dahdi_params>(DAHDI_CODE, 5);
/// Set channel parameters ([`dahdi_params`]).
pub const DAHDI_SET_PARAMS: Ioctl = _IOW::<dahdi_params>(DAHDI_CODE, 5);
/// Set the hook state (`DAHDI_ONHOOK`, `DAHDI_OFFHOOK`, ...).
pub const DAHDI_HOOK: Ioctl = _IOW::<c_int>(DAHDI_CODE, 7);
/// Take the next signalling event (`DAHDI_EVENT_*`).
pub const DAHDI_GETEVENT: Ioctl = _IOR::<c_int>(DAHDI_CODE, 8);
/// Wait for I/O or an event (`DAHDI_IOMUX_*` bits in and out).
pub const DAHDI_IOMUX: Ioctl = _IOWR::<c_int>(DAHDI_CODE, 9);
/// Get a span's status ([`dahdi_spaninfo`]).
pub const DAHDI_SPANSTAT: Ioctl = _IOWR::<dahdi_spaninfo>(DAHDI_CODE, 10);
/// Get a span's status, first version ([`dahdi_spaninfo_v1`]).
pub const DAHDI_SPANSTAT_V1: Ioctl = _IOWR::<dahdi_spaninfo_v1>(DAHDI_CODE, 10);
/// Set a span's maintenance mode ([`dahdi_maintinfo`]).
pub const DAHDI_MAINT: Ioctl = _IOW::<dahdi_maintinfo>(DAHDI_CODE, 11);
/// Get the conference mode, first version.
pub const DAHDI_GETCONF_V1: Ioctl = _IOR::<dahdi_confinfo>(DAHDI_CODE, 12);
/// Get the conference mode ([`dahdi_confinfo`]).
pub const DAHDI_GETCONF: Ioctl = _IOWR::<dahdi_confinfo>(DAHDI_CODE, 12);
/// Set the conference mode, first version.
pub const DAHDI_SETCONF_V1: Ioctl = _IOW::<dahdi_confinfo>(DAHDI_CODE, 12);
/// Set the conference mode ([`dahdi_confinfo`]).
pub const DAHDI_SETCONF: Ioctl = _IOWR::<dahdi_confinfo>(DAHDI_CODE, 13);
/// Set up or remove a conference link ([`dahdi_confinfo`]).
pub const DAHDI_CONFLINK: Ioctl = _IOW::<dahdi_confinfo>(DAHDI_CODE, 14);
/// Print conference diagnostics on the console, first version.
pub const DAHDI_CONFDIAG_V1: Ioctl = _IOR::<c_int>(DAHDI_CODE, 15);
/// Print conference diagnostics on the console.
pub const DAHDI_CONFDIAG: Ioctl = _IOW::<c_int>(DAHDI_CODE, 15);
/// Get the audio gains, first version.
pub const DAHDI_GETGAINS_V1: Ioctl = _IOR::<dahdi_gains>(DAHDI_CODE, 16);
/// Get the audio gains ([`dahdi_gains`]).
pub const DAHDI_GETGAINS: Ioctl = _IOWR::<dahdi_gains>(DAHDI_CODE, 16);
/// Set the audio gains ([`dahdi_gains`]).
pub const DAHDI_SETGAINS: Ioctl = _IOW::<dahdi_gains>(DAHDI_CODE, 16);
/// Configure a span's line ([`dahdi_lineconfig`]).
pub const DAHDI_SPANCONFIG: Ioctl = _IOW::<dahdi_lineconfig>(DAHDI_CODE, 18);
/// Configure a channel ([`dahdi_chanconfig`]).
pub const DAHDI_CHANCONFIG: Ioctl = _IOW::<dahdi_chanconfig>(DAHDI_CODE, 19);
/// Set the conference mute mode.
pub const DAHDI_CONFMUTE: Ioctl = _IOW::<c_int>(DAHDI_CODE, 20);
/// Play a tone (`DAHDI_TONE_*`, or [`DAHDI_TONE_STOP`]).
pub const DAHDI_SENDTONE: Ioctl = _IOW::<c_int>(DAHDI_CODE, 21);
/// Get the channel's tone zone.
pub const DAHDI_GETTONEZONE: Ioctl = _IOR::<c_int>(DAHDI_CODE, 22);
/// Set the channel's tone zone.
pub const DAHDI_SETTONEZONE: Ioctl = _IOW::<c_int>(DAHDI_CODE, 22);
/// Set the default tone zone (control device only).
pub const DAHDI_DEFAULTZONE: Ioctl = _IOW::<c_int>(DAHDI_CODE, 24);
/// Load a tone zone ([`dahdi_tone_def_header`] and its tones).
pub const DAHDI_LOADZONE: Ioctl = _IOW::<dahdi_tone_def_header>(DAHDI_CODE, 25);
/// Free a tone zone.
pub const DAHDI_FREEZONE: Ioctl = _IOW::<c_int>(DAHDI_CODE, 26);
/// Get the buffer policy ([`dahdi_bufferinfo`]).
pub const DAHDI_GET_BUFINFO: Ioctl = _IOR::<dahdi_bufferinfo>(DAHDI_CODE, 27);
/// Set the buffer policy ([`dahdi_bufferinfo`]).
pub const DAHDI_SET_BUFINFO: Ioctl = _IOW::<dahdi_bufferinfo>(DAHDI_CODE, 27);
/// Get the dialling parameters ([`dahdi_dialparams`]).
pub const DAHDI_GET_DIALPARAMS: Ioctl = _IOR::<dahdi_dialparams>(DAHDI_CODE, 29);
/// Set the dialling parameters ([`dahdi_dialparams`]).
pub const DAHDI_SET_DIALPARAMS: Ioctl = _IOW::<dahdi_dialparams>(DAHDI_CODE, 29);
/// Append, replace or cancel a dial string ([`dahdi_dialoperation`]).
pub const DAHDI_DIAL: Ioctl = _IOW::<dahdi_dialoperation>(DAHDI_CODE, 31);
/// Put a clear channel into audio mode.
pub const DAHDI_AUDIOMODE: Ioctl = _IOW::<c_int>(DAHDI_CODE, 32);
/// Enable (non-zero; 32 to 1024 also sets the taps) or disable (0) the
/// echo canceller.
pub const DAHDI_ECHOCANCEL: Ioctl = _IOW::<c_int>(DAHDI_CODE, 33);
/// Enable the echo canceller with parameters ([`dahdi_echocanparams`]
/// followed by its [`dahdi_echocanparam`]s); a tap length of 0 disables it.
pub const DAHDI_ECHOCANCEL_PARAMS: Ioctl = _IOW::<dahdi_echocanparams>(DAHDI_CODE, 33);
/// Get the open channel's number.
pub const DAHDI_CHANNO: Ioctl = _IOR::<c_int>(DAHDI_CODE, 34);
/// Whether the channel is dialling.
pub const DAHDI_DIALING: Ioctl = _IOR::<c_int>(DAHDI_CODE, 35);
/// Put a clear channel into raw HDLC mode (no FCS).
pub const DAHDI_HDLCRAWMODE: Ioctl = _IOW::<c_int>(DAHDI_CODE, 36);
/// Put a clear channel into HDLC mode with FCS.
pub const DAHDI_HDLCFCSMODE: Ioctl = _IOW::<c_int>(DAHDI_CODE, 37);
/// Bind the generic `/dev/dahdi/channel` device to a channel number; must
/// come before any other ioctl on it.
pub const DAHDI_SPECIFY: Ioctl = _IOW::<c_int>(DAHDI_CODE, 38);
/// Set the law (`DAHDI_LAW_*`) until the channel is closed.
pub const DAHDI_SETLAW: Ioctl = _IOW::<c_int>(DAHDI_CODE, 39);
/// Carry signed 16-bit linear samples (non-zero) or the law (0) until the
/// channel is closed.
pub const DAHDI_SETLINEAR: Ioctl = _IOW::<c_int>(DAHDI_CODE, 40);
/// Put a clear channel into HDLC/PPP mode.
pub const DAHDI_HDLCPPP: Ioctl = _IOW::<c_int>(DAHDI_CODE, 41);
/// Set the ring cadence of an FXS port ([`dahdi_ring_cadence`]).
pub const DAHDI_SETCADENCE: Ioctl = _IOW::<dahdi_ring_cadence>(DAHDI_CODE, 42);
/// Get the received CAS bits.
pub const DAHDI_GETRXBITS: Ioctl = _IOR::<c_int>(DAHDI_CODE, 43);
/// Set the transmitted CAS bits.
pub const DAHDI_SETTXBITS: Ioctl = _IOW::<c_int>(DAHDI_CODE, 43);
/// Print channel diagnostics on the console, first version.
pub const DAHDI_CHANDIAG_V1: Ioctl = _IOR::<c_int>(DAHDI_CODE, 44);
/// Print channel diagnostics on the console.
pub const DAHDI_CHANDIAG: Ioctl = _IOW::<c_int>(DAHDI_CODE, 44);
/// Configure single-frequency tone signalling ([`dahdi_sfconfig`]).
pub const DAHDI_SFCONFIG: Ioctl = _IOW::<dahdi_sfconfig>(DAHDI_CODE, 46);
/// Set the timer expiry, in samples.
pub const DAHDI_TIMERCONFIG: Ioctl = _IOW::<c_int>(DAHDI_CODE, 47);
/// Acknowledge timer expiries (a count, or -1 for all).
pub const DAHDI_TIMERACK: Ioctl = _IOW::<c_int>(DAHDI_CODE, 48);
/// Get the conference mute mode.
pub const DAHDI_GETCONFMUTE: Ioctl = _IOR::<c_int>(DAHDI_CODE, 49);
/// Train the echo canceller in some ms, muted meanwhile.
pub const DAHDI_ECHOTRAIN: Ioctl = _IOW::<c_int>(DAHDI_CODE, 50);
/// On-hook transfer for some ms (done by the low-level driver).
pub const DAHDI_ONHOOKTRANSFER: Ioctl = _IOW::<c_int>(DAHDI_CODE, 51);
/// Queue a timer ping.
pub const DAHDI_TIMERPING: Ioctl = _IO(DAHDI_CODE, 52);
/// Acknowledge a timer ping.
pub const DAHDI_TIMERPONG: Ioctl = _IO(DAHDI_CODE, 53);
/// Get the signalling freeze.
pub const DAHDI_GETSIGFREEZE: Ioctl = _IOR::<c_int>(DAHDI_CODE, 54);
/// Set the signalling freeze.
pub const DAHDI_SETSIGFREEZE: Ioctl = _IOW::<c_int>(DAHDI_CODE, 54);
/// Perform an ioctl on another channel ([`dahdi_indirect_data`]).
pub const DAHDI_INDIRECT: Ioctl = _IOWR::<dahdi_indirect_data>(DAHDI_CODE, 56);
/// Get the DAHDI version ([`dahdi_versioninfo`]).
pub const DAHDI_GETVERSION: Ioctl = _IOR::<dahdi_versioninfo>(DAHDI_CODE, 57);
/// Loop the channel's receive back to its transmit.
pub const DAHDI_LOOPBACK: Ioctl = _IOW::<c_int>(DAHDI_CODE, 58);
/// Attach an echo canceller module to a channel ([`dahdi_attach_echocan`]).
pub const DAHDI_ATTACH_ECHOCAN: Ioctl = _IOW::<dahdi_attach_echocan>(DAHDI_CODE, 59);
/// Create a dynamic span ([`dahdi_dynamic_span`]).
pub const DAHDI_DYNAMIC_CREATE: Ioctl = _IOWR::<dahdi_dynamic_span>(DAHDI_CODE, 80);
/// Destroy a dynamic span ([`dahdi_dynamic_span`]).
pub const DAHDI_DYNAMIC_DESTROY: Ioctl = _IOW::<dahdi_dynamic_span>(DAHDI_CODE, 81);
/// Set a device's hardware gain ([`dahdi_hwgain`]).
pub const DAHDI_SET_HWGAIN: Ioctl = _IOW::<dahdi_hwgain>(DAHDI_CODE, 86);
/// Enable tone detection (`DAHDI_TONEDETECT_*` bits).
pub const DAHDI_TONEDETECT: Ioctl = _IOW::<c_int>(DAHDI_CODE, 91);
/// Set the polarity: 0 forward, 1 reverse.
pub const DAHDI_SETPOLARITY: Ioctl = _IOW::<c_int>(DAHDI_CODE, 92);
/// Deprecated transcoder interface, no longer supported by the kernel.
pub const DAHDI_TRANSCODE_OP: Ioctl = _IOWR::<c_int>(DAHDI_CODE, 93);
/// Allocate a transcoder channel ([`dahdi_transcoder_formats`]).
pub const DAHDI_TC_ALLOCATE: Ioctl = _IOW::<dahdi_transcoder_formats>(DAHDI_TC_CODE, 1);
/// Describe a transcoder ([`dahdi_transcoder_info`]).
pub const DAHDI_TC_GETINFO: Ioctl = _IOWR::<dahdi_transcoder_info>(DAHDI_TC_CODE, 2);
/// Set the number of waiting voicemail messages (0 turns the indication
/// off).
pub const DAHDI_VMWI: Ioctl = _IOWR::<c_int>(DAHDI_CODE, 94);
/// Configure the VMWI type ([`dahdi_vmwi_info`]).
pub const DAHDI_VMWI_CONFIG: Ioctl = _IOW::<dahdi_vmwi_info>(DAHDI_CODE, 95);
/// Start up a span.
pub const DAHDI_STARTUP: Ioctl = _IOW::<c_int>(DAHDI_CODE, 99);
/// Shut down a span.
pub const DAHDI_SHUTDOWN: Ioctl = _IOW::<c_int>(DAHDI_CODE, 100);
/// Set the HDLC rate.
pub const DAHDI_HDLC_RATE: Ioctl = _IOW::<c_int>(DAHDI_CODE, 101);
/// Put the echo canceller into fax mode, if it can.
pub const DAHDI_ECHOCANCEL_FAX_MODE: Ioctl = _IOW::<c_int>(DAHDI_CODE, 102);
/// Mirror another channel's receive traffic (only in kernels built with
/// `CONFIG_DAHDI_MIRROR`).
pub const DAHDI_RXMIRROR: Ioctl = _IOW::<c_int>(DAHDI_CODE, 103);
/// Mirror another channel's transmit traffic (only in kernels built with
/// `CONFIG_DAHDI_MIRROR`).
pub const DAHDI_TXMIRROR: Ioctl = _IOW::<c_int>(DAHDI_CODE, 104);
/// Enable (non-zero) or disable buffer events (read overrun, write
/// underrun).
pub const DAHDI_BUFFER_EVENTS: Ioctl = _IOW::<c_int>(DAHDI_CODE, 105);
/// Get a radio channel's status ([`dahdi_radio_stat`]).
pub const DAHDI_RADIO_GETSTAT: Ioctl = _IOR::<dahdi_radio_stat>(DAHDI_CODE, 57);
/// Get a radio channel parameter ([`dahdi_radio_param`]).
pub const DAHDI_RADIO_GETPARAM: Ioctl = _IOR::<dahdi_radio_param>(DAHDI_CODE, 58);
/// Set a radio channel parameter ([`dahdi_radio_param`]).
pub const DAHDI_RADIO_SETPARAM: Ioctl = _IOW::<dahdi_radio_param>(DAHDI_CODE, 58);
