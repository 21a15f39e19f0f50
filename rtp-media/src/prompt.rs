//! Prompts: audio files decoded once into 8 kHz mono 16-bit samples ready to
//! be G.711-encoded and played to a caller.
//!
//! Greetings, hold music and error messages come from whatever tool produced
//! them: WAV at 44.1 kHz stereo, MP3, FLAC, Ogg/Vorbis. [`Prompt`] decodes
//! any of them with `symphonia`, downmixes to mono, converts to the line
//! rate with [`crate::resample::resample`], and hands out 20 ms frames.
//! Encoder delay and padding declared in the file (an MP3's LAME tag) are
//! trimmed, so a prompt neither starts late nor ends with padding.
//! Decoding happens at load time, off the media hot path; playback then
//! only copies frames.

use crate::resample::{resample, MAX_RATE, MIN_RATE};
use std::io::Cursor;
use std::path::Path;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Rate prompts are converted to (the G.711 line rate).
pub const PROMPT_RATE: u32 = 8000;
/// Samples per 20 ms frame at [`PROMPT_RATE`].
pub const FRAME_SAMPLES: usize = 160;
/// Longest prompt accepted, in seconds of source audio. A prompt is held in
/// memory whole, so a hostile or broken file must not be able to exhaust it.
pub const MAX_PROMPT_SECS: u64 = 30 * 60;

/// Errors loading a prompt.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The file could not be opened or read.
    #[error("prompt I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The container or codec is not one symphonia can read.
    #[error("unsupported prompt format: {0}")]
    Unsupported(String),
    /// The file is corrupt beyond what the decoder skips over.
    #[error("malformed prompt: {0}")]
    Malformed(String),
    /// The file has no audio track, or the track states no sample rate.
    #[error("prompt has no usable audio track")]
    NoAudio,
    /// Longer than [`MAX_PROMPT_SECS`].
    #[error("prompt longer than {MAX_PROMPT_SECS} s")]
    TooLong,
}

impl From<SymphoniaError> for PromptError {
    fn from(e: SymphoniaError) -> Self {
        match e {
            SymphoniaError::IoError(io) => PromptError::Io(io),
            SymphoniaError::Unsupported(what) => PromptError::Unsupported(what.to_string()),
            other => PromptError::Malformed(other.to_string()),
        }
    }
}

/// A decoded prompt: 8 kHz mono 16-bit samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    samples: Vec<i16>,
    source_rate: u32,
    source_channels: usize,
}

impl Prompt {
    /// Decodes the audio file at `path`; the extension is used as a format
    /// hint, the content decides.
    pub fn load(path: impl AsRef<Path>) -> Result<Prompt, PromptError> {
        let path = path.as_ref();
        let file = std::fs::File::open(path)?;
        let ext = path.extension().and_then(|e| e.to_str());
        Self::decode(Box::new(file), ext)
    }

    /// Decodes an audio file held in memory (from a database, an HTTP
    /// response, an embedded asset). `hint_ext` is the usual file extension
    /// ("wav", "mp3", ...), if known.
    pub fn from_bytes(
        bytes: impl Into<Vec<u8>>,
        hint_ext: Option<&str>,
    ) -> Result<Prompt, PromptError> {
        Self::decode(Box::new(Cursor::new(bytes.into())), hint_ext)
    }

    /// Wraps samples that are already 8 kHz mono.
    pub fn from_samples(samples: Vec<i16>) -> Prompt {
        Prompt {
            samples,
            source_rate: PROMPT_RATE,
            source_channels: 1,
        }
    }

    /// Decodes behind a panic guard: symphonia 0.5 asserts on some
    /// malformed headers (a WAV with a zero sample rate panics in
    /// `TimeBase::new`), and a prompt upload must never take the process
    /// down. Decoding shares no state with the caller, so unwinding out of
    /// it leaves nothing inconsistent.
    fn decode(source: Box<dyn MediaSource>, hint_ext: Option<&str>) -> Result<Prompt, PromptError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Self::decode_inner(source, hint_ext)
        }))
        .unwrap_or_else(|_| {
            Err(PromptError::Malformed(
                "decoder rejected the file (panicked)".into(),
            ))
        })
    }

    fn decode_inner(
        source: Box<dyn MediaSource>,
        hint_ext: Option<&str>,
    ) -> Result<Prompt, PromptError> {
        let mss = MediaSourceStream::new(source, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = hint_ext {
            hint.with_extension(ext);
        }
        // Gapless: trim the encoder delay and padding that MP3 (LAME tag)
        // and AAC files declare, or a prompt starts with ~50 ms of silence
        // and ends with padding.
        let format_options = FormatOptions {
            enable_gapless: true,
            ..FormatOptions::default()
        };
        let probed = symphonia::default::get_probe().format(
            &hint,
            mss,
            &format_options,
            &MetadataOptions::default(),
        )?;
        let mut format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or(PromptError::NoAudio)?;
        let track_id = track.id;
        let mut rate = track.codec_params.sample_rate;
        let mut decoder = symphonia::default::get_codecs()
            .make(&track.codec_params, &DecoderOptions::default())?;

        let mut mono: Vec<i16> = Vec::new();
        let mut channels = 0usize;
        let mut buf: Option<SampleBuffer<f32>> = None;
        loop {
            let packet = match format.next_packet() {
                Ok(p) => p,
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    break
                }
                // A chained stream (new Ogg logical stream): what we have is the prompt.
                Err(SymphoniaError::ResetRequired) => break,
                Err(e) => return Err(e.into()),
            };
            if packet.track_id() != track_id {
                continue;
            }
            let decoded = match decoder.decode(&packet) {
                Ok(d) => d,
                // A corrupt packet: skip it, as a player would.
                Err(SymphoniaError::DecodeError(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let spec = *decoded.spec();
            if spec.rate == 0 {
                return Err(PromptError::NoAudio);
            }
            let r = *rate.get_or_insert(spec.rate);
            if r != spec.rate {
                return Err(PromptError::Malformed(format!(
                    "sample rate changes mid-stream ({r} → {} Hz)",
                    spec.rate
                )));
            }
            let ch = spec.channels.count().max(1);
            channels = ch;
            let frames = decoded.frames();
            let needed = decoded.capacity();
            let sb = match &mut buf {
                Some(sb) if sb.capacity() >= needed * ch => sb,
                _ => buf.insert(SampleBuffer::new(needed as u64, spec)),
            };
            sb.copy_interleaved_ref(decoded);
            let limit = MAX_PROMPT_SECS * u64::from(r);
            if (mono.len() + frames) as u64 > limit {
                return Err(PromptError::TooLong);
            }
            for frame in sb.samples().chunks_exact(ch) {
                let sum: f32 = frame.iter().sum();
                let v = (sum / ch as f32 * 32768.0).round().clamp(-32768.0, 32767.0);
                mono.push(v as i16);
            }
        }
        let rate = rate.filter(|&r| r > 0).ok_or(PromptError::NoAudio)?;
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            return Err(PromptError::Unsupported(format!("sample rate {rate} Hz")));
        }
        if channels == 0 {
            return Err(PromptError::NoAudio);
        }
        Ok(Prompt {
            samples: resample(&mono, rate, PROMPT_RATE),
            source_rate: rate,
            source_channels: channels,
        })
    }

    /// All samples, 8 kHz mono.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// Playing time.
    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_micros(
            self.samples.len() as u64 * 1_000_000 / u64::from(PROMPT_RATE),
        )
    }

    /// Sample rate of the file before conversion.
    pub fn source_rate(&self) -> u32 {
        self.source_rate
    }

    /// Channels of the file before downmixing.
    pub fn source_channels(&self) -> usize {
        self.source_channels
    }

    /// Number of 20 ms frames, counting a partial last frame.
    pub fn frame_count(&self) -> usize {
        self.samples.len().div_ceil(FRAME_SAMPLES)
    }

    /// The prompt as 20 ms frames of 160 samples; the last frame is padded
    /// with silence.
    pub fn frames(&self) -> Frames<'_> {
        Frames {
            chunks: self.samples.chunks(FRAME_SAMPLES),
        }
    }
}

/// Iterator over a prompt's 20 ms frames (see [`Prompt::frames`]).
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    chunks: std::slice::Chunks<'a, i16>,
}

impl Iterator for Frames<'_> {
    type Item = [i16; FRAME_SAMPLES];

    fn next(&mut self) -> Option<Self::Item> {
        let chunk = self.chunks.next()?;
        let mut frame = [0i16; FRAME_SAMPLES];
        frame[..chunk.len()].copy_from_slice(chunk);
        Some(frame)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for Frames<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::wav_bytes;
    use std::process::Command;

    fn tone(freq: f64, rate: u32, secs: f64, amp: f64, channels: usize) -> Vec<i16> {
        let n = (f64::from(rate) * secs) as usize;
        let mut out = Vec::with_capacity(n * channels);
        for i in 0..n {
            let v = (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                as i16;
            for _ in 0..channels {
                out.push(v);
            }
        }
        out
    }

    /// Frequency from positive-going zero crossings over the middle 80 %.
    fn frequency(x: &[i16]) -> f64 {
        let core = &x[x.len() / 10..x.len() * 9 / 10];
        let crossings = core.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
        crossings as f64 * f64::from(PROMPT_RATE) / core.len() as f64
    }

    fn rms(x: &[i16]) -> f64 {
        let core = &x[x.len() / 10..x.len() * 9 / 10];
        (core.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / core.len() as f64).sqrt()
    }

    fn check_tone(p: &Prompt, secs: f64, freq: f64, amp: f64) {
        let want = (secs * 8000.0) as i64;
        assert!(
            (p.samples().len() as i64 - want).abs() <= 80,
            "length {} vs {want}",
            p.samples().len()
        );
        let f = frequency(p.samples());
        assert!((f - freq).abs() < 3.0, "tone at {f} Hz, want {freq}");
        let level = rms(p.samples());
        let want_rms = amp / 2f64.sqrt();
        assert!(
            (20.0 * (level / want_rms).log10()).abs() < 1.0,
            "rms {level} vs {want_rms}"
        );
    }

    #[test]
    fn wav_44k1_stereo_downmixed_and_resampled() {
        let bytes = wav_bytes(&tone(440.0, 44100, 2.0, 12000.0, 2), 44100, 2).unwrap();
        let p = Prompt::from_bytes(bytes, Some("wav")).unwrap();
        assert_eq!((p.source_rate(), p.source_channels()), (44100, 2));
        check_tone(&p, 2.0, 440.0, 12000.0);
        assert_eq!(p.duration().as_millis(), 2000);
    }

    #[test]
    fn stereo_channels_are_averaged() {
        // Left = tone, right = silence: the downmix is half the tone.
        let mut stereo = tone(440.0, 16000, 1.0, 16000.0, 2);
        for pair in stereo.chunks_exact_mut(2) {
            pair[1] = 0;
        }
        let p = Prompt::from_bytes(wav_bytes(&stereo, 16000, 2).unwrap(), None).unwrap();
        check_tone(&p, 1.0, 440.0, 8000.0);
    }

    #[test]
    fn wav_16k_mono_from_file() {
        let dir = std::env::temp_dir().join(format!("rtp-media-prompt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mono16k.wav");
        std::fs::write(
            &path,
            wav_bytes(&tone(440.0, 16000, 1.5, 10000.0, 1), 16000, 1).unwrap(),
        )
        .unwrap();
        let p = Prompt::load(&path).unwrap();
        assert_eq!((p.source_rate(), p.source_channels()), (16000, 1));
        check_tone(&p, 1.5, 440.0, 10000.0);
    }

    #[test]
    fn frames_are_160_samples_with_padded_tail() {
        let p = Prompt::from_samples((1..=400).map(|i| i as i16).collect());
        let frames: Vec<_> = p.frames().collect();
        assert_eq!(frames.len(), 3);
        assert_eq!(p.frame_count(), 3);
        assert_eq!(p.frames().len(), 3);
        assert_eq!(frames[0][0], 1);
        assert_eq!(frames[2][79], 400);
        assert!(frames[2][80..].iter().all(|&s| s == 0));
        assert_eq!(Prompt::from_samples(Vec::new()).frames().count(), 0);
    }

    fn sox_file(name: &str, args: &[&str]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rtp-media-prompt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let status = Command::new("sox")
            .arg("-n")
            .args(args)
            .arg(&path)
            .args(["synth", "1.5", "sine", "440", "vol", "0.4"])
            .status();
        match status {
            Ok(s) if s.success() => path,
            Ok(s) => panic!("sox failed ({s}) creating {name}"),
            Err(e) => panic!("sox is not installed ({e}); run ./scripts/test, which installs it"),
        }
    }

    #[test]
    fn flac_and_ogg_vorbis_from_sox() {
        for (name, args) in [
            ("t.flac", &["-r", "44100", "-c", "2"][..]),
            ("t.ogg", &["-r", "48000", "-c", "1"][..]),
            ("t24.wav", &["-r", "22050", "-b", "24", "-c", "1"][..]),
        ] {
            let path = sox_file(name, args);
            let p = Prompt::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let _ = std::fs::remove_file(&path);
            check_tone(&p, 1.5, 440.0, 0.4 * 32768.0);
        }
    }

    #[test]
    fn mp3_with_lame_tag_decodes_to_the_tone_at_its_real_length() {
        // tests/data/README.md says how the file was made.
        let bytes = include_bytes!("../tests/data/tone440.mp3");
        let p = Prompt::from_bytes(bytes.to_vec(), Some("mp3")).unwrap();
        assert_eq!((p.source_rate(), p.source_channels()), (22050, 1));
        check_tone(&p, 1.0, 440.0, 0.4 * 32768.0);
        // Without the extension hint the content still decides.
        let q = Prompt::from_bytes(bytes.to_vec(), None).unwrap();
        assert_eq!(q.samples().len(), p.samples().len());
    }

    #[test]
    fn garbage_and_truncated_input_are_errors_not_panics() {
        assert!(matches!(
            Prompt::from_bytes(Vec::new(), None),
            Err(PromptError::Unsupported(_) | PromptError::Io(_))
        ));
        assert!(Prompt::from_bytes(b"not audio at all, just text".to_vec(), Some("wav")).is_err());
        assert!(matches!(
            Prompt::load("/nonexistent/prompt.wav"),
            Err(PromptError::Io(_))
        ));
        let good = wav_bytes(&tone(440.0, 8000, 0.5, 1000.0, 1), 8000, 1).unwrap();
        // Truncated anywhere: an error or a shorter prompt, never a panic.
        for cut in [4, 12, 20, 36, 43, 44, 45, 100, 1001] {
            if let Ok(p) = Prompt::from_bytes(good[..cut].to_vec(), Some("wav")) {
                assert!(p.samples().len() <= 4000);
            }
        }
        // Corrupt header fields.
        let mut bad = good.clone();
        bad[22] = 0; // zero channels
        let _ = Prompt::from_bytes(bad, Some("wav"));
        let mut bad = good.clone();
        bad[24..28].copy_from_slice(&500u32.to_le_bytes()); // below MIN_RATE
        bad[28..32].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(
            Prompt::from_bytes(bad, Some("wav")),
            Err(PromptError::Unsupported(_))
        ));
        let mut bad = good.clone();
        bad[24..28].copy_from_slice(&0u32.to_le_bytes()); // zero rate
        assert!(Prompt::from_bytes(bad, Some("wav")).is_err());
        let mut bad = good;
        bad[40..44].copy_from_slice(&u32::MAX.to_le_bytes()); // huge data size
                                                              // symphonia refuses a data chunk longer than its RIFF parent;
                                                              // either way nothing beyond the real data appears.
        if let Ok(p) = Prompt::from_bytes(bad, Some("wav")) {
            assert_eq!(p.samples().len(), 4000);
        }
    }
}
