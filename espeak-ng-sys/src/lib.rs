//! Raw FFI to eSpeak NG, the formant speech synthesizer, through its
//! `speak_lib.h` API as Debian ships it (`libespeak-ng-dev`), and a thin
//! safe [`Synthesizer`] over it.
//!
//! eSpeak keeps its state in globals and is not thread-safe: the library
//! is initialised once per process, and a [`Synthesizer`] may exist once,
//! on the thread that made it (it is neither `Send` nor `Sync`). A program
//! that speaks from many tasks gives it one dedicated thread and sends it
//! the text. Synthesis is synchronous and fast (a sentence in a few
//! milliseconds); the audio is handed to a closure as eSpeak produces it,
//! in buffers of [`BUFFER`].
//!
//! ```no_run
//! use espeak_ng_sys::Synthesizer;
//!
//! # fn run() -> Result<(), espeak_ng_sys::SynthError> {
//! let mut synth = Synthesizer::new()?;
//! synth.set_voice("en-us")?;
//! synth.set_words_per_minute(160)?;
//! let mut speech = Vec::new();
//! synth.speak("Hello.", &mut |samples| {
//!     speech.extend_from_slice(samples); // at synth.sample_rate() Hz
//!     true // go on
//! })?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_short, c_void, CString};
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use thiserror::Error;

pub mod ffi;

/// How much audio eSpeak hands over at a time.
pub const BUFFER: Duration = Duration::from_millis(60);

/// Why the synthesizer could not be made or could not speak.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SynthError {
    /// eSpeak's state is global: one [`Synthesizer`] per process.
    #[error("eSpeak NG is already in use in this process (one synthesizer per process)")]
    InUse,
    /// eSpeak could not load its voice data (Debian's `espeak-ng-data`).
    #[error("eSpeak NG could not load its voice data")]
    Init,
    /// No voice of that name.
    #[error("eSpeak NG has no voice {0:?}")]
    NoVoice(String),
    /// A speaking rate eSpeak does not take (80 to 450 words per minute).
    #[error("speaking rate {0} words per minute is outside 80-450")]
    Rate(u32),
    /// The text or a name holds a NUL byte.
    #[error("{0} contains a NUL byte")]
    Nul(&'static str),
    /// eSpeak refused the text (error code as `speak_lib.h` numbers it).
    #[error("eSpeak NG failed to synthesize (error {0})")]
    Synth(i32),
}

/// Set while a [`Synthesizer`] exists.
static IN_USE: AtomicBool = AtomicBool::new(false);
/// eSpeak initialises once per process; the sample rate it reported.
static INITIALISED: std::sync::OnceLock<Result<u32, SynthError>> = std::sync::OnceLock::new();

/// The audio closure of the synthesis running on this thread, erased to
/// a pointer to a `&mut dyn FnMut(&[i16]) -> bool` on `speak`'s stack.
type Sink<'a> = &'a mut dyn FnMut(&[i16]) -> bool;

thread_local! {
    static SINK: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
    static PANIC: RefCell<Option<Box<dyn Any + Send>>> = const { RefCell::new(None) };
}

/// eSpeak's audio callback: hands the samples to the closure `speak` set
/// for this thread; 1 (abort) when the closure says stop or panicked.
unsafe extern "C" fn on_audio(
    wav: *mut c_short,
    numsamples: c_int,
    _events: *mut ffi::espeak_EVENT,
) -> c_int {
    let sink = SINK.with(Cell::get);
    if sink.is_null() {
        return 1;
    }
    let len = usize::try_from(numsamples).unwrap_or(0);
    if wav.is_null() || len == 0 {
        return 0;
    }
    // SAFETY: eSpeak passes `numsamples` valid samples at `wav` for the
    // duration of the call.
    let samples = unsafe { std::slice::from_raw_parts(wav.cast_const(), len) };
    // SAFETY: `speak` stored a pointer to its live `Sink` for exactly the
    // duration of its espeak_Synth call, on this thread, and nothing else
    // borrows the closure meanwhile.
    let sink = unsafe { &mut *sink.cast::<Sink<'_>>() };
    match std::panic::catch_unwind(AssertUnwindSafe(|| sink(samples))) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(payload) => {
            PANIC.with(|p| *p.borrow_mut() = Some(payload));
            1
        }
    }
}

/// eSpeak NG, initialised for synchronous synthesis with audio to a
/// callback. One per process, confined to the thread that made it.
#[derive(Debug)]
pub struct Synthesizer {
    rate: u32,
    voice: Option<String>,
    /// Not `Send`, not `Sync`: eSpeak's globals belong to this thread.
    _thread: PhantomData<*const ()>,
}

impl Synthesizer {
    /// Initialises eSpeak (the first time in the process: loads its data)
    /// and takes it for this thread. Errors if another synthesizer exists
    /// or the voice data cannot be loaded.
    pub fn new() -> Result<Self, SynthError> {
        if IN_USE.swap(true, Ordering::AcqRel) {
            return Err(SynthError::InUse);
        }
        let rate = INITIALISED.get_or_init(|| {
            let buflength = c_int::try_from(BUFFER.as_millis()).unwrap_or(60);
            // SAFETY: IN_USE makes this the only thread using eSpeak; a null
            // path means the installed data; DONT_EXIT makes a missing data
            // directory an error instead of a process exit.
            let rate = unsafe {
                ffi::espeak_Initialize(
                    ffi::AUDIO_OUTPUT_SYNCHRONOUS,
                    buflength,
                    std::ptr::null(),
                    ffi::espeakINITIALIZE_DONT_EXIT,
                )
            };
            u32::try_from(rate)
                .ok()
                .filter(|r| *r > 0)
                .ok_or(SynthError::Init)
        });
        let rate = match rate {
            Ok(rate) => *rate,
            Err(e) => {
                IN_USE.store(false, Ordering::Release);
                return Err(e.clone());
            }
        };
        // SAFETY: eSpeak is initialised and this thread holds it; the
        // callback is a plain function that lives for the whole program.
        unsafe { ffi::espeak_SetSynthCallback(Some(on_audio)) };
        Ok(Synthesizer {
            rate,
            voice: None,
            _thread: PhantomData,
        })
    }

    /// The rate of the audio eSpeak produces, Hz (22050).
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Speaks with the voice `name` from now on (`espeak-ng --voices`
    /// lists them). Choosing the voice already in use costs nothing.
    pub fn set_voice(&mut self, name: &str) -> Result<(), SynthError> {
        if self.voice.as_deref() == Some(name) {
            return Ok(());
        }
        let c = CString::new(name).map_err(|_| SynthError::Nul("voice name"))?;
        // SAFETY: this thread holds eSpeak; c is valid for the call.
        let rc = unsafe { ffi::espeak_SetVoiceByName(c.as_ptr()) };
        if rc != ffi::EE_OK {
            self.voice = None;
            return Err(SynthError::NoVoice(name.into()));
        }
        self.voice = Some(name.into());
        Ok(())
    }

    /// Speaks at `words_per_minute` (80 to 450) from now on. Set it after
    /// the voice: choosing a voice resets the rate.
    pub fn set_words_per_minute(&mut self, words_per_minute: u32) -> Result<(), SynthError> {
        if !(80..=450).contains(&words_per_minute) {
            return Err(SynthError::Rate(words_per_minute));
        }
        let wpm =
            c_int::try_from(words_per_minute).map_err(|_| SynthError::Rate(words_per_minute))?;
        // SAFETY: this thread holds eSpeak.
        let rc = unsafe { ffi::espeak_SetParameter(ffi::espeakRATE, wpm, 0) };
        if rc != ffi::EE_OK {
            return Err(SynthError::Synth(rc));
        }
        Ok(())
    }

    /// Speaks `text` (plain UTF-8, no markup) followed by a sentence's
    /// pause, as the `espeak-ng` program does, calling `on_audio` with
    /// each buffer of samples at [`Synthesizer::sample_rate`] as eSpeak
    /// produces it; `on_audio` returns `false` to stop early. Returns when
    /// all of it was handed over or it was stopped. A panic in `on_audio`
    /// stops the synthesis and is resumed here.
    pub fn speak(
        &mut self,
        text: &str,
        on_audio: &mut dyn FnMut(&[i16]) -> bool,
    ) -> Result<(), SynthError> {
        let c = CString::new(text).map_err(|_| SynthError::Nul("text"))?;
        let mut sink: Sink<'_> = on_audio;
        let sink_ptr: *mut Sink<'_> = &mut sink;
        SINK.with(|s| s.set(sink_ptr.cast()));
        // SAFETY: this thread holds eSpeak; the text is NUL-terminated
        // UTF-8 (its size includes the NUL) and outlives the synchronous
        // call; the identifier and user data may be null. The callback
        // reads SINK, which points at `sink`, alive until after the call.
        let rc = unsafe {
            ffi::espeak_Synth(
                c.as_ptr().cast(),
                c.as_bytes_with_nul().len(),
                0,
                ffi::POS_CHARACTER,
                0,
                ffi::espeakCHARS_UTF8 | ffi::espeakENDPAUSE,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        SINK.with(|s| s.set(std::ptr::null_mut()));
        if let Some(payload) = PANIC.with(|p| p.borrow_mut().take()) {
            std::panic::resume_unwind(payload);
        }
        if rc != ffi::EE_OK {
            return Err(SynthError::Synth(rc));
        }
        Ok(())
    }
}

impl Drop for Synthesizer {
    fn drop(&mut self) {
        // eSpeak stays initialised (it cannot be initialised twice); the
        // next synthesizer, on any thread, takes it over.
        IN_USE.store(false, Ordering::Release);
    }
}
