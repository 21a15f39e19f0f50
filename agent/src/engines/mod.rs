//! Offline speech engines for the [turn helper](crate::turn), each behind
//! a cargo feature so that the default build needs no C library:
//!
//! - `PocketSphinx` (feature `pocketsphinx`): speech-to-text with CMU
//!   PocketSphinx's US English model through its C library
//!   (`pocketsphinx-sys`), the model loaded once. Told what callers are
//!   expected to say (an FAQ), it listens for those phrases; otherwise it
//!   uses the generic language model.
//! - `EspeakNg` (feature `espeak-ng`): text-to-speech with eSpeak NG
//!   through its C library (`espeak-ng-sys`) on one dedicated thread, or
//!   one `espeak-ng` process per reply, streamed into the call as it is
//!   produced.
//!
//! Which of library and process each engine uses was measured for the
//! lower turn latency (`benches/README.md`).
//!
//! Debian packages: `pocketsphinx`, `pocketsphinx-en-us`,
//! `libpocketsphinx-dev`, `libsphinxbase-dev`, `libespeak-ng-dev` and
//! `espeak-ng`.

#[cfg(feature = "espeak-ng")]
mod espeak;
#[cfg(feature = "pocketsphinx")]
mod pocketsphinx;

#[cfg(feature = "espeak-ng")]
pub use espeak::{EspeakConfig, EspeakMode, EspeakNg};
#[cfg(feature = "pocketsphinx")]
pub use pocketsphinx::{PhraseMatching, PocketSphinx, PocketSphinxConfig, MODEL_RATE};
