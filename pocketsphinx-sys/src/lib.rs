//! Raw FFI to PocketSphinx, CMU's offline speech recognizer, as Debian
//! ships it (`libpocketsphinx-dev`, `libsphinxbase-dev`, version
//! 5prealpha), and a thin safe [`Decoder`] over it.
//!
//! - [`ffi`] declares the few functions of `pocketsphinx.h`,
//!   `ps_search.h`, `cmd_ln.h`, `err.h` and `ckd_alloc.h` the decoder
//!   needs, with the C types they take. A test compiles these
//!   declarations as C prototypes against the real headers, so a
//!   mismatch is a compile error there.
//! - [`Decoder`] loads an acoustic model and dictionary once and decodes
//!   whole utterances (16-bit linear samples at the model's rate) with one
//!   of its searches: the generic language model, a JSGF grammar, or a
//!   keyword-spotting list.
//!
//! The library is linked through pkg-config; [`model_dir`] is where its
//! models are (pkg-config's `modeldir` variable at build time).
//!
//! ```no_run
//! use pocketsphinx_sys::{Decoder, DecoderConfig};
//!
//! # fn run(samples: &[i16]) -> Result<(), pocketsphinx_sys::DecoderError> {
//! let model = pocketsphinx_sys::model_dir().expect("pkg-config names a model directory");
//! let mut decoder = Decoder::new(&DecoderConfig::en_us(model))?;
//! let text = decoder.decode(samples)?; // 16 kHz speech
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Once;
use thiserror::Error;

pub mod ffi;

/// Where pkg-config says PocketSphinx's models are
/// (`/usr/share/pocketsphinx/model` on Debian), if it said.
pub fn model_dir() -> Option<&'static Path> {
    let dir = env!("POCKETSPHINX_MODELDIR");
    (!dir.is_empty()).then(|| Path::new(dir))
}

/// Why the decoder could not be made or could not decode.
#[derive(Debug, Error)]
pub enum DecoderError {
    /// A path or setting holds a NUL byte, which C strings cannot carry.
    #[error("{what} contains a NUL byte")]
    Nul {
        /// Which setting.
        what: &'static str,
    },
    /// A model file the configuration names is missing.
    #[error("model file {0} does not exist")]
    MissingModel(PathBuf),
    /// The library refused the configuration (an unknown option or a bad
    /// value); its reasons went to its log.
    #[error("PocketSphinx refused the configuration")]
    Config,
    /// The library could not load the acoustic model, dictionary or
    /// language model the configuration names.
    #[error("PocketSphinx could not load the models under {0}")]
    Init(PathBuf),
    /// A grammar, keyword list or language model was refused (a word
    /// missing from the dictionary, a syntax error).
    #[error("PocketSphinx refused the {kind} search {name:?}")]
    Search {
        /// `jsgf`, `keyword` or `language model`.
        kind: &'static str,
        /// The search's name.
        name: String,
    },
    /// No search of that name was added.
    #[error("no search named {0:?}")]
    NoSearch(String),
    /// Decoding failed inside the library.
    #[error("PocketSphinx failed to {0} the utterance")]
    Decode(&'static str),
}

/// What a [`Decoder`] loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderConfig {
    /// The acoustic model's directory (`-hmm`: `mdef`, `means`, ...).
    pub acoustic_model: PathBuf,
    /// The pronunciation dictionary (`-dict`).
    pub dictionary: PathBuf,
    /// The generic language model (`-lm`), the default search; `None`
    /// starts with no search until one is added.
    pub language_model: Option<PathBuf>,
    /// Sample rate of the audio given to [`Decoder::decode`], Hz; it must
    /// be the acoustic model's (16000 for en-us).
    pub sample_rate: u32,
    /// Further options as the library names them (`("-beam", "1e-60")`).
    pub options: Vec<(String, String)>,
}

impl DecoderConfig {
    /// The US English model as Debian's `pocketsphinx-en-us` lays it out
    /// under `model_dir`: `en-us/en-us`, `en-us/cmudict-en-us.dict` and
    /// `en-us/en-us.lm.bin`, 16 kHz.
    pub fn en_us(model_dir: &Path) -> Self {
        let base = model_dir.join("en-us");
        DecoderConfig {
            acoustic_model: base.join("en-us"),
            dictionary: base.join("cmudict-en-us.dict"),
            language_model: Some(base.join("en-us.lm.bin")),
            sample_rate: 16_000,
            options: Vec::new(),
        }
    }
}

/// The name the library gives the search built from `-lm`.
pub const DEFAULT_SEARCH: &str = "_default";

/// A loaded PocketSphinx decoder. Not shareable between threads (the
/// library keeps per-decoder state through an utterance), but it may move
/// to another thread: wrap it in a mutex to share it.
#[derive(Debug)]
pub struct Decoder {
    ps: NonNull<ffi::ps_decoder_t>,
    config: NonNull<ffi::cmd_ln_t>,
}

// SAFETY: a ps_decoder_t and its cmd_ln_t hold no thread-local state and
// are only touched through `&mut self` (or `&self` for read-only
// dictionary lookups that do not run concurrently with a `&mut` use, as
// the borrow checker guarantees), so moving them between threads is sound.
unsafe impl Send for Decoder {}

/// The library logs to stderr by default (its configuration table, model
/// loading, every utterance); it is turned off once, process-wide.
static SILENCE_LOG: Once = Once::new();

fn cstring(s: &str, what: &'static str) -> Result<CString, DecoderError> {
    CString::new(s).map_err(|_| DecoderError::Nul { what })
}

fn path_str(p: &Path, what: &'static str) -> Result<CString, DecoderError> {
    cstring(&p.to_string_lossy(), what)
}

impl Decoder {
    /// Loads the models `config` names. Takes a few hundred milliseconds:
    /// make one decoder and keep it.
    pub fn new(config: &DecoderConfig) -> Result<Self, DecoderError> {
        if !config.acoustic_model.join("mdef").is_file() {
            return Err(DecoderError::MissingModel(
                config.acoustic_model.join("mdef"),
            ));
        }
        if !config.dictionary.is_file() {
            return Err(DecoderError::MissingModel(config.dictionary.clone()));
        }
        if let Some(lm) = &config.language_model {
            if !lm.is_file() {
                return Err(DecoderError::MissingModel(lm.clone()));
            }
        }
        SILENCE_LOG.call_once(|| {
            // SAFETY: a null stream is the documented way to turn logging
            // off; this runs once, before any decoder of ours exists.
            unsafe { ffi::err_set_logfp(std::ptr::null_mut()) }
        });
        let mut args: Vec<CString> = vec![
            cstring("-hmm", "option")?,
            path_str(&config.acoustic_model, "acoustic model path")?,
            cstring("-dict", "option")?,
            path_str(&config.dictionary, "dictionary path")?,
            cstring("-samprate", "option")?,
            cstring(&config.sample_rate.to_string(), "sample rate")?,
        ];
        if let Some(lm) = &config.language_model {
            args.push(cstring("-lm", "option")?);
            args.push(path_str(lm, "language model path")?);
        }
        for (k, v) in &config.options {
            args.push(cstring(k, "option")?);
            args.push(cstring(v, "option value")?);
        }
        let mut argv: Vec<*mut std::ffi::c_char> =
            args.iter().map(|a| a.as_ptr().cast_mut()).collect();
        let argc = i32::try_from(argv.len()).map_err(|_| DecoderError::Config)?;
        // SAFETY: ps_args() returns a static table; argv holds argc valid
        // NUL-terminated strings that outlive the call (the library copies
        // what it keeps and does not write through argv).
        let cfg = unsafe {
            ffi::cmd_ln_parse_r(
                std::ptr::null_mut(),
                ffi::ps_args(),
                argc,
                argv.as_mut_ptr(),
                1,
            )
        };
        let config_ptr = NonNull::new(cfg).ok_or(DecoderError::Config)?;
        // SAFETY: config_ptr is a live configuration just parsed; ps_init
        // takes its own reference to it.
        let ps = unsafe { ffi::ps_init(config_ptr.as_ptr()) };
        let Some(ps) = NonNull::new(ps) else {
            // SAFETY: our reference to the configuration, released once.
            unsafe { ffi::cmd_ln_free_r(config_ptr.as_ptr()) };
            return Err(DecoderError::Init(config.acoustic_model.clone()));
        };
        Ok(Decoder {
            ps,
            config: config_ptr,
        })
    }

    /// Whether the dictionary knows `word` (lower case, as the
    /// dictionary spells it). Grammars and keyword lists may only use
    /// known words.
    pub fn knows_word(&self, word: &str) -> bool {
        let Ok(w) = CString::new(word) else {
            return false;
        };
        // SAFETY: self.ps is live; w is a valid C string for the call.
        let pron = unsafe { ffi::ps_lookup_word(self.ps.as_ptr(), w.as_ptr()) };
        if pron.is_null() {
            return false;
        }
        // SAFETY: the library allocated the pronunciation with ckd_alloc
        // and hands ownership to the caller, who frees it with ckd_free.
        unsafe { ffi::ckd_free(pron.cast()) };
        true
    }

    /// Adds (or replaces) the search `name` from a JSGF grammar
    /// (`#JSGF V1.0; grammar g; public <s> = ...;`). Every word must be in
    /// the dictionary.
    pub fn set_jsgf(&mut self, name: &str, grammar: &str) -> Result<(), DecoderError> {
        let n = cstring(name, "search name")?;
        let g = cstring(grammar, "grammar")?;
        // SAFETY: self.ps is live and exclusively borrowed; both strings
        // are valid for the call (the library parses and copies them).
        let rc = unsafe { ffi::ps_set_jsgf_string(self.ps.as_ptr(), n.as_ptr(), g.as_ptr()) };
        if rc < 0 {
            return Err(DecoderError::Search {
                kind: "jsgf",
                name: name.into(),
            });
        }
        Ok(())
    }

    /// Adds (or replaces) the keyword-spotting search `name` from a
    /// keyword list file: one phrase a line, each followed by its
    /// detection threshold (`opening hours /1e-20/`).
    pub fn set_keyword_file(&mut self, name: &str, path: &Path) -> Result<(), DecoderError> {
        let n = cstring(name, "search name")?;
        let p = path_str(path, "keyword file path")?;
        // SAFETY: as in set_jsgf; the library reads the file during the call.
        let rc = unsafe { ffi::ps_set_kws(self.ps.as_ptr(), n.as_ptr(), p.as_ptr()) };
        if rc < 0 {
            return Err(DecoderError::Search {
                kind: "keyword",
                name: name.into(),
            });
        }
        Ok(())
    }

    /// Adds (or replaces) the search `name` from an N-gram language model
    /// file (ARPA text or the binary `.lm.bin`).
    pub fn set_language_model_file(&mut self, name: &str, path: &Path) -> Result<(), DecoderError> {
        let n = cstring(name, "search name")?;
        let p = path_str(path, "language model path")?;
        // SAFETY: as in set_jsgf; the library reads the file during the call.
        let rc = unsafe { ffi::ps_set_lm_file(self.ps.as_ptr(), n.as_ptr(), p.as_ptr()) };
        if rc < 0 {
            return Err(DecoderError::Search {
                kind: "language model",
                name: name.into(),
            });
        }
        Ok(())
    }

    /// Makes the search `name` the one [`Decoder::decode`] uses.
    pub fn use_search(&mut self, name: &str) -> Result<(), DecoderError> {
        let n = cstring(name, "search name")?;
        // SAFETY: self.ps is live and exclusively borrowed; n is valid.
        let rc = unsafe { ffi::ps_set_search(self.ps.as_ptr(), n.as_ptr()) };
        if rc < 0 {
            return Err(DecoderError::NoSearch(name.into()));
        }
        Ok(())
    }

    /// Decodes one whole utterance (linear samples at the configured
    /// rate) with the current search; the best hypothesis, words separated
    /// by spaces, empty when nothing was recognised.
    pub fn decode(&mut self, samples: &[i16]) -> Result<String, DecoderError> {
        self.decode_scored(samples).map(|(text, _)| text)
    }

    /// Like [`Decoder::decode`], with the best path's score (the log
    /// likelihood in the library's units; higher is better, 0 when nothing
    /// was recognised). Scores of two searches over the same audio can be
    /// compared, to reject a grammar's forced match.
    pub fn decode_scored(&mut self, samples: &[i16]) -> Result<(String, i32), DecoderError> {
        let ps = self.ps.as_ptr();
        // SAFETY: ps is live and exclusively borrowed for the utterance.
        if unsafe { ffi::ps_start_utt(ps) } < 0 {
            return Err(DecoderError::Decode("start"));
        }
        if !samples.is_empty() {
            // SAFETY: the pointer and length describe `samples`, which
            // outlives the call; the library only reads them.
            let rc = unsafe { ffi::ps_process_raw(ps, samples.as_ptr(), samples.len(), 0, 1) };
            if rc < 0 {
                // SAFETY: the utterance was started; end it so the decoder
                // can start the next one.
                unsafe { ffi::ps_end_utt(ps) };
                return Err(DecoderError::Decode("process"));
            }
        }
        // SAFETY: ps is live; an utterance was started above.
        if unsafe { ffi::ps_end_utt(ps) } < 0 {
            return Err(DecoderError::Decode("end"));
        }
        let mut score = 0i32;
        // SAFETY: ps is live; the returned string belongs to the decoder and
        // stays valid until the next decoder call, so it is copied at once.
        let hyp = unsafe { ffi::ps_get_hyp(ps, &mut score) };
        if hyp.is_null() {
            return Ok((String::new(), 0));
        }
        // SAFETY: non-null and NUL-terminated, owned by the decoder (above).
        let text = unsafe { CStr::from_ptr(hyp) }.to_string_lossy();
        Ok((text.split_whitespace().collect::<Vec<_>>().join(" "), score))
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: both were obtained in `new`, are freed exactly once here,
        // and nothing borrows them any more.
        unsafe {
            ffi::ps_free(self.ps.as_ptr());
            ffi::cmd_ln_free_r(self.config.as_ptr());
        }
    }
}
