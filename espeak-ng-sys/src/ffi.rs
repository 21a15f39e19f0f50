//! The C declarations of `espeak-ng/speak_lib.h` the synthesizer uses,
//! typed as the header types them (enums are `int`). Linked through
//! pkg-config by the build script.

#![allow(non_camel_case_types, non_upper_case_globals)]

use std::ffi::{c_char, c_int, c_short, c_uint, c_void};

/// An event eSpeak reports with the audio (`espeak_EVENT`, opaque here:
/// the synthesizer asks for none and reads none).
#[repr(C)]
pub struct espeak_EVENT {
    _private: [u8; 0],
}

/// The audio callback (`t_espeak_callback`): samples, their count, the
/// events; returns 0 to go on, 1 to abort the synthesis.
pub type t_espeak_callback =
    unsafe extern "C" fn(wav: *mut c_short, numsamples: c_int, events: *mut espeak_EVENT) -> c_int;

/// `espeak_AUDIO_OUTPUT::AUDIO_OUTPUT_SYNCHRONOUS`: audio goes to the
/// callback and `espeak_Synth` returns when all of it was delivered.
pub const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
/// `espeakINITIALIZE_DONT_EXIT`: return an error instead of calling
/// `exit()` when the voice data is missing.
pub const espeakINITIALIZE_DONT_EXIT: c_int = 0x8000;
/// `espeak_PARAMETER::espeakRATE`: words per minute.
pub const espeakRATE: c_int = 1;
/// `espeak_POSITION_TYPE::POS_CHARACTER`.
pub const POS_CHARACTER: c_int = 1;
/// `espeakCHARS_UTF8`: the text is UTF-8.
pub const espeakCHARS_UTF8: c_uint = 1;
/// `espeakENDPAUSE`: a sentence's pause after the end of the text, as
/// the `espeak-ng` program adds.
pub const espeakENDPAUSE: c_uint = 0x1000;
/// `espeak_ERROR::EE_OK`.
pub const EE_OK: c_int = 0;

extern "C" {
    /// Loads the voice data; the sample rate in Hz, or -1.
    pub fn espeak_Initialize(
        output: c_int,
        buflength: c_int,
        path: *const c_char,
        options: c_int,
    ) -> c_int;
    /// Where audio goes in the retrieval and synchronous modes.
    pub fn espeak_SetSynthCallback(callback: Option<t_espeak_callback>);
    /// Selects a voice by name (`en-us`, `en+f3`).
    pub fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
    /// Sets a parameter (rate, pitch, volume).
    pub fn espeak_SetParameter(parameter: c_int, value: c_int, relative: c_int) -> c_int;
    /// Synthesizes `size` bytes of text.
    pub fn espeak_Synth(
        text: *const c_void,
        size: usize,
        position: c_uint,
        position_type: c_int,
        end_position: c_uint,
        flags: c_uint,
        unique_identifier: *mut c_uint,
        user_data: *mut c_void,
    ) -> c_int;
}
