//! The command line: `ai-line` runs the line; `ai-line call` places a test
//! call to a line (ours or any other) and reports what it heard.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use crate::config::{PortRange, TrunkFlag};
use crate::softphone::Step;

/// `ai-line`: answer a phone line with an AI agent.
#[derive(Debug, Parser)]
#[command(name = "ai-line", version, about)]
pub struct Cli {
    /// The configuration file (TOML); without it the embedded defaults.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Settings that override the configuration when running the line.
    #[command(flatten)]
    pub run: RunFlags,
    /// What to do; without a command, run the line.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The flags of a running line; each overrides the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct RunFlags {
    /// Listen for SIP on ADDR:PORT (UDP and TCP) instead of `[sip] listen`.
    #[arg(long, value_name = "ADDR:PORT")]
    pub sip_listen: Option<SocketAddr>,
    /// Register a trunk account with a provider:
    /// `sip:USER:PASSWORD@HOST[:PORT]`. Its calls go to the first tenant.
    #[arg(long, value_name = "sip:USER:PASSWORD@HOST[:PORT]")]
    pub trunk: Option<TrunkFlag>,
    /// The RTP port range, FIRST-LAST, instead of `[rtp] ports`.
    #[arg(long, value_name = "A-B")]
    pub rtp_ports: Option<PortRange>,
    /// Answer every profile with this agent (echo, voicemail, ivr, ...).
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// The call records' database file instead of `[store] database`.
    #[arg(long, value_name = "PATH")]
    pub cdr: Option<PathBuf>,
    /// The status page's address instead of `[http] listen`.
    #[arg(long, value_name = "ADDR:PORT")]
    pub http: Option<SocketAddr>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Place a test call to a line and report what the far end said.
    Call(CallArgs),
}

/// `ai-line call URI [--say TEXT]... [--play FILE]... [--digits DTMF]...
/// [--record FILE]`: the test call. The far end's greeting is listened to
/// first; then each `--say`, `--play` and `--digits` is a turn, in the
/// order given, each followed by listening to the reply; then we hang up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallArgs {
    /// The SIP URI to call.
    pub uri: String,
    /// The turns, in the order they were given.
    pub steps: Vec<Step>,
    /// Record what the far end sends to this WAV file.
    pub record: Option<PathBuf>,
    /// The local address to call from.
    pub local: Option<SocketAddr>,
    /// Our identity in From.
    pub from: Option<String>,
    /// What the far end is expected to say, for speech-to-text.
    pub expect: Vec<String>,
    /// How long to listen for the far end to speak first.
    pub greeting_wait: Option<Duration>,
    /// How long a reply may take to begin.
    pub reply_timeout: Option<Duration>,
    /// The far end's silence that ends its reply.
    pub reply_silence: Option<Duration>,
}

/// The `call` subcommand's flags as clap parses them; [`CallArgs`] puts
/// the turns back in the order they were given.
#[derive(Debug, Args)]
struct CallFlags {
    /// The SIP URI to call (`sip:assistant@127.0.0.1:5060`).
    uri: String,
    /// Say this (text-to-speech) as a turn; repeat for more turns.
    #[arg(long, value_name = "TEXT")]
    say: Vec<String>,
    /// Play this audio file (WAV, MP3, FLAC, OGG) as a turn.
    #[arg(long, value_name = "FILE")]
    play: Vec<PathBuf>,
    /// Press these keys (RFC 4733 events) as a turn: `0`-`9`, `*`, `#`, `A`-`D`.
    #[arg(long, value_name = "DTMF")]
    digits: Vec<String>,
    /// Record what the far end sends to this WAV file.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// The local address to call from (`IP` or `IP:PORT`); by default a
    /// free port on the address the system routes towards the far end.
    #[arg(long, value_name = "ADDR", value_parser = parse_local_address)]
    local: Option<SocketAddr>,
    /// Our identity in From (`sip:user@host`).
    #[arg(long, value_name = "URI")]
    from: Option<String>,
    /// A phrase the far end is expected to say (its menu, its answers):
    /// speech-to-text listens for these, far more reliably than for any
    /// English; repeat for more.
    #[arg(long, value_name = "PHRASE")]
    expect: Vec<String>,
    /// How long to listen for the far end to speak first, before the
    /// first turn (`2s`).
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    greeting_wait: Option<Duration>,
    /// How long a reply may take to begin (`10s`, `800ms`).
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    reply_timeout: Option<Duration>,
    /// The far end's silence that ends its reply (`1s`, `700ms`).
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    reply_silence: Option<Duration>,
}

impl FromArgMatches for CallArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let flags = CallFlags::from_arg_matches(matches)?;
        let at = |id: &str| -> Vec<usize> {
            matches
                .indices_of(id)
                .map(|i| i.collect())
                .unwrap_or_default()
        };
        let mut steps: Vec<(usize, Step)> = Vec::new();
        steps.extend(
            at("say")
                .into_iter()
                .zip(flags.say.into_iter().map(Step::Say)),
        );
        steps.extend(
            at("play")
                .into_iter()
                .zip(flags.play.into_iter().map(Step::Play)),
        );
        steps.extend(
            at("digits")
                .into_iter()
                .zip(flags.digits.into_iter().map(Step::Digits)),
        );
        steps.sort_by_key(|(index, _)| *index);
        Ok(CallArgs {
            uri: flags.uri,
            steps: steps.into_iter().map(|(_, step)| step).collect(),
            record: flags.record,
            local: flags.local,
            from: flags.from,
            expect: flags.expect,
            greeting_wait: flags.greeting_wait,
            reply_timeout: flags.reply_timeout,
            reply_silence: flags.reply_silence,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = CallArgs::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for CallArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        CallFlags::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        CallFlags::augment_args_for_update(cmd)
    }
}

/// `IP` (any free port) or `IP:PORT`.
fn parse_local_address(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    s.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 0))
        .map_err(|_| format!("{s:?} is not an IP address or IP:PORT"))
}

/// A time span: a number of seconds (`2`, `1.5`), or with a unit (`2s`,
/// `800ms`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a time span (`2s`, `800ms`)");
    let (number, scale) = if let Some(ms) = s.strip_suffix("ms") {
        (ms, 0.001)
    } else {
        (s.strip_suffix('s').unwrap_or(s), 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    Duration::try_from_secs_f64(value * scale).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_arguments_keep_the_turns_in_the_order_given() {
        let cli = Cli::try_parse_from([
            "ai-line",
            "call",
            "sip:echo@127.0.0.1:5070",
            "--digits",
            "1",
            "--say",
            "hello",
            "--play",
            "a.wav",
            "--say",
            "bye",
            "--digits",
            "#",
            "--record",
            "out.wav",
            "--local",
            "127.0.0.1",
            "--reply-silence",
            "700ms",
        ])
        .unwrap();
        let Some(Command::Call(args)) = cli.command else {
            panic!("not the call command");
        };
        assert_eq!(
            args.steps,
            [
                Step::Digits("1".into()),
                Step::Say("hello".into()),
                Step::Play("a.wav".into()),
                Step::Say("bye".into()),
                Step::Digits("#".into()),
            ]
        );
        assert_eq!(args.record, Some(PathBuf::from("out.wav")));
        assert_eq!(args.local, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(args.reply_silence, Some(Duration::from_millis(700)));
        assert!(Cli::try_parse_from(["ai-line", "call", "sip:x@y", "--local", "nowhere"]).is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
    }
}
