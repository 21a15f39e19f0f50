//! The table the layout test compares with `dahdi/user.h`: every constant,
//! every ioctl number, and the size, alignment and field offsets of every
//! struct, each as the C expression that computes it and the value the Rust
//! definitions give.

use core::mem::{align_of, offset_of, size_of};

use crate::user::*;

/// Adds the header's integer constants, each compared as a `long long`.
macro_rules! constants {
    ($v:ident; $($name:ident),* $(,)?) => {
        $( $v.push((stringify!($name).to_string(), $name as i64)); )*
    };
}

/// Adds ioctl request numbers, compared as the 32-bit value the kernel's
/// `_IOC` macros compute (whatever integer type the C library's `ioctl`
/// takes the request as).
macro_rules! ioctls {
    ($v:ident; $($name:ident),* $(,)?) => {
        $( $v.push((
            concat!("(unsigned int)(", stringify!($name), ")").to_string(),
            i64::from($name as u32),
        )); )*
    };
}

/// Adds the size, alignment and every field offset of structs. The pattern
/// in `exhaustive` names every field without `..`, so a field added to a
/// Rust struct without being listed here fails to compile.
macro_rules! structs {
    ($v:ident; $($s:ident { $($f:ident),* $(,)? })*) => {$(
        {
            #[allow(dead_code)]
            fn exhaustive(x: $s) {
                let $s { $($f: _),* } = x;
            }
            $v.push((concat!("sizeof(struct ", stringify!($s), ")").to_string(), size_of::<$s>() as i64));
            $v.push((concat!("_Alignof(struct ", stringify!($s), ")").to_string(), align_of::<$s>() as i64));
            $( $v.push((
                concat!("offsetof(struct ", stringify!($s), ", ", stringify!($f), ")").to_string(),
                offset_of!($s, $f) as i64,
            )); )*
        }
    )*};
}

/// Every value the layout test checks: a C expression over `dahdi/user.h`
/// and what it must evaluate to. Not part of the API.
#[doc(hidden)]
pub fn layout() -> Vec<(String, i64)> {
    let mut v = Vec::with_capacity(640);
    constants!(v;
        ELAST,
        DAHDI_CONFIG_TXLEVEL,
        DAHDI_CONFIG_D4,
        DAHDI_CONFIG_ESF,
        DAHDI_CONFIG_AMI,
        DAHDI_CONFIG_B8ZS,
        DAHDI_CONFIG_CCS,
        DAHDI_CONFIG_HDB3,
        DAHDI_CONFIG_CRC4,
        DAHDI_CONFIG_NTTE,
        DAHDI_CONFIG_TERM,
        DAHDI_CONFIG_NOTOPEN,
        DAHDI_SIG_BROKEN,
        __DAHDI_SIG_FXO,
        __DAHDI_SIG_FXS,
        DAHDI_SIG_NONE,
        DAHDI_SIG_FXSLS,
        DAHDI_SIG_FXSGS,
        DAHDI_SIG_FXSKS,
        DAHDI_SIG_FXOLS,
        DAHDI_SIG_FXOGS,
        DAHDI_SIG_FXOKS,
        DAHDI_SIG_EM,
        __DAHDI_SIG_DACS,
        DAHDI_SIG_CLEAR,
        DAHDI_SIG_HDLCRAW,
        DAHDI_SIG_HDLCFCS,
        DAHDI_SIG_HDLCNET,
        DAHDI_SIG_SLAVE,
        DAHDI_SIG_SF,
        DAHDI_SIG_CAS,
        DAHDI_SIG_DACS,
        DAHDI_SIG_EM_E1,
        DAHDI_SIG_DACS_RBS,
        DAHDI_SIG_HARDHDLC,
        DAHDI_SIG_MTP2,
        DAHDI_REVERSE_RXTONE,
        DAHDI_REVERSE_TXTONE,
        DAHDI_ABIT,
        DAHDI_BBIT,
        DAHDI_CBIT,
        DAHDI_DBIT,
        DAHDI_BITS_ABCD,
        DAHDI_BITS_ABD,
        DAHDI_BITS_ACD,
        DAHDI_BITS_BCD,
        DAHDI_BITS_AC,
        DAHDI_BITS_BD,
        DAHDI_MAJOR,
        DAHDI_MAX_BLOCKSIZE,
        DAHDI_DEFAULT_NUM_BUFS,
        DAHDI_MAX_NUM_BUFS,
        DAHDI_MAX_BUF_SPACE,
        DAHDI_DEFAULT_BLOCKSIZE,
        DAHDI_DEFAULT_MTR_MRU,
        DAHDI_DEFAULT_MTU_MRU,
        DAHDI_POLICY_IMMEDIATE,
        DAHDI_POLICY_WHEN_FULL,
        DAHDI_POLICY_HALF_FULL,
        DAHDI_GET_PARAMS_RETURN_MASTER,
        DAHDI_TONE_ZONE_MAX,
        DAHDI_TONE_ZONE_DEFAULT,
        DAHDI_TONE_STOP,
        DAHDI_TONE_DIALTONE,
        DAHDI_TONE_BUSY,
        DAHDI_TONE_RINGTONE,
        DAHDI_TONE_CONGESTION,
        DAHDI_TONE_CALLWAIT,
        DAHDI_TONE_DIALRECALL,
        DAHDI_TONE_RECORDTONE,
        DAHDI_TONE_INFO,
        DAHDI_TONE_CUST1,
        DAHDI_TONE_CUST2,
        DAHDI_TONE_STUTTER,
        DAHDI_TONE_MAX,
        DAHDI_TONE_DTMF_BASE,
        DAHDI_TONE_MFR1_BASE,
        DAHDI_TONE_MFR2_FWD_BASE,
        DAHDI_TONE_MFR2_REV_BASE,
        DAHDI_TONE_DTMF_0,
        DAHDI_TONE_DTMF_1,
        DAHDI_TONE_DTMF_2,
        DAHDI_TONE_DTMF_3,
        DAHDI_TONE_DTMF_4,
        DAHDI_TONE_DTMF_5,
        DAHDI_TONE_DTMF_6,
        DAHDI_TONE_DTMF_7,
        DAHDI_TONE_DTMF_8,
        DAHDI_TONE_DTMF_9,
        DAHDI_TONE_DTMF_s,
        DAHDI_TONE_DTMF_p,
        DAHDI_TONE_DTMF_A,
        DAHDI_TONE_DTMF_B,
        DAHDI_TONE_DTMF_C,
        DAHDI_TONE_DTMF_D,
        DAHDI_TONE_DTMF_MAX,
        DAHDI_TONE_MFR1_0,
        DAHDI_TONE_MFR1_1,
        DAHDI_TONE_MFR1_2,
        DAHDI_TONE_MFR1_3,
        DAHDI_TONE_MFR1_4,
        DAHDI_TONE_MFR1_5,
        DAHDI_TONE_MFR1_6,
        DAHDI_TONE_MFR1_7,
        DAHDI_TONE_MFR1_8,
        DAHDI_TONE_MFR1_9,
        DAHDI_TONE_MFR1_KP,
        DAHDI_TONE_MFR1_ST,
        DAHDI_TONE_MFR1_STP,
        DAHDI_TONE_MFR1_ST2P,
        DAHDI_TONE_MFR1_ST3P,
        DAHDI_TONE_MFR1_MAX,
        DAHDI_TONE_MFR2_FWD_1,
        DAHDI_TONE_MFR2_FWD_2,
        DAHDI_TONE_MFR2_FWD_3,
        DAHDI_TONE_MFR2_FWD_4,
        DAHDI_TONE_MFR2_FWD_5,
        DAHDI_TONE_MFR2_FWD_6,
        DAHDI_TONE_MFR2_FWD_7,
        DAHDI_TONE_MFR2_FWD_8,
        DAHDI_TONE_MFR2_FWD_9,
        DAHDI_TONE_MFR2_FWD_10,
        DAHDI_TONE_MFR2_FWD_11,
        DAHDI_TONE_MFR2_FWD_12,
        DAHDI_TONE_MFR2_FWD_13,
        DAHDI_TONE_MFR2_FWD_14,
        DAHDI_TONE_MFR2_FWD_15,
        DAHDI_TONE_MFR2_FWD_MAX,
        DAHDI_TONE_MFR2_REV_1,
        DAHDI_TONE_MFR2_REV_2,
        DAHDI_TONE_MFR2_REV_3,
        DAHDI_TONE_MFR2_REV_4,
        DAHDI_TONE_MFR2_REV_5,
        DAHDI_TONE_MFR2_REV_6,
        DAHDI_TONE_MFR2_REV_7,
        DAHDI_TONE_MFR2_REV_8,
        DAHDI_TONE_MFR2_REV_9,
        DAHDI_TONE_MFR2_REV_10,
        DAHDI_TONE_MFR2_REV_11,
        DAHDI_TONE_MFR2_REV_12,
        DAHDI_TONE_MFR2_REV_13,
        DAHDI_TONE_MFR2_REV_14,
        DAHDI_TONE_MFR2_REV_15,
        DAHDI_TONE_MFR2_REV_MAX,
        DAHDI_LAW_DEFAULT,
        DAHDI_LAW_MULAW,
        DAHDI_LAW_ALAW,
        DAHDI_DIAL_OP_APPEND,
        DAHDI_DIAL_OP_REPLACE,
        DAHDI_DIAL_OP_CANCEL,
        DAHDI_MAX_CADENCE,
        DAHDI_TONEDETECT_ON,
        DAHDI_TONEDETECT_MUTE,
        DAHDI_MAX_DTMF_BUF,
        DAHDI_MAX_EVENTSIZE,
        DAHDI_ONHOOK,
        DAHDI_OFFHOOK,
        DAHDI_WINK,
        DAHDI_FLASH,
        DAHDI_START,
        DAHDI_RING,
        DAHDI_RINGOFF,
        DAHDI_FLUSH_READ,
        DAHDI_FLUSH_WRITE,
        DAHDI_FLUSH_BOTH,
        DAHDI_FLUSH_EVENT,
        DAHDI_FLUSH_ALL,
        DAHDI_MAX_SPANS,
        DAHDI_MAX_CHANNELS,
        DAHDI_MAX_CONF,
        DAHDI_CONF_MODE_MASK,
        DAHDI_CONF_NORMAL,
        DAHDI_CONF_MONITOR,
        DAHDI_CONF_MONITORTX,
        DAHDI_CONF_MONITORBOTH,
        DAHDI_CONF_CONF,
        DAHDI_CONF_CONFANN,
        DAHDI_CONF_CONFMON,
        DAHDI_CONF_CONFANNMON,
        DAHDI_CONF_REALANDPSEUDO,
        DAHDI_CONF_DIGITALMON,
        DAHDI_CONF_MONITOR_RX_PREECHO,
        DAHDI_CONF_MONITOR_TX_PREECHO,
        DAHDI_CONF_MONITORBOTH_PREECHO,
        DAHDI_CONF_FLAG_MASK,
        DAHDI_CONF_LISTENER,
        DAHDI_CONF_TALKER,
        DAHDI_CONF_PSEUDO_LISTENER,
        DAHDI_CONF_PSEUDO_TALKER,
        DAHDI_ALARM_NONE,
        DAHDI_ALARM_RECOVER,
        DAHDI_ALARM_LOOPBACK,
        DAHDI_ALARM_YELLOW,
        DAHDI_ALARM_RED,
        DAHDI_ALARM_BLUE,
        DAHDI_ALARM_NOTOPEN,
        DAHDI_ALARM_LOS,
        DAHDI_ALARM_LFA,
        DAHDI_ALARM_LMFA,
        DAHDI_MAINT_NONE,
        DAHDI_MAINT_LOCALLOOP,
        DAHDI_MAINT_REMOTELOOP,
        DAHDI_MAINT_NETWORKLINELOOP,
        DAHDI_MAINT_LOOPUP,
        DAHDI_MAINT_LOOPDOWN,
        DAHDI_MAINT_FAS_DEFECT,
        DAHDI_MAINT_MULTI_DEFECT,
        DAHDI_MAINT_CRC_DEFECT,
        DAHDI_MAINT_CAS_DEFECT,
        DAHDI_MAINT_PRBS_DEFECT,
        DAHDI_MAINT_BIPOLAR_DEFECT,
        DAHDI_MAINT_PRBS,
        DAHDI_MAINT_NETWORKPAYLOADLOOP,
        DAHDI_RESET_COUNTERS,
        DAHDI_MAINT_ALARM_SIM,
        DAHDI_IOMUX_READ,
        DAHDI_IOMUX_WRITE,
        DAHDI_IOMUX_WRITEEMPTY,
        DAHDI_IOMUX_SIGEVENT,
        DAHDI_IOMUX_NOWAIT,
        DAHDI_EVENT_NONE,
        DAHDI_EVENT_ONHOOK,
        DAHDI_EVENT_RINGOFFHOOK,
        DAHDI_EVENT_WINKFLASH,
        DAHDI_EVENT_ALARM,
        DAHDI_EVENT_NOALARM,
        DAHDI_EVENT_ABORT,
        DAHDI_EVENT_OVERRUN,
        DAHDI_EVENT_BADFCS,
        DAHDI_EVENT_DIALCOMPLETE,
        DAHDI_EVENT_RINGERON,
        DAHDI_EVENT_RINGEROFF,
        DAHDI_EVENT_HOOKCOMPLETE,
        DAHDI_EVENT_BITSCHANGED,
        DAHDI_EVENT_PULSE_START,
        DAHDI_EVENT_TIMER_EXPIRED,
        DAHDI_EVENT_TIMER_PING,
        DAHDI_EVENT_POLARITY,
        DAHDI_EVENT_RINGBEGIN,
        DAHDI_EVENT_EC_DISABLED,
        DAHDI_EVENT_REMOVED,
        DAHDI_EVENT_NEONMWI_ACTIVE,
        DAHDI_EVENT_NEONMWI_INACTIVE,
        DAHDI_EVENT_TX_CED_DETECTED,
        DAHDI_EVENT_RX_CED_DETECTED,
        DAHDI_EVENT_TX_CNG_DETECTED,
        DAHDI_EVENT_RX_CNG_DETECTED,
        DAHDI_EVENT_EC_NLP_DISABLED,
        DAHDI_EVENT_EC_NLP_ENABLED,
        DAHDI_EVENT_READ_OVERRUN,
        DAHDI_EVENT_WRITE_UNDERRUN,
        DAHDI_EVENT_PULSEDIGIT,
        DAHDI_EVENT_DTMFDOWN,
        DAHDI_EVENT_DTMFUP,
        DAHDI_MAX_ECHOCANPARAMS,
        DAHDI_VMWI_LREV,
        DAHDI_VMWI_HVDC,
        DAHDI_VMWI_HVAC,
        DAHDI_RADSTAT_RX,
        DAHDI_RADSTAT_TX,
        DAHDI_RADSTAT_RXCT,
        DAHDI_RADSTAT_RXCOR,
        DAHDI_RADSTAT_IGNCOR,
        DAHDI_RADSTAT_IGNCT,
        DAHDI_RADSTAT_NOENCODE,
        DAHDI_RADPAR_INVERTCOR,
        DAHDI_RADPAR_IGNORECOR,
        DAHDI_RADPAR_IGNORECT,
        DAHDI_RADPAR_NOENCODE,
        DAHDI_RADPAR_CORTHRESH,
        DAHDI_RADPAR_EXTRXTONE,
        DAHDI_RADPAR_NUMTONES,
        DAHDI_RADPAR_INITTONE,
        DAHDI_RADPAR_RXTONE,
        DAHDI_RADPAR_RXTONECLASS,
        DAHDI_RADPAR_TXTONE,
        DAHDI_RADPAR_DEBOUNCETIME,
        DAHDI_RADPAR_BURSTTIME,
        DAHDI_RADPAR_UIODATA,
        DAHDI_RADPAR_UIOMODE,
        DAHDI_RADPAR_REMMODE,
        DAHDI_RADPAR_REM_NONE,
        DAHDI_RADPAR_REM_RBI1,
        DAHDI_RADPAR_REM_SERIAL,
        DAHDI_RADPAR_REM_SERIAL_ASCII,
        DAHDI_RADPAR_REMCOMMAND,
        DAHDI_RADPAR_DEEMP,
        DAHDI_RADPAR_PREEMP,
        DAHDI_RADPAR_RXGAIN,
        DAHDI_RADPAR_TXGAIN,
        RAD_SERIAL_BUFLEN,
        DAHDI_CODE,
        DAHDI_TC_CODE,
    );
    ioctls!(v;
        DAHDI_GET_BLOCKSIZE,
        DAHDI_SET_BLOCKSIZE,
        DAHDI_FLUSH,
        DAHDI_SYNC,
        DAHDI_GET_PARAMS_V1,
        DAHDI_GET_PARAMS,
        DAHDI_SET_PARAMS,
        DAHDI_HOOK,
        DAHDI_GETEVENT,
        DAHDI_IOMUX,
        DAHDI_SPANSTAT,
        DAHDI_SPANSTAT_V1,
        DAHDI_MAINT,
        DAHDI_GETCONF_V1,
        DAHDI_GETCONF,
        DAHDI_SETCONF_V1,
        DAHDI_SETCONF,
        DAHDI_CONFLINK,
        DAHDI_CONFDIAG_V1,
        DAHDI_CONFDIAG,
        DAHDI_GETGAINS_V1,
        DAHDI_GETGAINS,
        DAHDI_SETGAINS,
        DAHDI_SPANCONFIG,
        DAHDI_CHANCONFIG,
        DAHDI_CONFMUTE,
        DAHDI_SENDTONE,
        DAHDI_GETTONEZONE,
        DAHDI_SETTONEZONE,
        DAHDI_DEFAULTZONE,
        DAHDI_LOADZONE,
        DAHDI_FREEZONE,
        DAHDI_GET_BUFINFO,
        DAHDI_SET_BUFINFO,
        DAHDI_GET_DIALPARAMS,
        DAHDI_SET_DIALPARAMS,
        DAHDI_DIAL,
        DAHDI_AUDIOMODE,
        DAHDI_ECHOCANCEL,
        DAHDI_ECHOCANCEL_PARAMS,
        DAHDI_CHANNO,
        DAHDI_DIALING,
        DAHDI_HDLCRAWMODE,
        DAHDI_HDLCFCSMODE,
        DAHDI_SPECIFY,
        DAHDI_SETLAW,
        DAHDI_SETLINEAR,
        DAHDI_HDLCPPP,
        DAHDI_SETCADENCE,
        DAHDI_GETRXBITS,
        DAHDI_SETTXBITS,
        DAHDI_CHANDIAG_V1,
        DAHDI_CHANDIAG,
        DAHDI_SFCONFIG,
        DAHDI_TIMERCONFIG,
        DAHDI_TIMERACK,
        DAHDI_GETCONFMUTE,
        DAHDI_ECHOTRAIN,
        DAHDI_ONHOOKTRANSFER,
        DAHDI_TIMERPING,
        DAHDI_TIMERPONG,
        DAHDI_GETSIGFREEZE,
        DAHDI_SETSIGFREEZE,
        DAHDI_INDIRECT,
        DAHDI_GETVERSION,
        DAHDI_LOOPBACK,
        DAHDI_ATTACH_ECHOCAN,
        DAHDI_DYNAMIC_CREATE,
        DAHDI_DYNAMIC_DESTROY,
        DAHDI_SET_HWGAIN,
        DAHDI_TONEDETECT,
        DAHDI_SETPOLARITY,
        DAHDI_TRANSCODE_OP,
        DAHDI_TC_ALLOCATE,
        DAHDI_TC_GETINFO,
        DAHDI_VMWI,
        DAHDI_VMWI_CONFIG,
        DAHDI_STARTUP,
        DAHDI_SHUTDOWN,
        DAHDI_HDLC_RATE,
        DAHDI_ECHOCANCEL_FAX_MODE,
        DAHDI_RXMIRROR,
        DAHDI_TXMIRROR,
        DAHDI_BUFFER_EVENTS,
        DAHDI_RADIO_GETSTAT,
        DAHDI_RADIO_GETPARAM,
        DAHDI_RADIO_SETPARAM,
    );
    structs!(v;
        dahdi_transcoder_formats { srcfmt, dstfmt }
        dahdi_transcoder_info { tcnum, name, numchannels, dstfmts, srcfmts }
        dahdi_params { channo, spanno, chanpos, sigtype, sigcap, rxisoffhook, rxbits, txbits, txhooksig, rxhooksig, curlaw, idlebits, name, prewinktime, preflashtime, winktime, flashtime, starttime, rxwinktime, rxflashtime, debouncetime, pulsebreaktime, pulsemaketime, pulseaftertime, chan_alarms }
        dahdi_spaninfo { spanno, name, desc, alarms, txlevel, rxlevel, bpvcount, crc4count, ebitcount, fascount, fecount, cvcount, becount, prbs, errsec, irqmisses, syncsrc, numchans, totalchans, totalspans, lbo, lineconfig, lboname, location, manufacturer, devicetype, irq, linecompat, spantype }
        dahdi_spaninfo_v1 { spanno, name, desc, alarms, txlevel, rxlevel, bpvcount, crc4count, ebitcount, fascount, irqmisses, syncsrc, numchans, totalchans, totalspans, lbo, lineconfig, lboname, location, manufacturer, devicetype, irq, linecompat, spantype }
        dahdi_maintinfo { spanno, command }
        dahdi_confinfo { chan, confno, confmode }
        dahdi_gains { chan, rxgain, txgain }
        dahdi_lineconfig { span, name, lbo, lineconfig, sync }
        dahdi_chanconfig { chan, name, sigtype, deflaw, master, idlebits, netdev_name }
        dahdi_tone_def { tone, next, samples, shift, fac1, init_v2_1, init_v3_1, fac2, init_v2_2, init_v3_2, modulate }
        dahdi_tone_def_header { count, zone, ringcadence, name, tones }
        dahdi_bufferinfo { txbufpolicy, rxbufpolicy, numbufs, bufsize, readbufs, writebufs }
        dahdi_dialparams { mfv1_tonelen, dtmf_tonelen, mfr2_tonelen, reserved }
        dahdi_dialoperation { op, dialstr }
        dahdi_echocanparam { name, value }
        dahdi_echocanparams { tap_length, param_count, params }
        dahdi_ring_cadence { ringcadence }
        dahdi_sfconfig { chan, name, rxp1, rxp2, rxp3, txtone, tx_v2, tx_v3, toneflag }
        dahdi_indirect_data { chan, op, data }
        dahdi_versioninfo { version, echo_canceller }
        dahdi_attach_echocan { chan, echocan }
        dahdi_dynamic_span { driver, addr, numchans, timing, spanno }
        dahdi_vmwi_info { vmwi_type }
        dahdi_radio_stat { ctcode_rx, ctclass, ctcode_tx, radstat }
        dahdi_radio_param { radpar, index, data, data2, buf }
    );
    // `dahdi_hwgain::tx` is a bitfield: C cannot take its offset, so the
    // test sets it in C and reads back the 32-bit unit after `newgain`,
    // which must be the bit `set_tx` sets in `tx_bitfield`.
    {
        #[allow(dead_code)]
        fn exhaustive(x: dahdi_hwgain) {
            let dahdi_hwgain {
                newgain: _,
                tx_bitfield: _,
            } = x;
        }
        v.push((
            "sizeof(struct dahdi_hwgain)".to_string(),
            size_of::<dahdi_hwgain>() as i64,
        ));
        v.push((
            "_Alignof(struct dahdi_hwgain)".to_string(),
            align_of::<dahdi_hwgain>() as i64,
        ));
        v.push((
            "offsetof(struct dahdi_hwgain, newgain)".to_string(),
            offset_of!(dahdi_hwgain, newgain) as i64,
        ));
        let mut gain = dahdi_hwgain::default();
        gain.set_tx(true);
        v.push((
            format!(
                "({{ struct dahdi_hwgain g; unsigned int w; memset(&g, 0, sizeof g); g.tx = 1; \
                 memcpy(&w, (char *)&g + {}, sizeof w); w; }})",
                offset_of!(dahdi_hwgain, tx_bitfield)
            ),
            i64::from(gain.tx_bitfield),
        ));
    }
    v
}
