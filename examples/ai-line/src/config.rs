//! The line's configuration: the switch's settings (`[sip]`, `[rtp]`,
//! `[[accounts]]`, `[[trusted_peers]]`, `[[tenants]]`, `[store]`) as the
//! [`agent`] crate reads them, plus what only the program has: the status
//! page's address (`[http]`) and the built-in agents' settings
//! (`[agents]`).
//!
//! Without a file the line runs on [`DEFAULTS`]: SIP on 127.0.0.1:5060,
//! no trunk, calls from this machine (127.0.0.0/8, a trusted peer) answered
//! by the default agent, records in `./ai-line.db`, recordings in
//! `./recordings/`. The command line's flags ([`RunFlags`]) override either.
//!
//! A file that cannot work is refused with the file, the line and what is
//! wrong ([`ConfigFileError`]): errors of syntax and of unknown or
//! mistyped keys come with the line from the parser; values found wrong
//! after parsing ([`Validate`]) are placed on the line of the setting they
//! name, read from the document's spans.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use agent::agents::AssistantProfiles;
use agent::call::TransferTarget;
use agent::config::{ConfigError, Validate};
use agent::engines::{EspeakConfig, EspeakNg, PhraseMatching, PocketSphinxConfig};
use agent::record::StoreSettings;
use agent::routing::{OutOfHours, TenantConfig};
use agent::switch::{RtpConfig, SipConfig, SwitchConfig, TrunkAccountConfig, TrustedPeerConfig};
use serde::Deserialize;
use toml::de::{DeTable, DeValue};

use crate::cli::RunFlags;

/// The embedded defaults: the line `ai-line` runs without `--config`.
pub const DEFAULTS: &str = include_str!("defaults.toml");

/// The agent the embedded defaults answer with: the offline FAQ
/// assistant.
pub const DEFAULT_AGENT: &str = "assistant";

/// The name of the trunk account `--trunk` adds.
pub const TRUNK_FLAG_ACCOUNT: &str = "trunk";

/// Everything the line needs to start. See the commented example
/// `ai-line.toml` next to the crate for every setting.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    /// Where SIP listens (`[sip]`); default 127.0.0.1:5060, UDP and TCP.
    #[serde(default = "default_sip")]
    pub sip: SipConfig,
    /// RTP ports and the address written into SDP (`[rtp]`).
    #[serde(default)]
    pub rtp: RtpConfig,
    /// Trunk accounts registered with providers (`[[accounts]]`).
    #[serde(default)]
    pub accounts: Vec<TrunkAccountConfig>,
    /// Peers that call without registering (`[[trusted_peers]]`).
    #[serde(default)]
    pub trusted_peers: Vec<TrustedPeerConfig>,
    /// Tenants: DIDs, profiles, hours, limits (`[[tenants]]`).
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// Call records and recordings (`[store]`); default `ai-line.db` and
    /// `recordings/` in the working directory.
    #[serde(default = "default_store")]
    pub store: StoreSettings,
    /// The status page (`[http]`).
    #[serde(default)]
    pub http: HttpConfig,
    /// The built-in agents' settings (`[agents]`).
    #[serde(default)]
    pub agents: AgentsConfig,
    /// The offline speech engines (`[speech]`).
    #[serde(default)]
    pub speech: SpeechConfig,
}

/// The offline speech engines (`[speech]`): eSpeak NG speaks what the line
/// says, PocketSphinx hears what callers say.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeechConfig {
    /// eSpeak NG's voice (`espeak-ng --voices` lists them): `en-us`.
    #[serde(default = "default_voice")]
    pub voice: String,
    /// Speaking rate in words per minute (80-450); default 160.
    #[serde(default = "default_words_per_minute")]
    pub words_per_minute: u32,
    /// PocketSphinx's model directory (holding `en-us/`); absent: where
    /// Debian's `pocketsphinx-en-us` puts it.
    #[serde(default)]
    pub model_dir: Option<PathBuf>,
    /// How the phrases callers are expected to say are listened for:
    /// `grammar` (the phrases among common words; hears more) or
    /// `keywords` (each phrase spotted alone; fewer false hits).
    #[serde(default)]
    pub matching: PhraseMatchingSetting,
    /// Utterances transcribed at once, each with its own copy of the
    /// model; default 1.
    #[serde(default = "default_decoders")]
    pub decoders: usize,
}

impl Default for SpeechConfig {
    fn default() -> Self {
        SpeechConfig {
            voice: default_voice(),
            words_per_minute: default_words_per_minute(),
            model_dir: None,
            matching: PhraseMatchingSetting::default(),
            decoders: default_decoders(),
        }
    }
}

/// `[speech] matching`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhraseMatchingSetting {
    /// A grammar of the phrases among common words.
    #[default]
    Grammar,
    /// Keyword spotting.
    Keywords,
}

impl SpeechConfig {
    /// eSpeak NG's settings.
    pub fn espeak_config(&self) -> EspeakConfig {
        EspeakConfig {
            voice: self.voice.clone(),
            words_per_minute: self.words_per_minute,
            ..EspeakConfig::default()
        }
    }

    /// eSpeak NG speaking as configured; the error names the setting.
    pub fn text_to_speech(&self) -> Result<EspeakNg, ConfigError> {
        EspeakNg::new(self.espeak_config()).map_err(|e| {
            let setting = if (80..=450).contains(&self.words_per_minute) {
                "voice"
            } else {
                "words_per_minute"
            };
            ConfigError::new(setting, e)
        })
    }

    /// PocketSphinx's settings, listening for `expected_phrases`.
    pub fn speech_to_text_config(&self, expected_phrases: Vec<String>) -> PocketSphinxConfig {
        PocketSphinxConfig {
            model_dir: self.model_dir.clone(),
            expected_phrases,
            matching: match self.matching {
                PhraseMatchingSetting::Grammar => PhraseMatching::Grammar,
                PhraseMatchingSetting::Keywords => PhraseMatching::Keywords,
            },
            decoders: self.decoders,
        }
    }
}

impl Validate for SpeechConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        self.text_to_speech()?;
        if self.decoders == 0 {
            return Err(ConfigError::new("decoders", "must be at least 1"));
        }
        if let Some(dir) = &self.model_dir {
            if !dir.is_dir() {
                return Err(ConfigError::new(
                    "model_dir",
                    format!("{} is not a directory", dir.display()),
                ));
            }
        }
        Ok(())
    }
}

/// The status page and metrics (`[http]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The address it is served on; default 127.0.0.1:8080.
    #[serde(default = "default_http")]
    pub listen: SocketAddr,
    /// The bearer token every request for data must carry; without it,
    /// the `AI_LINE_HTTP_TOKEN` environment variable's. Required on an
    /// address other than loopback (the line refuses to start without).
    #[serde(default)]
    pub token: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_http(),
            token: None,
        }
    }
}

/// The built-in agents' settings (`[agents]`). `echo` needs none;
/// `voicemail` is always there; `ivr` only when its menu is configured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsConfig {
    /// The voicemail agent (`[agents.voicemail]`).
    #[serde(default)]
    pub voicemail: VoicemailConfig,
    /// The DTMF menu agent (`[agents.ivr]`); absent: no `ivr` agent.
    #[serde(default)]
    pub ivr: Option<IvrConfig>,
}

/// The voicemail agent: greeting, beep, message until `#`, silence or the
/// maximum length.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoicemailConfig {
    /// Played before the beep (WAV, MP3, FLAC or OGG); absent: the beep
    /// only.
    #[serde(default)]
    pub greeting: Option<PathBuf>,
    /// Seconds of silence that end the message.
    #[serde(default = "default_silence")]
    pub silence_secs: u32,
    /// The longest message, in seconds.
    #[serde(default = "default_max_length")]
    pub max_length_secs: u32,
}

impl Default for VoicemailConfig {
    fn default() -> Self {
        VoicemailConfig {
            greeting: None,
            silence_secs: default_silence(),
            max_length_secs: default_max_length(),
        }
    }
}

impl VoicemailConfig {
    /// The agent these settings describe.
    pub fn agent(&self) -> agent::agents::Voicemail {
        agent::agents::Voicemail {
            greeting: self.greeting.clone(),
            silence: Duration::from_secs(u64::from(self.silence_secs)),
            max_length: Duration::from_secs(u64::from(self.max_length_secs)),
        }
    }
}

/// The DTMF menu agent: a prompt, then one key sends the call on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IvrConfig {
    /// The menu's prompt (WAV, MP3, FLAC or OGG).
    pub prompt: PathBuf,
    /// Key → where the call goes: `"operator"`, `"voicemail"`,
    /// `"agent:NAME"`, `"number:+3902..."` or a `sip:` URI. `0` is the
    /// operator unless given here.
    pub choices: BTreeMap<String, String>,
    /// Seconds to wait for a key after the prompt.
    #[serde(default = "default_ivr_timeout")]
    pub timeout_secs: u32,
    /// How many times the prompt is played before giving up.
    #[serde(default = "default_ivr_attempts")]
    pub attempts: u32,
    /// Where a caller who chose nothing goes (same forms as `choices`);
    /// absent: hang up.
    #[serde(default)]
    pub no_choice: Option<String>,
}

impl IvrConfig {
    /// The agent these settings describe; the error names the setting.
    pub fn agent(&self) -> Result<agent::agents::Ivr, ConfigError> {
        let mut choices = BTreeMap::new();
        for (key, target) in &self.choices {
            let mut chars = key.chars();
            let digit = match (chars.next(), chars.next()) {
                (Some(d @ ('0'..='9' | '*' | '#')), None) => d,
                _ => {
                    return Err(ConfigError::new(
                        format!("choices.{key}"),
                        format!("{key:?} is not a key: use one of 0-9, * or #"),
                    ))
                }
            };
            let target = transfer_target(target)
                .map_err(|e| ConfigError::new(format!("choices.{key}"), e))?;
            choices.insert(digit, target);
        }
        let mut ivr = agent::agents::Ivr::new(&self.prompt, choices);
        ivr.timeout = Duration::from_secs(u64::from(self.timeout_secs));
        ivr.attempts = self.attempts;
        ivr.no_choice = match &self.no_choice {
            Some(t) => Some(transfer_target(t).map_err(|e| ConfigError::new("no_choice", e))?),
            None => None,
        };
        Ok(ivr)
    }
}

/// A transfer target as the config writes it (`"agent:NAME"`, ...).
#[derive(Debug, Clone, Copy)]
pub struct TransferTargetSetting<'a>(pub &'a str);

impl<'a> TransferTargetSetting<'a> {
    /// The agent it names, if it is `agent:NAME`.
    pub fn agent(&self) -> Option<&'a str> {
        self.0.trim().strip_prefix("agent:")
    }
}

/// A transfer target as the config writes it.
fn transfer_target(text: &str) -> Result<TransferTarget, String> {
    let text = text.trim();
    match text {
        "operator" => return Ok(TransferTarget::Operator),
        "voicemail" => return Ok(TransferTarget::Voicemail),
        _ => {}
    }
    if let Some(name) = text.strip_prefix("agent:") {
        return Ok(TransferTarget::Agent(name.to_string()));
    }
    if let Some(number) = text.strip_prefix("number:") {
        return Ok(TransferTarget::Number(number.to_string()));
    }
    if text.starts_with("sip:") || text.starts_with("sips:") {
        return Ok(TransferTarget::Uri(text.to_string()));
    }
    Err(format!(
        "{text:?} is not a destination: write \"operator\", \"voicemail\", \"agent:NAME\", \"number:+...\" or a sip: URI"
    ))
}

fn default_sip() -> SipConfig {
    SipConfig::listen(SocketAddr::from(([127, 0, 0, 1], 5060)))
}

fn default_store() -> StoreSettings {
    StoreSettings {
        database: PathBuf::from("ai-line.db"),
        recordings: PathBuf::from("recordings"),
        instance: "default".to_string(),
    }
}

fn default_http() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_voice() -> String {
    "en-us".into()
}

fn default_words_per_minute() -> u32 {
    160
}

fn default_decoders() -> usize {
    1
}

fn default_silence() -> u32 {
    5
}

fn default_max_length() -> u32 {
    180
}

fn default_ivr_timeout() -> u32 {
    5
}

fn default_ivr_attempts() -> u32 {
    3
}

impl LineConfig {
    /// The switch's part of the configuration.
    pub fn switch_config(&self) -> SwitchConfig {
        SwitchConfig {
            sip: self.sip.clone(),
            rtp: self.rtp.clone(),
            accounts: self.accounts.clone(),
            trusted_peers: self.trusted_peers.clone(),
            tenants: self.tenants.clone(),
            store: Some(self.store.clone()),
        }
    }

    /// Applies the command line's flags over the file (or the defaults).
    pub fn apply(&mut self, flags: &RunFlags) -> Result<(), ConfigError> {
        if let Some(addr) = flags.sip_listen {
            self.sip.listen = vec![addr];
        }
        if let Some(ports) = flags.rtp_ports {
            self.rtp.ports = (ports.first, ports.last);
        }
        if let Some(cdr) = &flags.cdr {
            self.store.database = cdr.clone();
        }
        if let Some(http) = flags.http {
            self.http.listen = http;
        }
        if let Some(name) = &flags.agent {
            for tenant in &mut self.tenants {
                for profile in tenant.profiles.values_mut() {
                    profile.agent = name.clone();
                }
            }
        }
        if let Some(trunk) = &flags.trunk {
            let tenant = self
                .tenants
                .first()
                .map(|t| t.name.clone())
                .ok_or_else(|| {
                    ConfigError::new(
                        "--trunk",
                        "the configuration has no tenant to take its calls",
                    )
                })?;
            let mut account = TrunkAccountConfig::new(
                TRUNK_FLAG_ACCOUNT,
                &tenant,
                &trunk.registrar,
                &trunk.username,
                &trunk.password,
            );
            if let Some(existing) = self.accounts.iter().find(|a| a.name == TRUNK_FLAG_ACCOUNT) {
                account.tenant = existing.tenant.clone();
            }
            self.accounts.retain(|a| a.name != TRUNK_FLAG_ACCOUNT);
            self.accounts.push(account);
        }
        Ok(())
    }
}

impl Validate for LineConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        self.switch_config().validate()?;
        self.speech.validate().map_err(|e| e.within("speech"))?;
        if let Some(ivr) = &self.agents.ivr {
            ivr.agent().map_err(|e| e.within("agents.ivr"))?;
        }
        let tts = self
            .speech
            .text_to_speech()
            .map_err(|e| e.within("speech"))?;
        crate::agents::Greeting::new(self, Some(std::sync::Arc::new(tts)))?;
        AssistantProfiles::from_tenants(&self.switch_config().tenants_config())?;
        let names = crate::agents::names(self);
        let known = |agent: &str| names.contains(&agent);
        let listed = names.join(", ");
        for (i, tenant) in self.tenants.iter().enumerate() {
            for (name, profile) in &tenant.profiles {
                let at = format!("tenants[{i}].profiles.{name}");
                if !known(&profile.agent) {
                    return Err(ConfigError::new(
                        format!("{at}.agent"),
                        format!(
                            "there is no agent {:?}; this line has {listed}",
                            profile.agent
                        ),
                    ));
                }
                if let Some(OutOfHours::Agent { agent }) = &profile.out_of_hours {
                    if !known(agent) {
                        return Err(ConfigError::new(
                            format!("{at}.out_of_hours.agent"),
                            format!("there is no agent {agent:?}; this line has {listed}"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("{}: cannot read it: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file says something that cannot work.
    #[error("{}:{line}: {problem}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The line (from 1) of the setting that is wrong.
        line: usize,
        /// The setting, as a dotted path, where known.
        setting: Option<String>,
        /// What is wrong, in words an operator can act on.
        problem: String,
    },
    /// A flag on the command line makes the configuration unusable.
    #[error("the command line: {0}")]
    Flags(ConfigError),
}

/// Reads and checks the configuration file at `path`.
pub fn load(path: &Path) -> Result<LineConfig, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// The embedded defaults ([`DEFAULTS`]), checked like a file.
pub fn defaults() -> Result<LineConfig, ConfigFileError> {
    parse(Path::new("(embedded defaults)"), DEFAULTS)
}

/// Reads and checks `text`, the content of `file`.
pub fn parse(file: &Path, text: &str) -> Result<LineConfig, ConfigFileError> {
    let config: LineConfig = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        let setting = setting_at(text, at);
        let message = e.message().trim();
        ConfigFileError::Invalid {
            file: file.to_path_buf(),
            line: line_of(text, at),
            problem: match &setting {
                Some(s) => format!("{s}: {message}"),
                None => message.to_string(),
            },
            setting,
        }
    })?;
    config.validate().map_err(|e| ConfigFileError::Invalid {
        file: file.to_path_buf(),
        line: line_of(text, setting_span(text, &e.setting).start),
        problem: e.to_string(),
        setting: Some(e.setting),
    })?;
    Ok(config)
}

/// The configuration `ai-line` runs with: the file (or the defaults) with
/// the flags applied over it, checked again.
pub fn resolve(file: Option<&Path>, flags: &RunFlags) -> Result<LineConfig, ConfigFileError> {
    let mut config = match file {
        Some(path) => load(path)?,
        None => defaults()?,
    };
    config.apply(flags).map_err(ConfigFileError::Flags)?;
    config.validate().map_err(|e| {
        let setting = match flag_for(&e.setting, flags) {
            Some(flag) => flag.to_string(),
            None => e.setting,
        };
        ConfigFileError::Flags(ConfigError {
            setting,
            problem: e.problem,
        })
    })?;
    Ok(config)
}

/// The flag that wrote `setting`, when one did: a bad value from the
/// command line is reported as the flag the operator typed.
fn flag_for(setting: &str, flags: &RunFlags) -> Option<&'static str> {
    let first = setting.split(['.', '[']).next().unwrap_or_default();
    match first {
        "sip" if flags.sip_listen.is_some() && setting == "sip.listen" => Some("--sip-listen"),
        "rtp" if flags.rtp_ports.is_some() && setting == "rtp.ports" => Some("--rtp-ports"),
        "store" if flags.cdr.is_some() && setting == "store.database" => Some("--cdr"),
        "accounts" if flags.trunk.is_some() => Some("--trunk"),
        "tenants" if flags.agent.is_some() && setting.ends_with(".agent") => Some("--agent"),
        _ => None,
    }
}

/// The line (from 1) that byte `offset` of `text` is on.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// One step of a setting's path: a key or an index into an array.
#[derive(Debug, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `tenants[0].profiles.front.agent` → its steps.
fn steps(setting: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in setting.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        while let Some(close) = rest.find(']') {
            if let Ok(i) = rest[1..close].parse() {
                out.push(Step::Index(i));
            }
            rest = &rest[close + 1..];
        }
    }
    out
}

/// Where in `text` the setting `setting` is written: its value's span, or
/// that of the nearest table above it that is written (a missing key is
/// placed on its table). The whole text's start when none is.
fn setting_span(text: &str, setting: &str) -> Range<usize> {
    let Ok(doc) = DeTable::parse(text) else {
        return 0..0;
    };
    let root = DeValue::Table(doc.into_inner());
    let mut here = &root;
    let mut best = 0..0;
    for step in steps(setting) {
        let found = match (step, here) {
            (Step::Key(k), DeValue::Table(t)) => t
                .iter()
                .find(|(key, _)| key.get_ref().as_ref() == k)
                .map(|(key, value)| (key.span(), value)),
            (Step::Index(i), DeValue::Array(a)) => a.get(i).map(|v| (v.span(), v)),
            _ => None,
        };
        let Some((key, value)) = found else { break };
        // A table is found by its key or header; anything else by its value.
        best = match value.get_ref() {
            DeValue::Table(_) | DeValue::Array(_) => key,
            _ => value.span(),
        };
        here = value.get_ref();
    }
    best
}

/// The dotted path of the deepest setting written at byte `offset` of
/// `text` (its key or its value), for a parser error that gives only a
/// place.
fn setting_at(text: &str, offset: usize) -> Option<String> {
    let doc = DeTable::parse(text).ok()?;
    let path = path_to(&DeValue::Table(doc.into_inner()), offset)?;
    Some(path.trim_start_matches('.').to_string())
}

/// The path below `value` to the deepest key or value spanning `offset`.
/// A table's own span is only its header, so every table is searched.
fn path_to(value: &DeValue<'_>, offset: usize) -> Option<String> {
    let children: Vec<(String, Range<usize>, &toml::Spanned<DeValue<'_>>)> = match value {
        DeValue::Table(t) => t
            .iter()
            .map(|(k, v)| (format!(".{}", k.get_ref()), k.span(), v))
            .collect(),
        DeValue::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("[{i}]"), v.span(), v))
            .collect(),
        _ => return None,
    };
    for (step, key, child) in children {
        if let Some(below) = path_to(child.get_ref(), offset) {
            return Some(step + &below);
        }
        if key.contains(&offset) || child.span().contains(&offset) {
            return Some(step);
        }
    }
    None
}

/// `--rtp-ports A-B`: the first and last port of the RTP range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// The first port.
    pub first: u16,
    /// The last port.
    pub last: u16,
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("{s:?} is not a port range FIRST-LAST (16384-32767)"))?;
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("{p:?} is not a port (1-65535)"))
        };
        let (first, last) = (port(a)?, port(b)?);
        if first == 0 || first >= last {
            return Err(format!(
                "{s:?} is not a range of at least two ports, first below last"
            ));
        }
        Ok(PortRange { first, last })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// `--trunk sip:USER:PASSWORD@HOST[:PORT]`: a provider's credentials, as
/// a trunk account that registers.
#[derive(Clone, PartialEq, Eq)]
pub struct TrunkFlag {
    /// The account's user name.
    pub username: String,
    /// The digest password.
    pub password: String,
    /// The registrar, `host[:port]`.
    pub registrar: String,
}

impl fmt::Debug for TrunkFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrunkFlag")
            .field("username", &self.username)
            .field("password", &"(hidden)")
            .field("registrar", &self.registrar)
            .finish()
    }
}

impl FromStr for TrunkFlag {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FORM: &str = "write it sip:USER:PASSWORD@HOST[:PORT]";
        let rest = s
            .strip_prefix("sip:")
            .ok_or_else(|| format!("{s:?} does not start with sip:; {FORM}"))?;
        let (userinfo, host) = rest
            .rsplit_once('@')
            .ok_or_else(|| format!("no @HOST in the trunk; {FORM}"))?;
        let (user, password) = userinfo
            .split_once(':')
            .ok_or_else(|| format!("the trunk has no password; {FORM}"))?;
        if user.is_empty() {
            return Err(format!("the trunk has no user name; {FORM}"));
        }
        if password.is_empty() {
            return Err(format!("the trunk's password is empty; {FORM}"));
        }
        if host.is_empty() {
            return Err(format!("the trunk has no host; {FORM}"));
        }
        Ok(TrunkFlag {
            username: user.to_string(),
            password: password.to_string(),
            registrar: host.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_defaults_parse_and_listen_on_loopback_5060() {
        let config = defaults().expect("the defaults are valid");
        assert_eq!(config.sip.listen, vec!["127.0.0.1:5060".parse().unwrap()]);
        assert!(config.accounts.is_empty());
        assert_eq!(config.store.database, PathBuf::from("ai-line.db"));
        assert_eq!(config.store.recordings, PathBuf::from("recordings"));
        assert_eq!(config.http.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            config.tenants[0].profiles.values().next().unwrap().agent,
            DEFAULT_AGENT
        );
        let peer = config.trusted_peers[0].network().unwrap();
        assert!(peer.contains("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn a_trunk_flag_is_read_as_user_password_and_registrar() {
        let t: TrunkFlag = "sip:1001:s3cr:et@sip.provider.example:5080"
            .parse()
            .unwrap();
        assert_eq!(t.username, "1001");
        assert_eq!(t.password, "s3cr:et");
        assert_eq!(t.registrar, "sip.provider.example:5080");
        assert!(
            !format!("{t:?}").contains("s3cr"),
            "the password is not logged"
        );
        for bad in [
            "1001:pw@host",
            "sip:1001@host",
            "sip:1001:@host",
            "sip::pw@host",
            "sip:1001:pw@",
        ] {
            assert!(bad.parse::<TrunkFlag>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_port_range_flag_is_first_dash_last() {
        let r: PortRange = "20000-20100".parse().unwrap();
        assert_eq!((r.first, r.last), (20000, 20100));
        for bad in ["20100-20000", "20000", "0-10", "a-b", "20000-70000", "5-5"] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_override_the_file() {
        let mut config = defaults().unwrap();
        let flags = RunFlags {
            sip_listen: Some("127.0.0.1:5099".parse().unwrap()),
            trunk: Some("sip:1001:pw@127.0.0.1:5070".parse().unwrap()),
            rtp_ports: Some("20000-20099".parse().unwrap()),
            agent: Some("voicemail".into()),
            cdr: Some("calls.db".into()),
            http: Some("127.0.0.1:9090".parse().unwrap()),
        };
        config.apply(&flags).unwrap();
        config.validate().unwrap();
        assert_eq!(config.sip.listen, vec!["127.0.0.1:5099".parse().unwrap()]);
        assert_eq!(config.rtp.ports, (20000, 20099));
        assert_eq!(config.store.database, PathBuf::from("calls.db"));
        assert_eq!(config.http.listen, "127.0.0.1:9090".parse().unwrap());
        assert!(config.tenants[0]
            .profiles
            .values()
            .all(|p| p.agent == "voicemail"));
        let trunk = &config.accounts[0];
        assert_eq!(
            (
                trunk.name.as_str(),
                trunk.username.as_str(),
                trunk.registrar.as_str()
            ),
            (TRUNK_FLAG_ACCOUNT, "1001", "127.0.0.1:5070")
        );
        assert_eq!(trunk.tenant, config.tenants[0].name);
    }

    #[test]
    fn a_setting_path_is_found_on_its_line() {
        let text = "[sip]\nlisten = [\"127.0.0.1:5060\"]\n\n[[accounts]]\nname = \"a\"\n\n[[accounts]]\nname = \"b\"\npassword = \"\"\n\n[[tenants]]\nname = \"t\"\n[tenants.profiles.front]\nagent = \"x\"\n";
        let line = |s: &str| line_of(text, setting_span(text, s).start);
        assert_eq!(line("sip.listen"), 2);
        assert_eq!(line("accounts[0].name"), 5);
        assert_eq!(line("accounts[1].password"), 9);
        assert_eq!(line("tenants[0].profiles.front.agent"), 14);
        // A missing key is placed on its table.
        assert_eq!(line("tenants[0].profiles.front.time_zone"), 13);
        assert_eq!(line("rtp.ports"), 1);
    }

    #[test]
    fn ivr_choices_name_keys_and_destinations() {
        let ivr: IvrConfig = toml::from_str(
            "prompt = \"menu.wav\"\nchoices = { \"1\" = \"agent:echo\", \"2\" = \"voicemail\", \"9\" = \"number:+390212345678\" }",
        )
        .unwrap();
        let agent = ivr.agent().unwrap();
        assert_eq!(agent.choices[&'1'], TransferTarget::Agent("echo".into()));
        assert_eq!(agent.choices[&'2'], TransferTarget::Voicemail);
        assert_eq!(agent.choices[&'0'], TransferTarget::Operator);
        let mut bad = ivr.clone();
        bad.choices.insert("12".into(), "operator".into());
        assert_eq!(bad.agent().unwrap_err().setting, "choices.12");
        let mut bad = ivr;
        bad.choices.insert("3".into(), "somewhere".into());
        assert_eq!(bad.agent().unwrap_err().setting, "choices.3");
    }
}
