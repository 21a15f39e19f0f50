//! The agents the line offers, by the names profiles give them:
//! `assistant` (the offline FAQ assistant: PocketSphinx listening, eSpeak
//! NG speaking), `echo`, `voicemail` and `ivr` (when its menu is
//! configured) from the [`agent`] crate, and [`Greeting`], which plays a
//! closed profile's out-of-hours greeting ([`GREETING_AGENT`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use agent::agents::{Assistant, AssistantProfiles, Echo};
use agent::call::{AgentOutcome, CallContext, CallEvent, CallHandle, TransferTarget};
use agent::config::ConfigError;
use agent::routing::{AfterGreeting, OutOfHours};
use agent::speech::{SpeechError, SpeechOut, TextToSpeech};
use agent::switch::{Agents, GREETING_AGENT, VOICEMAIL_AGENT};
use agent::{Agent, AgentError, SharedAgent};

use crate::config::{LineConfig, TransferTargetSetting};

/// The offline FAQ assistant's name.
pub const ASSISTANT: &str = "assistant";

/// The names of the agents `config` offers.
pub fn names(config: &LineConfig) -> Vec<&'static str> {
    let mut names = vec![ASSISTANT, "echo", GREETING_AGENT, VOICEMAIL_AGENT];
    if config.agents.ivr.is_some() {
        names.push("ivr");
    }
    names
}

/// Whether any profile, out-of-hours rule or menu key hands calls to the
/// assistant, so that its speech model is worth loading.
pub fn uses_assistant(config: &LineConfig) -> bool {
    let profiles = config.tenants.iter().flat_map(|t| t.profiles.values());
    let by_profile = profiles.clone().any(|p| p.agent == ASSISTANT)
        || profiles
            .filter_map(|p| p.out_of_hours.as_ref())
            .any(|o| matches!(o, OutOfHours::Agent { agent } if agent == ASSISTANT));
    let by_menu = config.agents.ivr.as_ref().is_some_and(|ivr| {
        ivr.choices
            .values()
            .chain(ivr.no_choice.iter())
            .any(|t| TransferTargetSetting(t).agent() == Some(ASSISTANT))
    });
    by_profile || by_menu
}

/// Why the agents could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AgentsError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The assistant's speech engines could not start (the model missing).
    #[error("the assistant's speech engines: {0}")]
    Speech(#[from] SpeechError),
}

/// Extensions of the audio files a greeting may be; any other greeting is
/// text, spoken with the line's speech synthesis.
const AUDIO_FILES: &[&str] = &["wav", "mp3", "flac", "ogg"];

/// What a greeting setting is: an audio file to play or text to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// An audio file (WAV, MP3, FLAC, OGG).
    File(PathBuf),
    /// Text, spoken with text-to-speech.
    Text(String),
}

impl Prompt {
    /// A greeting as the config writes it: a file by its extension, else
    /// text.
    pub fn of(setting: &str) -> Prompt {
        let path = PathBuf::from(setting.trim());
        let audio = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| AUDIO_FILES.contains(&e.to_ascii_lowercase().as_str()));
        if audio {
            Prompt::File(path)
        } else {
            Prompt::Text(setting.trim().to_string())
        }
    }
}

/// Plays a closed profile's out-of-hours greeting, then hangs up or hands
/// the call to voicemail, as the profile's `out_of_hours` says. The switch
/// runs it (as [`GREETING_AGENT`]) for calls routed to a greeting; it finds
/// the greeting by the call's tenant and profile.
pub struct Greeting {
    greetings: HashMap<(String, String), (Prompt, AfterGreeting)>,
    tts: Option<Arc<dyn TextToSpeech>>,
}

impl std::fmt::Debug for Greeting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Greeting")
            .field("greetings", &self.greetings)
            .field("tts", &self.tts.is_some())
            .finish()
    }
}

impl Greeting {
    /// The out-of-hours greetings of every profile in `config`; text
    /// greetings are spoken with `tts`, and refused without it (the error
    /// names the setting).
    pub fn new(
        config: &LineConfig,
        tts: Option<Arc<dyn TextToSpeech>>,
    ) -> Result<Greeting, ConfigError> {
        let mut greetings = HashMap::new();
        for (i, tenant) in config.tenants.iter().enumerate() {
            for (name, profile) in &tenant.profiles {
                if let Some(OutOfHours::Greeting { greeting, then }) = &profile.out_of_hours {
                    let prompt = Prompt::of(greeting);
                    if matches!(prompt, Prompt::Text(_)) && tts.is_none() {
                        return Err(ConfigError::new(
                            format!("tenants[{i}].profiles.{name}.out_of_hours.greeting"),
                            "is text, and this build has no speech synthesis: give an audio \
                             file (.wav, .mp3, .flac, .ogg)",
                        ));
                    }
                    greetings.insert((tenant.name.clone(), name.clone()), (prompt, *then));
                }
            }
        }
        Ok(Greeting { greetings, tts })
    }
}

impl Agent for Greeting {
    async fn run(
        &self,
        ctx: CallContext,
        mut call: CallHandle,
    ) -> Result<AgentOutcome, AgentError> {
        let key = (
            ctx.tenant.clone().unwrap_or_default(),
            ctx.profile.clone().unwrap_or_default(),
        );
        let Some((prompt, then)) = self.greetings.get(&key) else {
            return Ok(AgentOutcome::hang_up(
                "no out-of-hours greeting for the profile",
            ));
        };
        let player = call.player();
        match prompt {
            Prompt::File(path) => {
                call.play_file(path).await?;
            }
            Prompt::Text(text) => {
                let Some(tts) = &self.tts else {
                    return Err(AgentError::failed(
                        "no speech synthesis for a text greeting",
                    ));
                };
                let mut out = SpeechOut::new(player.clone());
                tts.synthesize(text, &mut out)
                    .await
                    .map_err(|e| AgentError::failed(e.to_string()))?;
            }
        }
        loop {
            tokio::select! {
                event = call.next_event() => match event {
                    None | Some(CallEvent::HungUp) => return Ok(AgentOutcome::CallerHungUp),
                    Some(_) => {}
                },
                done = player.wait() => {
                    done?;
                    break;
                }
            }
        }
        Ok(match then {
            AfterGreeting::HangUp => AgentOutcome::hang_up("closed: greeting played"),
            AfterGreeting::Voicemail => AgentOutcome::Transfer {
                target: TransferTarget::Voicemail,
                reason: Some("closed: greeting played".into()),
            },
        })
    }
}

/// The agents the line offers, by the names profiles give them. The
/// assistant's speech model is loaded only when something hands calls to
/// it ([`uses_assistant`]).
pub fn agents(config: &LineConfig) -> Result<Agents, AgentsError> {
    let mut agents = Agents::new();
    agents.insert("echo".into(), Arc::new(Echo) as SharedAgent);
    agents.insert(
        VOICEMAIL_AGENT.into(),
        Arc::new(config.agents.voicemail.agent()) as SharedAgent,
    );
    if let Some(ivr) = &config.agents.ivr {
        let ivr = ivr.agent().map_err(|e| e.within("agents.ivr"))?;
        agents.insert("ivr".into(), Arc::new(ivr) as SharedAgent);
    }
    let tts = config
        .speech
        .text_to_speech()
        .map_err(|e| e.within("speech"))?;
    let greeting = Greeting::new(config, Some(Arc::new(tts) as Arc<dyn TextToSpeech>))?;
    agents.insert(GREETING_AGENT.into(), Arc::new(greeting) as SharedAgent);
    if uses_assistant(config) {
        let profiles = AssistantProfiles::from_tenants(&config.switch_config().tenants_config())?;
        let assistant = Assistant::offline(
            profiles,
            config.speech.speech_to_text_config(Vec::new()),
            config.speech.espeak_config(),
        )?;
        agents.insert(ASSISTANT.into(), Arc::new(assistant) as SharedAgent);
    }
    Ok(agents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_speech_model_is_loaded_only_when_something_hands_calls_to_the_assistant() {
        let mut config = crate::config::defaults().unwrap();
        assert!(uses_assistant(&config), "the defaults answer with it");
        let echo = crate::cli::RunFlags {
            agent: Some("echo".into()),
            ..Default::default()
        };
        config.apply(&echo).unwrap();
        assert!(!uses_assistant(&config));
        config.agents.ivr = Some(
            toml::from_str("prompt = \"menu.wav\"\nchoices = { \"1\" = \"agent:assistant\" }")
                .unwrap(),
        );
        assert!(uses_assistant(&config), "a menu key reaches it");
    }

    #[test]
    fn a_greeting_is_a_file_by_its_extension_and_text_otherwise() {
        assert_eq!(
            Prompt::of("prompts/closed.WAV"),
            Prompt::File("prompts/closed.WAV".into())
        );
        assert_eq!(Prompt::of("closed.ogg"), Prompt::File("closed.ogg".into()));
        assert_eq!(
            Prompt::of("We are closed. Call again tomorrow."),
            Prompt::Text("We are closed. Call again tomorrow.".into())
        );
    }
}
