//! Text-to-speech with eSpeak NG, offline. By default through its C
//! library (`espeak-ng-sys`): eSpeak keeps global state and is not
//! thread-safe, so one dedicated thread owns it and every reply is queued
//! to that thread, whose audio comes back chunk by chunk as it is
//! produced. Alternatively one `espeak-ng --stdout` process per reply,
//! whose WAV output is read as it is written. The library's first audio
//! comes far sooner (`benches/README.md`).

use crate::call::{BoxFuture, LINE_RATE};
use crate::speech::{SpeechError, SpeechOut, TextToSpeech};
use espeak_ng_sys::{SynthError, Synthesizer};
use rtp_media::resample::{Quality, Resampler};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{mpsc, Mutex, OnceLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::{mpsc as tokio_mpsc, oneshot};

/// Where eSpeak runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EspeakMode {
    /// eSpeak's library on one dedicated thread shared by every engine in
    /// the process (replies are spoken one after another, each in a few
    /// milliseconds). The lowest latency to the first audio.
    #[default]
    Library,
    /// One `espeak-ng --stdout` process per reply (replies in parallel; a
    /// crash in eSpeak ends one reply, not the program), tens of
    /// milliseconds later to the first audio.
    Process,
}

/// How [`EspeakNg`] speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspeakConfig {
    /// The voice (`espeak-ng --voices` lists them): `en-us` (default),
    /// `en`, `en+f3`, `de`, ...
    pub voice: String,
    /// Speaking rate in words per minute (eSpeak's default is 175; here
    /// 160, a little slower for the telephone).
    pub words_per_minute: u32,
    /// The rate the audio is handed on at, Hz (default 8000, the line's):
    /// eSpeak speaks at 22050 Hz and the engine resamples as it streams.
    pub output_rate: u32,
    /// Library or process (default: library).
    pub mode: EspeakMode,
    /// The program [`EspeakMode::Process`] runs (default `espeak-ng`,
    /// found on `PATH`).
    pub program: PathBuf,
}

impl Default for EspeakConfig {
    fn default() -> Self {
        EspeakConfig {
            voice: "en-us".into(),
            words_per_minute: 160,
            output_rate: LINE_RATE,
            mode: EspeakMode::default(),
            program: "espeak-ng".into(),
        }
    }
}

/// Text-to-speech with eSpeak NG, its audio streamed into the call as it
/// is produced, resampled to [`EspeakConfig::output_rate`]. Dropping the
/// synthesis (a barge-in) stops eSpeak.
///
/// ```no_run
/// use agent::engines::{EspeakConfig, EspeakNg};
/// use agent::call::CallHandle;
///
/// # async fn run(call: &CallHandle) -> Result<(), agent::speech::SpeechError> {
/// let tts = EspeakNg::new(EspeakConfig {
///     voice: "en-us".into(),
///     words_per_minute: 150,
///     ..EspeakConfig::default()
/// })?;
/// call.say(&tts, "We are open from nine to five.").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct EspeakNg {
    config: EspeakConfig,
}

/// Bytes read from eSpeak at a time: about 90 ms of its audio, so the
/// first chunk goes out as soon as eSpeak has written it.
const READ_CHUNK: usize = 4096;

fn engine(what: impl std::fmt::Display) -> SpeechError {
    SpeechError::Engine(format!("espeak-ng: {what}"))
}

impl EspeakNg {
    /// An engine speaking with `config`. Errors on a setting eSpeak
    /// cannot take (an empty voice name, a rate out of 80–450 words per
    /// minute, an output rate the resampler refuses); in library mode also
    /// when eSpeak's data or the voice is missing (it starts eSpeak's
    /// thread the first time, and waits for it: call it before serving
    /// calls, not inside an async task). In process mode whether the
    /// program and voice exist shows on the first reply.
    pub fn new(config: EspeakConfig) -> Result<Self, SpeechError> {
        if config.voice.is_empty() || config.voice.starts_with('-') {
            return Err(engine(format!("bad voice name {:?}", config.voice)));
        }
        if !(80..=450).contains(&config.words_per_minute) {
            return Err(engine(format!(
                "speaking rate {} words per minute is outside 80-450",
                config.words_per_minute
            )));
        }
        if !(rtp_media::resample::MIN_RATE..=rtp_media::resample::MAX_RATE)
            .contains(&config.output_rate)
        {
            return Err(engine(format!("output rate {} Hz", config.output_rate)));
        }
        if config.mode == EspeakMode::Library {
            // Speaking nothing checks the voice and rate.
            let (chunks, _audio) = tokio_mpsc::unbounded_channel();
            let (done, result) = mpsc::channel();
            speaker()?.send(Job {
                voice: config.voice.clone(),
                words_per_minute: config.words_per_minute,
                text: String::new(),
                chunks,
                done: Done::Blocking(done),
            })?;
            result
                .recv()
                .map_err(|_| engine("its thread ended"))?
                .map_err(engine)?;
        }
        Ok(EspeakNg { config })
    }

    /// The settings it speaks with.
    pub fn config(&self) -> &EspeakConfig {
        &self.config
    }

    /// Speaks `text`, calling `sink` with each chunk of audio at
    /// [`EspeakConfig::output_rate`] as eSpeak produces it. The streaming
    /// core of [`TextToSpeech::synthesize`], usable without a call.
    pub async fn speak_into(
        &self,
        text: &str,
        sink: impl FnMut(Vec<i16>) -> Result<(), SpeechError>,
    ) -> Result<(), SpeechError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let mut converter = Converter::new(self.config.output_rate, sink);
        match self.config.mode {
            EspeakMode::Library => self.speak_library(text, &mut converter).await?,
            EspeakMode::Process => self.speak_process(text, &mut converter).await?,
        }
        converter.finish()
    }

    async fn speak_library<S>(
        &self,
        text: &str,
        converter: &mut Converter<S>,
    ) -> Result<(), SpeechError>
    where
        S: FnMut(Vec<i16>) -> Result<(), SpeechError>,
    {
        let speaker = speaker()?;
        let (chunks, mut audio) = tokio_mpsc::unbounded_channel();
        let (done, result) = oneshot::channel();
        speaker.send(Job {
            voice: self.config.voice.clone(),
            words_per_minute: self.config.words_per_minute,
            text: text.replace(['\r', '\n'], " "),
            chunks,
            done: Done::Async(done),
        })?;
        // Dropping `audio` (this future dropped at a barge-in) stops
        // eSpeak at its next buffer.
        while let Some(chunk) = audio.recv().await {
            converter.push(speaker.rate, &chunk)?;
        }
        result
            .await
            .map_err(|_| engine("its thread ended"))?
            .map_err(engine)
    }

    async fn speak_process<S>(
        &self,
        text: &str,
        converter: &mut Converter<S>,
    ) -> Result<(), SpeechError>
    where
        S: FnMut(Vec<i16>) -> Result<(), SpeechError>,
    {
        let mut child = Command::new(&self.config.program)
            .arg("--stdout")
            .arg("-v")
            .arg(&self.config.voice)
            .arg("-s")
            .arg(self.config.words_per_minute.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| engine(format!("starting {}: {e}", self.config.program.display())))?;
        let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(engine("no pipes to the process"));
        };
        // The text goes in on stdin, never as an argument eSpeak could take
        // for an option; a closed stdin ends its input.
        let line = format!("{}\n", text.replace(['\r', '\n'], " "));
        let writer = async move {
            let written = stdin.write_all(line.as_bytes()).await;
            drop(stdin);
            written
        };
        let errors = async move {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s).await;
            s
        };
        let reader = async {
            let mut wav = WavStream::default();
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                let n = stdout.read(&mut buf).await.map_err(engine)?;
                if n == 0 {
                    break;
                }
                let samples = wav.push(&buf[..n])?;
                if let (false, Some(rate)) = (samples.is_empty(), wav.rate) {
                    converter.push(rate, &samples)?;
                }
            }
            Ok::<_, SpeechError>(wav.rate.is_some())
        };
        let (written, heard, errors) = tokio::join!(writer, reader, errors);
        let status = child.wait().await.map_err(engine)?;
        if !status.success() {
            return Err(engine(format!("exited with {status}: {}", errors.trim())));
        }
        written.map_err(|e| engine(format!("writing the text: {e}")))?;
        if !heard? {
            return Err(engine(format!("no audio for the text: {}", errors.trim())));
        }
        Ok(())
    }
}

/// Converts eSpeak's audio to the output rate as it streams, handing each
/// converted chunk to the sink.
struct Converter<S> {
    to: u32,
    resampler: Option<Resampler>,
    sink: S,
}

/// Most input samples converted in one go.
const CONVERT_BLOCK: usize = 4096;

impl<S: FnMut(Vec<i16>) -> Result<(), SpeechError>> Converter<S> {
    fn new(to: u32, sink: S) -> Self {
        Converter {
            to,
            resampler: None,
            sink,
        }
    }

    /// `samples` at `rate` Hz (the same rate on every call).
    fn push(&mut self, rate: u32, samples: &[i16]) -> Result<(), SpeechError> {
        if rate == self.to {
            return (self.sink)(samples.to_vec());
        }
        if self.resampler.is_none() {
            self.resampler =
                Some(Resampler::new(rate, self.to, CONVERT_BLOCK, Quality::Sinc).map_err(engine)?);
        }
        if let Some(r) = self.resampler.as_mut() {
            for block in samples.chunks(CONVERT_BLOCK) {
                let out = r.process(block).map_err(engine)?.to_vec();
                (self.sink)(out)?;
            }
        }
        Ok(())
    }

    /// Flushes what the resampler still holds (its delay's worth).
    fn finish(mut self) -> Result<(), SpeechError> {
        if let Some(r) = self.resampler.as_mut() {
            let from = u64::from(r.from_rate());
            let tail = (r.latency() as u64 * from / u64::from(self.to.max(1))) as usize + 1;
            let zeros = vec![0i16; tail.min(CONVERT_BLOCK)];
            let out = r.process(&zeros).map_err(engine)?.to_vec();
            (self.sink)(out)?;
        }
        Ok(())
    }
}

/// Where eSpeak's thread reports that a job is done.
enum Done {
    /// To a task awaiting it.
    Async(oneshot::Sender<Result<(), SynthError>>),
    /// To a thread blocked on it (checking the settings in `new`).
    Blocking(mpsc::Sender<Result<(), SynthError>>),
}

/// A reply for eSpeak's thread.
struct Job {
    voice: String,
    words_per_minute: u32,
    text: String,
    /// Each buffer of audio, at [`Speaker::rate`]; closed when done.
    chunks: tokio_mpsc::UnboundedSender<Vec<i16>>,
    done: Done,
}

/// The thread that owns eSpeak's library, one per process.
struct Speaker {
    jobs: Mutex<mpsc::Sender<Job>>,
    /// The rate eSpeak speaks at, Hz.
    rate: u32,
}

impl Speaker {
    fn send(&self, job: Job) -> Result<(), SpeechError> {
        self.jobs
            .lock()
            .map_err(|_| engine("its queue is poisoned"))?
            .send(job)
            .map_err(|_| engine("its thread ended"))
    }
}

static SPEAKER: OnceLock<Result<Speaker, SynthError>> = OnceLock::new();

/// eSpeak's thread, started the first time.
fn speaker() -> Result<&'static Speaker, SpeechError> {
    SPEAKER
        .get_or_init(|| {
            let (jobs, queue) = mpsc::channel::<Job>();
            let (ready, started) = mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("espeak-ng".into())
                .spawn(move || {
                    let mut synth = match Synthesizer::new() {
                        Ok(synth) => {
                            let _ = ready.send(Ok(synth.sample_rate()));
                            synth
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    };
                    for job in queue {
                        let result = speak_job(&mut synth, &job);
                        drop(job.chunks);
                        match job.done {
                            Done::Async(done) => {
                                let _ = done.send(result);
                            }
                            Done::Blocking(done) => {
                                let _ = done.send(result);
                            }
                        }
                    }
                });
            if spawned.is_err() {
                return Err(SynthError::Init);
            }
            let rate = started.recv().map_err(|_| SynthError::Init)??;
            tracing::debug!(rate, "espeak-ng library started on its own thread");
            Ok(Speaker {
                jobs: Mutex::new(jobs),
                rate,
            })
        })
        .as_ref()
        .map_err(|e| engine(e.clone()))
}

/// Speaks one job on eSpeak's thread; stops when its listener is gone.
fn speak_job(synth: &mut Synthesizer, job: &Job) -> Result<(), SynthError> {
    synth.set_voice(&job.voice)?;
    synth.set_words_per_minute(job.words_per_minute)?;
    if job.text.trim().is_empty() {
        return Ok(());
    }
    synth.speak(&job.text, &mut |samples| {
        job.chunks.send(samples.to_vec()).is_ok()
    })
}

/// Reads a WAV stream as it arrives: the RIFF header (its format chunk for
/// the rate, 16-bit mono only), then the samples of the data chunk.
#[derive(Debug, Default)]
struct WavStream {
    header: Vec<u8>,
    in_data: bool,
    rate: Option<u32>,
    /// An odd byte left over from the previous read.
    carry: Option<u8>,
}

impl WavStream {
    /// The samples in `bytes` (none while the header is still coming).
    fn push(&mut self, bytes: &[u8]) -> Result<Vec<i16>, SpeechError> {
        let mut data: &[u8] = bytes;
        let owned;
        if !self.in_data {
            self.header.extend_from_slice(bytes);
            match self.parse_header()? {
                Some(start) => {
                    owned = self.header.split_off(start);
                    self.header.clear();
                    self.in_data = true;
                    data = &owned;
                }
                None => {
                    if self.header.len() > 64 * 1024 {
                        return Err(engine(
                            "no data chunk in the first 64 KiB of its WAV output",
                        ));
                    }
                    return Ok(Vec::new());
                }
            }
        }
        let mut out = Vec::with_capacity(data.len() / 2 + 1);
        let mut rest = data;
        if let Some(lo) = self.carry.take() {
            match rest.split_first() {
                Some((&hi, tail)) => {
                    out.push(i16::from_le_bytes([lo, hi]));
                    rest = tail;
                }
                None => {
                    self.carry = Some(lo);
                    return Ok(out);
                }
            }
        }
        let mut pairs = rest.chunks_exact(2);
        out.extend(pairs.by_ref().map(|b| i16::from_le_bytes([b[0], b[1]])));
        self.carry = pairs.remainder().first().copied();
        Ok(out)
    }

    /// Where the samples start in `self.header`, once the header is whole.
    fn parse_header(&mut self) -> Result<Option<usize>, SpeechError> {
        let h = &self.header;
        if h.len() < 12 {
            return Ok(None);
        }
        if &h[0..4] != b"RIFF" || &h[8..12] != b"WAVE" {
            return Err(engine("its output is not WAV"));
        }
        let mut at = 12;
        while h.len() >= at + 8 {
            let id = &h[at..at + 4];
            let len = u32::from_le_bytes([h[at + 4], h[at + 5], h[at + 6], h[at + 7]]) as usize;
            let body = at + 8;
            if id == b"data" {
                if self.rate.is_none() {
                    return Err(engine("WAV data before its format"));
                }
                return Ok(Some(body));
            }
            if h.len() < body + len {
                return Ok(None);
            }
            if id == b"fmt " {
                if len < 16 {
                    return Err(engine("short WAV format chunk"));
                }
                let f = &h[body..body + 16];
                let format = u16::from_le_bytes([f[0], f[1]]);
                let channels = u16::from_le_bytes([f[2], f[3]]);
                let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
                let bits = u16::from_le_bytes([f[14], f[15]]);
                if format != 1 || channels != 1 || bits != 16 {
                    return Err(engine(format!(
                        "WAV format {format}, {channels} channels, {bits} bits: want 16-bit mono PCM"
                    )));
                }
                if !(rtp_media::resample::MIN_RATE..=rtp_media::resample::MAX_RATE).contains(&rate)
                {
                    return Err(engine(format!("WAV at {rate} Hz")));
                }
                self.rate = Some(rate);
            }
            at = body + len + (len & 1);
        }
        Ok(None)
    }
}

impl TextToSpeech for EspeakNg {
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        out: &'a mut SpeechOut,
    ) -> BoxFuture<'a, Result<(), SpeechError>> {
        let rate = self.config.output_rate;
        Box::pin(async move { self.speak_into(text, |chunk| out.play(chunk, rate)).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(rate: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&0x7fff_ffffu32.to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&(rate * 2).to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&0x7fff_ffffu32.to_le_bytes());
        h
    }

    #[test]
    fn a_wav_stream_split_anywhere_gives_its_samples_in_order() {
        let mut bytes = header(22_050);
        for s in [1i16, -2, 300, -32768, 32767] {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        for split in 1..bytes.len() {
            let mut wav = WavStream::default();
            let mut got = wav.push(&bytes[..split]).expect("valid");
            got.extend(wav.push(&bytes[split..]).expect("valid"));
            assert_eq!(got, [1, -2, 300, -32768, 32767], "split at {split}");
            assert_eq!(wav.rate, Some(22_050));
        }
    }

    #[test]
    fn output_that_is_not_16_bit_mono_wav_is_an_error() {
        assert!(WavStream::default().push(b"hello, this is no wav").is_err());
        let mut stereo = header(22_050);
        stereo[22] = 2;
        assert!(WavStream::default().push(&stereo).is_err());
    }

    #[test]
    fn settings_espeak_cannot_take_are_refused() {
        for config in [
            EspeakConfig {
                voice: String::new(),
                ..EspeakConfig::default()
            },
            EspeakConfig {
                voice: "--help".into(),
                ..EspeakConfig::default()
            },
            EspeakConfig {
                words_per_minute: 2000,
                ..EspeakConfig::default()
            },
            EspeakConfig {
                output_rate: 0,
                ..EspeakConfig::default()
            },
        ] {
            assert!(EspeakNg::new(config).is_err());
        }
    }
}
