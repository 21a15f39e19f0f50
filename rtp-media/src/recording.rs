//! Call recording to WAV (16-bit PCM, 8 kHz): the caller, the agent, or both
//! as stereo (left = caller, right = agent).
//!
//! WAV is what compliance archives, QA tools and ASR batch jobs all accept.
//! The header is written up front with zero sizes and fixed up by
//! [`Recorder::finish`], so a recording is streamed to disk as the call goes
//! and never held in memory.
//!
//! In stereo the two directions arrive independently (the caller's frames
//! from the jitter buffer, the agent's from the voice engine), so frames are
//! paired by arrival: a caller frame waits for the next agent frame and vice
//! versa; when one side delivers twice before the other delivers at all, the
//! first frame is written against silence. The channels therefore stay
//! sample-aligned whatever either side does.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

/// Sample rate of recordings (the G.711 line rate).
pub const RECORDING_RATE: u32 = 8000;
/// Largest `data` chunk a WAV file can describe.
const MAX_DATA_BYTES: u64 = u32::MAX as u64 - 44;
/// Samples per side encoded at once; larger writes are split.
const CHUNK: usize = 480;
/// Bytes a [`Recorder`] buffers before writing to its file.
const WRITE_BUFFER: usize = 64 * 1024;

/// Errors while recording.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The file could not be created or written.
    #[error("recording I/O: {0}")]
    Io(#[from] io::Error),
    /// The recording reached the 4 GiB WAV limit; later audio is dropped.
    #[error("recording reached the WAV size limit")]
    TooLarge,
    /// The audio is in the file, but the RIFF and data sizes in its header
    /// are not: they are written last, by seeking back to the start, and
    /// the file refused the seek (a pipe or a socket cannot seek). Readers
    /// that trust the header see fewer samples than there are.
    #[error("WAV header sizes not written: cannot seek back in the file (a pipe?): {0}")]
    Finalize(io::Error),
    /// A channel count other than 1 or 2, or a zero rate.
    #[error("unsupported WAV format: {channels} channels at {rate} Hz")]
    Format {
        /// Channels requested.
        channels: u16,
        /// Rate requested.
        rate: u32,
    },
}

/// Which directions of a call to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordMode {
    /// The caller only (what the phone line sent), mono.
    Caller,
    /// The agent only (what was played to the line), mono.
    Agent,
    /// Both: left channel caller, right channel agent.
    Stereo,
}

impl RecordMode {
    /// Channels in the WAV file.
    pub fn channels(self) -> u16 {
        match self {
            RecordMode::Caller | RecordMode::Agent => 1,
            RecordMode::Stereo => 2,
        }
    }
}

/// Minimal streaming writer of 16-bit PCM WAV into any seekable sink.
///
/// Writes a canonical 44-byte header with placeholder sizes; [`WavWriter::finish`]
/// seeks back and fills in the RIFF and data sizes.
#[derive(Debug)]
pub struct WavWriter<W: Write + Seek> {
    out: W,
    channels: u16,
    data_bytes: u64,
    scratch: Vec<u8>,
}

impl<W: Write + Seek> WavWriter<W> {
    /// Starts a WAV stream of `channels` interleaved channels at `rate` Hz.
    pub fn new(mut out: W, rate: u32, channels: u16) -> Result<Self, RecordingError> {
        if !(1..=2).contains(&channels) || rate == 0 {
            return Err(RecordingError::Format { channels, rate });
        }
        let block_align = 2 * channels;
        let mut h = [0u8; 44];
        h[0..4].copy_from_slice(b"RIFF");
        h[4..8].copy_from_slice(&36u32.to_le_bytes());
        h[8..12].copy_from_slice(b"WAVE");
        h[12..16].copy_from_slice(b"fmt ");
        h[16..20].copy_from_slice(&16u32.to_le_bytes());
        h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
        h[22..24].copy_from_slice(&channels.to_le_bytes());
        h[24..28].copy_from_slice(&rate.to_le_bytes());
        h[28..32].copy_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
        h[32..34].copy_from_slice(&block_align.to_le_bytes());
        h[34..36].copy_from_slice(&16u16.to_le_bytes());
        h[36..40].copy_from_slice(b"data");
        out.write_all(&h)?;
        Ok(WavWriter {
            out,
            channels,
            data_bytes: 0,
            scratch: Vec::with_capacity(CHUNK * 2 * 2),
        })
    }

    /// Appends interleaved samples (a whole number of frames is up to the
    /// caller; the file stays valid either way once finished).
    pub fn write_samples(&mut self, samples: &[i16]) -> Result<(), RecordingError> {
        if self.data_bytes + 2 * samples.len() as u64 > MAX_DATA_BYTES {
            return Err(RecordingError::TooLarge);
        }
        for chunk in samples.chunks(CHUNK * 2) {
            self.scratch.clear();
            for s in chunk {
                self.scratch.extend_from_slice(&s.to_le_bytes());
            }
            self.out.write_all(&self.scratch)?;
        }
        self.data_bytes += 2 * samples.len() as u64;
        Ok(())
    }

    /// Writes left/right pairs from two equally long slices (the shorter
    /// length wins).
    fn write_pairs(&mut self, left: &[i16], right: &[i16]) -> Result<(), RecordingError> {
        let n = left.len().min(right.len());
        if self.data_bytes + 4 * n as u64 > MAX_DATA_BYTES {
            return Err(RecordingError::TooLarge);
        }
        for (l, r) in left[..n].chunks(CHUNK).zip(right[..n].chunks(CHUNK)) {
            self.scratch.clear();
            for (a, b) in l.iter().zip(r) {
                self.scratch.extend_from_slice(&a.to_le_bytes());
                self.scratch.extend_from_slice(&b.to_le_bytes());
            }
            self.out.write_all(&self.scratch)?;
        }
        self.data_bytes += 4 * n as u64;
        Ok(())
    }

    /// Frames (samples per channel) written so far.
    pub fn frames_written(&self) -> u64 {
        self.data_bytes / (2 * u64::from(self.channels))
    }

    /// Fixes up the RIFF and data sizes and returns the sink.
    pub fn finish(mut self) -> Result<W, RecordingError> {
        self.fix_sizes()?;
        Ok(self.out)
    }

    fn fix_sizes(&mut self) -> Result<(), RecordingError> {
        // Pad byte for an odd data size is impossible with 16-bit samples.
        let data = self.data_bytes.min(MAX_DATA_BYTES) as u32;
        // Everything written is out before seeking, so that a failed seek
        // is told apart from a failed write.
        self.out.flush()?;
        self.patch(4, 36 + data)?;
        self.patch(40, data)?;
        self.out
            .seek(SeekFrom::End(0))
            .map_err(RecordingError::Finalize)?;
        Ok(())
    }

    /// Overwrites the 32-bit little-endian field at byte `at`.
    fn patch(&mut self, at: u64, value: u32) -> Result<(), RecordingError> {
        self.out
            .seek(SeekFrom::Start(at))
            .map_err(RecordingError::Finalize)?;
        self.out.write_all(&value.to_le_bytes())?;
        self.out.flush()?;
        Ok(())
    }
}

/// Encodes a whole clip as a WAV file in memory (tests, prompts, tools).
pub fn wav_bytes(samples: &[i16], rate: u32, channels: u16) -> Result<Vec<u8>, RecordingError> {
    let mut w = WavWriter::new(
        io::Cursor::new(Vec::with_capacity(44 + 2 * samples.len())),
        rate,
        channels,
    )?;
    w.write_samples(samples)?;
    Ok(w.finish()?.into_inner())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Caller,
    Agent,
}

/// Records one call to a WAV file.
///
/// Buffers are allocated at creation; writing a frame copies it at most
/// once into a pending buffer (stereo) and encodes it through a fixed
/// scratch buffer, so recording adds no per-frame allocation.
#[derive(Debug)]
pub struct Recorder {
    wav: Option<WavWriter<BufWriter<File>>>,
    mode: RecordMode,
    /// Stereo: one side's samples waiting for the other side.
    pending: Vec<i16>,
    pending_side: Option<Side>,
    silence: Vec<i16>,
}

impl Recorder {
    /// Creates (truncating) the WAV file at `path` and writes its header.
    pub fn create(path: impl AsRef<Path>, mode: RecordMode) -> Result<Self, RecordingError> {
        Self::create_buffered(path, mode, WRITE_BUFFER)
    }

    /// [`Recorder::create`] with a write buffer of `buffer` bytes (tests
    /// that need each frame to reach the file at once).
    pub(crate) fn create_buffered(
        path: impl AsRef<Path>,
        mode: RecordMode,
        buffer: usize,
    ) -> Result<Self, RecordingError> {
        let file = BufWriter::with_capacity(buffer, File::create(path)?);
        Ok(Recorder {
            wav: Some(WavWriter::new(file, RECORDING_RATE, mode.channels())?),
            mode,
            pending: Vec::with_capacity(CHUNK),
            pending_side: None,
            silence: vec![0; CHUNK],
        })
    }

    /// The mode this recorder was created with.
    pub fn mode(&self) -> RecordMode {
        self.mode
    }

    /// Samples per channel written to the file so far (pending stereo
    /// samples not included).
    pub fn frames_written(&self) -> u64 {
        self.wav.as_ref().map_or(0, WavWriter::frames_written)
    }

    /// Records audio received from the caller (8 kHz). Ignored in
    /// [`RecordMode::Agent`].
    pub fn write_caller(&mut self, samples: &[i16]) -> Result<(), RecordingError> {
        self.write(Side::Caller, samples)
    }

    /// Records audio sent to the caller by the agent (8 kHz). Ignored in
    /// [`RecordMode::Caller`].
    pub fn write_agent(&mut self, samples: &[i16]) -> Result<(), RecordingError> {
        self.write(Side::Agent, samples)
    }

    fn wav(&mut self) -> Result<&mut WavWriter<BufWriter<File>>, RecordingError> {
        self.wav
            .as_mut()
            .ok_or_else(|| RecordingError::Io(io::Error::other("recorder already finished")))
    }

    fn write(&mut self, side: Side, samples: &[i16]) -> Result<(), RecordingError> {
        match (self.mode, side) {
            (RecordMode::Caller, Side::Caller) | (RecordMode::Agent, Side::Agent) => {
                return self.wav()?.write_samples(samples);
            }
            (RecordMode::Caller, Side::Agent) | (RecordMode::Agent, Side::Caller) => return Ok(()),
            (RecordMode::Stereo, _) => {}
        }
        for chunk in samples.chunks(CHUNK) {
            self.write_stereo(side, chunk)?;
        }
        Ok(())
    }

    /// `chunk` is at most `CHUNK` samples.
    fn write_stereo(&mut self, side: Side, chunk: &[i16]) -> Result<(), RecordingError> {
        match self.pending_side {
            Some(p) if p == side => {
                // Same side twice: its earlier frame had no partner.
                self.flush_pending()?;
                self.stash(side, chunk);
            }
            Some(_) => {
                let n = self.pending.len().min(chunk.len());
                let mut wav = self.wav.take().ok_or_else(|| {
                    RecordingError::Io(io::Error::other("recorder already finished"))
                })?;
                let result = if side == Side::Caller {
                    wav.write_pairs(&chunk[..n], &self.pending[..n])
                } else {
                    wav.write_pairs(&self.pending[..n], &chunk[..n])
                };
                self.wav = Some(wav);
                result?;
                if n < self.pending.len() {
                    // The waiting side was longer: its rest keeps waiting.
                    self.pending.drain(..n);
                } else {
                    self.pending.clear();
                    self.pending_side = None;
                    if n < chunk.len() {
                        self.stash(side, &chunk[n..]);
                    }
                }
            }
            None => self.stash(side, chunk),
        }
        Ok(())
    }

    fn stash(&mut self, side: Side, samples: &[i16]) {
        self.pending.clear();
        self.pending.extend_from_slice(samples);
        self.pending_side = Some(side);
    }

    /// Writes the pending side against silence.
    fn flush_pending(&mut self) -> Result<(), RecordingError> {
        let Some(side) = self.pending_side.take() else {
            return Ok(());
        };
        let mut wav = self
            .wav
            .take()
            .ok_or_else(|| RecordingError::Io(io::Error::other("recorder already finished")))?;
        let n = self.pending.len();
        let result = if side == Side::Caller {
            wav.write_pairs(&self.pending, &self.silence[..n])
        } else {
            wav.write_pairs(&self.silence[..n], &self.pending)
        };
        self.wav = Some(wav);
        self.pending.clear();
        result
    }

    /// Writes any pending stereo frame against silence, fixes up the RIFF
    /// sizes and closes the file. Returns the frames (samples per channel)
    /// written.
    pub fn finish(mut self) -> Result<u64, RecordingError> {
        self.close()
    }

    fn close(&mut self) -> Result<u64, RecordingError> {
        let flushed = self.flush_pending();
        let Some(wav) = self.wav.take() else {
            return flushed.map(|_| 0);
        };
        let frames = wav.frames_written();
        wav.finish()?;
        flushed?;
        Ok(frames)
    }
}

impl Drop for Recorder {
    /// A recorder dropped without [`Recorder::finish`] (a task cancelled at
    /// hangup) still leaves a valid WAV file behind.
    fn drop(&mut self) {
        if self.wav.is_some() {
            if let Err(e) = self.close() {
                tracing::warn!(error = %e, "recording not finalized");
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Parses a 16-bit PCM WAV: (rate, channels, interleaved samples).
    /// Checks that the RIFF and data sizes agree with the file length.
    pub(crate) fn parse_wav(bytes: &[u8]) -> (u32, u16, Vec<i16>) {
        assert_eq!(&bytes[0..4], b"RIFF");
        assert_eq!(&bytes[8..12], b"WAVE");
        let riff = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        assert_eq!(riff + 8, bytes.len(), "RIFF size");
        assert_eq!(&bytes[12..16], b"fmt ");
        assert_eq!(u16::from_le_bytes([bytes[20], bytes[21]]), 1, "PCM");
        let channels = u16::from_le_bytes([bytes[22], bytes[23]]);
        let rate = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
        let byte_rate = u32::from_le_bytes(bytes[28..32].try_into().unwrap());
        assert_eq!(byte_rate, rate * 2 * u32::from(channels));
        assert_eq!(u16::from_le_bytes([bytes[34], bytes[35]]), 16);
        assert_eq!(&bytes[36..40], b"data");
        let data = u32::from_le_bytes(bytes[40..44].try_into().unwrap()) as usize;
        assert_eq!(data + 44, bytes.len(), "data size");
        let samples = bytes[44..]
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        (rate, channels, samples)
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rtp-media-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn frame(v: i16, n: usize) -> Vec<i16> {
        vec![v; n]
    }

    #[test]
    fn mono_caller_only() {
        let path = tmp("caller.wav");
        let mut r = Recorder::create(&path, RecordMode::Caller).unwrap();
        for i in 0..50 {
            r.write_caller(&frame(i, 160)).unwrap();
            r.write_agent(&frame(-1, 160)).unwrap();
        }
        assert_eq!(r.finish().unwrap(), 50 * 160);
        let (rate, ch, s) = parse_wav(&std::fs::read(&path).unwrap());
        assert_eq!((rate, ch, s.len()), (8000, 1, 8000));
        assert!(
            s.iter().all(|&v| v >= 0),
            "agent audio leaked into caller recording"
        );
        assert_eq!(s[160 * 7 + 3], 7);
    }

    #[test]
    fn mono_agent_only() {
        let path = tmp("agent.wav");
        let mut r = Recorder::create(&path, RecordMode::Agent).unwrap();
        r.write_caller(&frame(5, 160)).unwrap();
        r.write_agent(&frame(-9, 100)).unwrap();
        r.finish().unwrap();
        let (_, ch, s) = parse_wav(&std::fs::read(&path).unwrap());
        assert_eq!(ch, 1);
        assert_eq!(s, frame(-9, 100));
    }

    #[test]
    fn stereo_pairs_by_arrival_and_pads_missing_side() {
        let path = tmp("stereo.wav");
        let mut r = Recorder::create(&path, RecordMode::Stereo).unwrap();
        // Paired: caller 1 then agent 2.
        r.write_caller(&frame(1, 160)).unwrap();
        r.write_agent(&frame(2, 160)).unwrap();
        // Caller twice (agent silent): first caller frame against silence.
        r.write_caller(&frame(3, 160)).unwrap();
        r.write_caller(&frame(4, 160)).unwrap();
        r.write_agent(&frame(5, 160)).unwrap();
        // Agent first, then caller.
        r.write_agent(&frame(6, 160)).unwrap();
        r.write_caller(&frame(7, 160)).unwrap();
        // Unequal sizes: agent 320 (two frames at once), caller 160 + 160.
        r.write_agent(&frame(8, 320)).unwrap();
        r.write_caller(&frame(9, 160)).unwrap();
        r.write_caller(&frame(10, 160)).unwrap();
        // Trailing agent frame, padded at finish.
        r.write_agent(&frame(11, 160)).unwrap();
        let frames = r.finish().unwrap();
        let (_, ch, s) = parse_wav(&std::fs::read(&path).unwrap());
        assert_eq!(ch, 2);
        let left: Vec<i16> = s.iter().step_by(2).copied().collect();
        let right: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
        assert_eq!(left.len() as u64, frames);
        let blocks = |x: &[i16]| {
            x.chunks(160)
                .map(|c| {
                    assert!(c.iter().all(|&v| v == c[0]), "block not uniform");
                    c[0]
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(blocks(&left), vec![1, 3, 4, 7, 9, 10, 0]);
        assert_eq!(blocks(&right), vec![2, 0, 5, 6, 8, 8, 11]);
    }

    #[test]
    fn dropped_recorder_is_still_a_valid_wav() {
        let path = tmp("dropped.wav");
        {
            let mut r = Recorder::create(&path, RecordMode::Stereo).unwrap();
            r.write_caller(&frame(100, 160)).unwrap();
        }
        let (_, ch, s) = parse_wav(&std::fs::read(&path).unwrap());
        assert_eq!((ch, s.len()), (2, 320));
        assert_eq!(&s[..4], &[100, 0, 100, 0]);
    }

    #[test]
    fn large_writes_are_split_and_empty_writes_are_harmless() {
        let path = tmp("large.wav");
        let mut r = Recorder::create(&path, RecordMode::Stereo).unwrap();
        let ramp: Vec<i16> = (0..2000).map(|i| i as i16).collect();
        r.write_caller(&ramp).unwrap();
        r.write_agent(&ramp).unwrap();
        r.write_agent(&[]).unwrap();
        r.finish().unwrap();
        let (_, _, s) = parse_wav(&std::fs::read(&path).unwrap());
        // Split into CHUNK-sized pieces, the caller's pieces go in against
        // silence one by one until the agent arrives; either way both
        // channels carry the complete ramp in order.
        let left: Vec<i16> = s.iter().step_by(2).copied().filter(|&v| v != 0).collect();
        let right: Vec<i16> = s
            .iter()
            .skip(1)
            .step_by(2)
            .copied()
            .filter(|&v| v != 0)
            .collect();
        assert_eq!(left, ramp[1..]);
        assert_eq!(right, ramp[1..]);
        assert_eq!(s.len() % 2, 0);
    }

    #[test]
    fn wav_bytes_and_bad_formats() {
        let b = wav_bytes(&[1, -2, 3, -4], 44100, 2).unwrap();
        let (rate, ch, s) = parse_wav(&b);
        assert_eq!((rate, ch, s), (44100, 2, vec![1, -2, 3, -4]));
        assert!(matches!(
            wav_bytes(&[], 8000, 3),
            Err(RecordingError::Format { channels: 3, .. })
        ));
        assert!(matches!(
            wav_bytes(&[], 0, 1),
            Err(RecordingError::Format { .. })
        ));
        let dir = std::env::temp_dir()
            .join("rtp-media-no-such-dir-xyz")
            .join("a.wav");
        assert!(matches!(
            Recorder::create(dir, RecordMode::Caller),
            Err(RecordingError::Io(_))
        ));
    }
}
