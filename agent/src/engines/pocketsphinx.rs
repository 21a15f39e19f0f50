//! Speech-to-text with PocketSphinx, offline, through its C library (the
//! model is loaded once, when the engine is made).

use crate::call::BoxFuture;
use crate::speech::{SpeechError, SpeechToText, Utterance};
use pocketsphinx_sys::{Decoder, DecoderConfig, DecoderError, DEFAULT_SEARCH};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// The rate of the US English acoustic model, Hz. The line's 8 kHz audio
/// is upsampled to it.
pub const MODEL_RATE: u32 = 16_000;

/// How the engine listens for the [`PocketSphinxConfig::expected_phrases`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PhraseMatching {
    /// A JSGF grammar: one of the phrases, with common words allowed
    /// before and after it ("uh, what are your opening hours please"). The
    /// transcript holds the phrase as written (lower case) among those
    /// words, or is empty when the speech fits no path of the grammar.
    /// Recognises eSpeak speech through G.711 best (22 of 25 questions in
    /// five voices), but speech that is none of the phrases often comes
    /// back as the nearest one: a caller who asks something else may get
    /// an FAQ's answer (`benches/README.md` has the figures).
    #[default]
    Grammar,
    /// Keyword spotting: each phrase is looked for on its own, anywhere in
    /// the utterance; the transcript is the phrases found, in order, or
    /// empty. Rarely hears a phrase that was not said, but misses more
    /// that were (10 of 25).
    Keywords,
}

/// What [`PocketSphinx`] loads and listens for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PocketSphinxConfig {
    /// The directory holding the model (`en-us/en-us`,
    /// `en-us/cmudict-en-us.dict`, `en-us/en-us.lm.bin`, as Debian's
    /// `pocketsphinx-en-us` lays it out). `None`: where pkg-config said
    /// PocketSphinx's models are when the crate was built.
    pub model_dir: Option<PathBuf>,
    /// What callers are expected to say (an FAQ's questions or keywords,
    /// "operator"). Empty: the generic language model, which hears any
    /// English but often wrongly (eSpeak's "what are your opening hours"
    /// comes back as "what are the odds"). Words the dictionary lacks are
    /// left out of a phrase.
    pub expected_phrases: Vec<String>,
    /// How the expected phrases are listened for.
    pub matching: PhraseMatching,
    /// Utterances transcribed at once (one decoder, with its own copy of
    /// the model, each); default 1.
    pub decoders: usize,
}

/// Speech-to-text with PocketSphinx's US English model. Each utterance is
/// resampled to 16 kHz and decoded whole on a blocking thread.
///
/// ```no_run
/// use agent::engines::{PocketSphinx, PocketSphinxConfig};
/// use agent::speech::{SpeechToText, Utterance};
///
/// # async fn run(utterance: Utterance) -> Result<(), agent::speech::SpeechError> {
/// let stt = PocketSphinx::new(PocketSphinxConfig {
///     expected_phrases: vec!["opening hours".into(), "where are you".into(), "operator".into()],
///     ..PocketSphinxConfig::default()
/// })?;
/// let text = stt.transcribe(&utterance).await?; // "what are your opening hours" → "opening hours"
/// # Ok(()) }
/// ```
pub struct PocketSphinx {
    decoders: Arc<Mutex<Vec<Decoder>>>,
    /// One permit per decoder in `decoders`; held by the blocking task
    /// that decodes, so a transcription abandoned part way (the call hung
    /// up) keeps its decoder counted until it is back in the pool.
    free: Arc<Semaphore>,
    phrases: Vec<String>,
}

impl std::fmt::Debug for PocketSphinx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PocketSphinx")
            .field("phrases", &self.phrases)
            .finish_non_exhaustive()
    }
}

/// Wider search beams than the library's defaults (1e-48, 1e-48, 7e-29):
/// eSpeak's voice through G.711 and upsampling is far from the model's
/// training speech, and with the default beams a grammar's paths are
/// pruned before its end (16 of 25 questions heard instead of 22).
const SEARCH_BEAMS: &[(&str, &str)] =
    &[("-beam", "1e-80"), ("-pbeam", "1e-80"), ("-wbeam", "1e-60")];

/// The name of the search built from the expected phrases.
const EXPECTED: &str = "expected";

/// Common words allowed around an expected phrase. A short list: with a
/// few hundred words the fillers absorb the phrases themselves (measured:
/// 2 of 25 questions heard instead of 22).
const FILLERS: &[&str] = &[
    "a", "and", "are", "can", "could", "do", "does", "for", "hello", "hi", "how", "i", "is", "it",
    "me", "my", "of", "please", "tell", "the", "to", "uh", "um", "want", "what", "when", "where",
    "which", "would", "you", "your", "yes", "no", "thanks", "thank", "like", "know", "about",
    "there", "have", "in", "on", "at", "we", "be", "okay",
];

fn engine(e: DecoderError) -> SpeechError {
    SpeechError::Engine(format!("pocketsphinx: {e}"))
}

/// A phrase as dictionary words: lower case, letters, digits and
/// apostrophes.
fn words(phrase: &str) -> Vec<String> {
    phrase
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl PocketSphinx {
    /// Loads the model (a few hundred milliseconds per decoder) and builds
    /// the search for the expected phrases. Errors when the model is
    /// missing or none of the expected phrases has a word the dictionary
    /// knows.
    pub fn new(config: PocketSphinxConfig) -> Result<Self, SpeechError> {
        let model_dir = match &config.model_dir {
            Some(dir) => dir.clone(),
            None => pocketsphinx_sys::model_dir()
                .map(PathBuf::from)
                .ok_or_else(|| {
                    SpeechError::Engine(
                        "pocketsphinx: no model directory configured and pkg-config named none"
                            .into(),
                    )
                })?,
        };
        let mut decoder_config = DecoderConfig::en_us(&model_dir);
        if !config.expected_phrases.is_empty() {
            decoder_config.options = SEARCH_BEAMS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        let count = config.decoders.max(1);
        let mut decoders = Vec::with_capacity(count);
        let mut phrases = Vec::new();
        for _ in 0..count {
            let mut decoder = Decoder::new(&decoder_config).map_err(engine)?;
            if !config.expected_phrases.is_empty() {
                phrases = known_phrases(&decoder, &config.expected_phrases)?;
                match config.matching {
                    PhraseMatching::Grammar => {
                        decoder
                            .set_jsgf(EXPECTED, &grammar(&decoder, &phrases))
                            .map_err(engine)?;
                    }
                    PhraseMatching::Keywords => {
                        let list = keyword_list(&phrases);
                        // Named apart from the lists of engines being made
                        // at the same time on other threads.
                        static LISTS: AtomicU64 = AtomicU64::new(0);
                        let file = std::env::temp_dir().join(format!(
                            "agent-kws-{}-{}.txt",
                            std::process::id(),
                            LISTS.fetch_add(1, Ordering::Relaxed)
                        ));
                        std::fs::write(&file, list).map_err(|e| {
                            SpeechError::Engine(format!(
                                "pocketsphinx: writing the keyword list {}: {e}",
                                file.display()
                            ))
                        })?;
                        let added = decoder.set_keyword_file(EXPECTED, &file);
                        let _ = std::fs::remove_file(&file);
                        added.map_err(engine)?;
                    }
                }
                decoder.use_search(EXPECTED).map_err(engine)?;
            } else {
                decoder.use_search(DEFAULT_SEARCH).map_err(engine)?;
            }
            decoders.push(decoder);
        }
        tracing::debug!(
            decoders = count,
            phrases = phrases.len(),
            "pocketsphinx loaded"
        );
        Ok(PocketSphinx {
            decoders: Arc::new(Mutex::new(decoders)),
            free: Arc::new(Semaphore::new(count)),
            phrases,
        })
    }

    /// The expected phrases as the engine listens for them (dictionary
    /// words only, lower case); empty with the generic language model.
    pub fn phrases(&self) -> &[String] {
        &self.phrases
    }

    /// Decodes on the calling thread (blocking): `samples` at `rate` Hz.
    fn decode_blocking(
        decoders: &Mutex<Vec<Decoder>>,
        samples: &[i16],
        rate: u32,
    ) -> Result<String, SpeechError> {
        let audio = if rate == MODEL_RATE {
            samples.to_vec()
        } else {
            if !(rtp_media::resample::MIN_RATE..=rtp_media::resample::MAX_RATE).contains(&rate) {
                return Err(SpeechError::Engine(format!(
                    "pocketsphinx: utterance at {rate} Hz cannot be resampled"
                )));
            }
            rtp_media::resample::resample(samples, rate, MODEL_RATE)
        };
        let mut decoder = decoders
            .lock()
            .map_err(|_| SpeechError::Engine("pocketsphinx: decoder pool poisoned".into()))?
            .pop()
            .ok_or_else(|| SpeechError::Engine("pocketsphinx: no free decoder".into()))?;
        let text = decoder.decode(&audio).map_err(engine);
        if let Ok(mut pool) = decoders.lock() {
            pool.push(decoder);
        }
        text
    }
}

/// The expected phrases as dictionary words; words the dictionary lacks
/// are dropped (and logged), phrases left empty are dropped.
fn known_phrases(decoder: &Decoder, expected: &[String]) -> Result<Vec<String>, SpeechError> {
    let mut phrases = Vec::new();
    for phrase in expected {
        let (known, unknown): (Vec<String>, Vec<String>) = words(phrase)
            .into_iter()
            .partition(|w| decoder.knows_word(w));
        if !unknown.is_empty() {
            tracing::warn!(phrase = %phrase, ?unknown, "words not in the pronunciation dictionary are not listened for");
        }
        if !known.is_empty() {
            let p = known.join(" ");
            if !phrases.contains(&p) {
                phrases.push(p);
            }
        }
    }
    if phrases.is_empty() {
        return Err(SpeechError::Engine(
            "pocketsphinx: none of the expected phrases has a word the dictionary knows".into(),
        ));
    }
    Ok(phrases)
}

/// A JSGF grammar: optional fillers, one phrase, optional fillers.
/// (An alternative of fillers alone, for speech that is none of the
/// phrases, wins over the phrase on eSpeak's voice through G.711 too often:
/// 8 of 25 questions heard.)
fn grammar(decoder: &Decoder, phrases: &[String]) -> String {
    let fillers: Vec<&str> = FILLERS
        .iter()
        .copied()
        .filter(|w| decoder.knows_word(w))
        .collect();
    format!(
        "#JSGF V1.0;\ngrammar expected;\n<filler> = {};\n<phrase> = {};\npublic <utterance> = <filler>* <phrase> <filler>*;\n",
        fillers.join(" | "),
        phrases.join(" | ")
    )
}

/// A keyword-spotting list: one phrase a line with its detection
/// threshold. 1e-40 measured best on eSpeak through G.711: 1e-20 hears
/// almost nothing, 1e-60 hears phrases in 8 of 10 unrelated sentences.
fn keyword_list(phrases: &[String]) -> String {
    phrases.iter().map(|p| format!("{p} /1e-40/\n")).collect()
}

impl SpeechToText for PocketSphinx {
    fn transcribe<'a>(
        &'a self,
        utterance: &'a Utterance,
    ) -> BoxFuture<'a, Result<String, SpeechError>> {
        Box::pin(async move {
            if utterance.samples.is_empty() {
                return Ok(String::new());
            }
            let permit = Arc::clone(&self.free)
                .acquire_owned()
                .await
                .map_err(|_| SpeechError::Engine("pocketsphinx: engine closed".into()))?;
            let decoders = Arc::clone(&self.decoders);
            let samples = utterance.samples.clone();
            let rate = utterance.rate;
            tokio::task::spawn_blocking(move || {
                let text = Self::decode_blocking(&decoders, &samples, rate);
                drop(permit);
                text
            })
            .await
            .map_err(|e| SpeechError::Engine(format!("pocketsphinx: decoding task: {e}")))?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_become_lower_case_dictionary_words() {
        assert_eq!(
            words("What are your Opening-Hours?"),
            ["what", "are", "your", "opening", "hours"]
        );
        assert_eq!(
            words("  talk to a person's  "),
            ["talk", "to", "a", "person's"]
        );
        assert!(words("?!").is_empty());
    }

    #[test]
    fn a_keyword_list_has_one_phrase_and_threshold_a_line() {
        let list = keyword_list(&["operator".into(), "opening hours".into()]);
        assert_eq!(list, "operator /1e-40/\nopening hours /1e-40/\n");
    }
}
