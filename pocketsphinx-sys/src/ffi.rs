//! The C declarations, named and typed as the headers name and type them
//! (`int32` is `i32`, `int16` is `i16`, `size_t` is `usize`). Only what
//! [`crate::Decoder`] uses; the types are opaque. Linked through
//! pkg-config by the build script.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void};

/// The decoder (`ps_decoder_t`, opaque).
#[repr(C)]
pub struct ps_decoder_t {
    _private: [u8; 0],
}

/// A parsed configuration (`cmd_ln_t`, opaque, reference counted).
#[repr(C)]
pub struct cmd_ln_t {
    _private: [u8; 0],
}

/// One entry of an argument definition table (`arg_t`, opaque here: only
/// the table [`ps_args`] returns is passed on).
#[repr(C)]
pub struct arg_t {
    _private: [u8; 0],
}

/// A C stdio stream (`FILE`, opaque).
#[repr(C)]
pub struct FILE {
    _private: [u8; 0],
}

extern "C" {
    /// The decoder's argument definitions (`pocketsphinx.h`).
    pub fn ps_args() -> *const arg_t;
    /// Parses `argc` options into a configuration (`cmd_ln.h`); null on
    /// an unknown option or bad value when `strict` is non-zero.
    pub fn cmd_ln_parse_r(
        inout_cmdln: *mut cmd_ln_t,
        defn: *const arg_t,
        argc: i32,
        argv: *mut *mut c_char,
        strict: i32,
    ) -> *mut cmd_ln_t;
    /// Releases a reference to a configuration.
    pub fn cmd_ln_free_r(cmdln: *mut cmd_ln_t) -> c_int;
    /// Loads the models a configuration names; null on failure.
    pub fn ps_init(config: *mut cmd_ln_t) -> *mut ps_decoder_t;
    /// Releases a decoder.
    pub fn ps_free(ps: *mut ps_decoder_t) -> c_int;
    /// A word's pronunciation, allocated (free with [`ckd_free`]), or
    /// null if the dictionary lacks it.
    pub fn ps_lookup_word(ps: *mut ps_decoder_t, word: *const c_char) -> *mut c_char;
    /// Adds a JSGF grammar search from a string (`ps_search.h`).
    pub fn ps_set_jsgf_string(
        ps: *mut ps_decoder_t,
        name: *const c_char,
        jsgf_string: *const c_char,
    ) -> c_int;
    /// Adds a keyword-spotting search from a keyword list file.
    pub fn ps_set_kws(ps: *mut ps_decoder_t, name: *const c_char, keyfile: *const c_char) -> c_int;
    /// Adds an N-gram search from a language model file.
    pub fn ps_set_lm_file(ps: *mut ps_decoder_t, name: *const c_char, path: *const c_char)
        -> c_int;
    /// Activates a search by name.
    pub fn ps_set_search(ps: *mut ps_decoder_t, name: *const c_char) -> c_int;
    /// Starts an utterance.
    pub fn ps_start_utt(ps: *mut ps_decoder_t) -> c_int;
    /// Feeds 16-bit samples; `full_utt` non-zero when this is all of it.
    pub fn ps_process_raw(
        ps: *mut ps_decoder_t,
        data: *const i16,
        n_samples: usize,
        no_search: c_int,
        full_utt: c_int,
    ) -> c_int;
    /// Ends the utterance, finishing the search.
    pub fn ps_end_utt(ps: *mut ps_decoder_t) -> c_int;
    /// The best hypothesis so far (owned by the decoder) or null.
    pub fn ps_get_hyp(ps: *mut ps_decoder_t, out_best_score: *mut i32) -> *const c_char;
    /// Where the library logs; null turns logging off (`err.h`).
    pub fn err_set_logfp(stream: *mut FILE);
    /// Frees memory the library allocated for the caller (`ckd_alloc.h`).
    pub fn ckd_free(ptr: *mut c_void);
}
