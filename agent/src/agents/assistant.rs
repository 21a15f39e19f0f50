//! The offline assistant: answers a profile's frequently asked questions
//! by voice, and hands the caller to a person when asked or when it cannot
//! understand them.

use crate::call::{AgentOutcome, CallContext, CallHandle, TransferTarget};
use crate::config::ConfigError;
use crate::routing::{FaqEntry, NotUnderstood, Profile, TenantsConfig};
use crate::speech::{CallerTurn, Line, Reply, Responder, SpeechError, SpeechToText, TextToSpeech};
use crate::turn::{converse, TurnConfig};
use crate::{Agent, AgentError};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Words that carry no meaning for matching a question ("what are
/// *the* opening hours *please*").
const STOP_WORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "at", "be", "can", "could", "do", "does", "for",
    "get", "have", "hello", "hi", "i", "im", "in", "is", "it", "its", "just", "know", "like", "me",
    "my", "of", "ok", "okay", "on", "or", "our", "please", "so", "tell", "that", "the", "there",
    "this", "to", "uh", "um", "want", "we", "what", "whats", "with", "would", "you", "your",
];

/// Words (after stemming) with which a caller asks for a person.
const PERSON_WORDS: &[&str] = &[
    "operator",
    "person",
    "human",
    "representative",
    "receptionist",
];

/// Words with which a caller ends the call.
const GOODBYE_WORDS: &[&str] = &["goodbye", "bye"];

/// What a caller says to reach a person, for a speech-to-text engine told
/// which phrases to expect. Whole phrases, not single words: an engine
/// listening for a grammar of phrases hears a lone word ("operator",
/// "goodbye") in speech that was neither far more often than a phrase.
const CALLER_PHRASES: &[&str] = &[
    "speak to an operator",
    "talk to a person",
    "a real person",
    "talk to someone",
];

/// What the assistant says, in English.
mod say {
    pub const GREETING: &str = "Hello, this is the automated assistant. How can I help you?";
    pub const GO_AHEAD: &str = "Go ahead, ask me your question.";
    pub const UNCLEAR: &str = "Sorry, I did not understand that. You can ask me a question, \
                               or say operator to talk to a person.";
    pub const SILENT: &str = "Are you still there? Ask me a question, or press zero for a person.";
    pub const TO_PERSON: &str = "Please hold, I am putting you through to a person.";
    pub const TO_VOICEMAIL: &str =
        "Nobody can take your call right now. Please leave a message after the tone.";
    pub const NOBODY: &str =
        "Sorry, nobody can take your call right now. Please call again later. Goodbye.";
    pub const GIVE_UP_PERSON: &str =
        "Sorry, I could not understand. Let me put you through to a person.";
    pub const GIVE_UP_VOICEMAIL: &str =
        "Sorry, I could not understand. Please leave a message after the tone.";
    pub const GIVE_UP: &str = "Sorry, I could not understand. Please call again later. Goodbye.";
    pub const GOODBYE: &str = "Thank you for calling. Goodbye.";
}

/// The words of `text` as the matcher compares them: lower case, letters
/// and digits only (an apostrophe joins: "what's" → "whats"), with
/// common English endings taken off so that "opening hours" and "open
/// hour" are the same words.
pub fn match_words(text: &str) -> Vec<String> {
    plain_words(text).iter().map(|w| stem(w)).collect()
}

/// The words of `text` in lower case, letters and digits only.
fn plain_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Takes off a plural, `-ing`, `-ed` and a final `e`, keeping at least
/// three letters: a stemmer just strong enough for short questions.
fn stem(word: &str) -> String {
    let n = word.chars().count();
    if n <= 3 || !word.is_ascii() {
        return word.to_string();
    }
    let mut w = word.to_string();
    if let Some(base) = w.strip_suffix("ies").filter(|b| b.len() >= 3) {
        w = format!("{base}y");
    } else if let Some(base) = w.strip_suffix("ing").filter(|b| b.len() >= 3) {
        w = base.to_string();
    } else if let Some(base) = w.strip_suffix("ed").filter(|b| b.len() >= 3) {
        w = base.to_string();
    } else if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") {
        w.pop();
    }
    if w.len() > 3 && w.ends_with('e') {
        w.pop();
    }
    w
}

fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

/// The words of `text` that carry meaning (all of them where every one is
/// a stop word, so "what is it" still has words to match).
fn content_words(text: &str) -> Vec<String> {
    let raw = plain_words(text);
    let meaningful: Vec<String> = raw
        .iter()
        .filter(|w| !is_stop_word(w))
        .map(|w| stem(w))
        .collect();
    let mut words = if meaningful.is_empty() {
        raw.iter().map(|w| stem(w)).collect()
    } else {
        meaningful
    };
    let mut seen = HashSet::new();
    words.retain(|w| seen.insert(w.clone()));
    words
}

/// Whether two matcher words are the same word, allowing one letter of
/// difference in long words (a speech-to-text's "adress" for "address").
fn same_word(a: &str, b: &str) -> bool {
    a == b || (a.len() >= 5 && b.len() >= 5 && within_one_edit(a, b))
}

fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let prefix = short.iter().zip(&long).take_while(|(x, y)| x == y).count();
    if short.len() == long.len() {
        short[prefix + 1..] == long[prefix + 1..]
    } else {
        short[prefix..] == long[prefix + 1..]
    }
}

/// One phrase, ready to match.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Phrase {
    /// As configured.
    text: String,
    /// Its meaningful words, stemmed.
    words: Vec<String>,
}

/// The answers the assistant knows and the matcher that finds them.
///
/// Each entry's phrases are reduced to their meaningful words (no "the",
/// "please", "what"; endings taken off). An utterance scores, for each
/// phrase, the share of the phrase's words it contains, in any order; an
/// entry scores its best phrase. The best entry wins if its score
/// reaches [`Faq::threshold`]; between equal scores, the phrase with more
/// words matched (the more specific one), then the entry listed first.
#[derive(Debug, Clone, PartialEq)]
pub struct Faq {
    entries: Vec<(Vec<Phrase>, String)>,
    /// Lowest score an answer needs (default [`Faq::DEFAULT_THRESHOLD`]).
    pub threshold: f32,
}

/// The entry an utterance matched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaqMatch<'a> {
    /// Which entry, counted from 0 in the configured order.
    pub entry: usize,
    /// Its answer.
    pub answer: &'a str,
    /// The share of the best phrase's words heard, 0 to 1.
    pub score: f32,
}

impl Faq {
    /// Half of a two-word phrase is not enough; two words of three are.
    pub const DEFAULT_THRESHOLD: f32 = 0.6;

    /// The matcher for `entries`; refuses an entry without phrases, a
    /// phrase without words or an empty answer, naming it
    /// (`faq[1].answer`).
    pub fn new(entries: &[FaqEntry]) -> Result<Self, ConfigError> {
        crate::routing::check_faq(entries)?;
        let entries = entries
            .iter()
            .map(|e| {
                let phrases = e
                    .phrases
                    .iter()
                    .map(|p| Phrase {
                        text: p.trim().to_string(),
                        words: content_words(p),
                    })
                    .collect();
                (phrases, e.answer.clone())
            })
            .collect();
        Ok(Faq {
            entries,
            threshold: Self::DEFAULT_THRESHOLD,
        })
    }

    /// No questions: every question goes unanswered.
    pub fn empty() -> Self {
        Faq {
            entries: Vec::new(),
            threshold: Self::DEFAULT_THRESHOLD,
        }
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The best answer to `text`, if one scores enough.
    pub fn best(&self, text: &str) -> Option<FaqMatch<'_>> {
        let heard = content_words(text);
        let mut best: Option<(FaqMatch<'_>, usize)> = None;
        for (i, (phrases, answer)) in self.entries.iter().enumerate() {
            for phrase in phrases {
                let matched = phrase
                    .words
                    .iter()
                    .filter(|w| heard.iter().any(|h| same_word(w, h)))
                    .count();
                if matched == 0 {
                    continue;
                }
                let score = matched as f32 / phrase.words.len() as f32;
                let better = match &best {
                    None => true,
                    Some((m, n)) => score > m.score || (score == m.score && matched > *n),
                };
                if better {
                    let found = FaqMatch {
                        entry: i,
                        answer,
                        score,
                    };
                    best = Some((found, matched));
                }
            }
        }
        best.map(|(m, _)| m).filter(|m| m.score >= self.threshold)
    }

    /// Every phrase as written, for a speech-to-text engine told what to
    /// expect.
    fn phrases(&self, out: &mut Vec<String>) {
        for (phrases, _) in &self.entries {
            for p in phrases {
                out.push(p.text.to_lowercase());
            }
        }
    }
}

/// Whether `text` asks for a person ("operator", "a real person", "can I
/// talk to someone").
pub fn asks_for_person(text: &str) -> bool {
    let words = match_words(text);
    let has = |w: &str| words.contains(&stem(w));
    PERSON_WORDS.iter().any(|w| has(w))
        || ((has("someone") || has("somebody")) && (has("talk") || has("speak")))
}

/// Whether `text` says goodbye.
fn says_goodbye(text: &str) -> bool {
    let words = match_words(text);
    GOODBYE_WORDS.iter().any(|g| words.contains(&stem(g)))
}

/// What the assistant knows and does for one profile.
#[derive(Debug, Clone, PartialEq)]
pub struct AssistantSettings {
    /// Said when the call is answered.
    pub greeting: String,
    /// Said after the greeting; key `1` then goes on with the assistant
    /// and `2` reaches a person.
    pub menu: Option<String>,
    /// The questions it answers.
    pub faq: Faq,
    /// Where a caller who asks for a person (or presses `0`) goes:
    /// [`TransferTarget::Operator`] where the profile has a human number,
    /// else [`TransferTarget::Voicemail`] where it offers voicemail;
    /// `None`: nobody, the call ends with an apology.
    pub person: Option<TransferTarget>,
    /// Where a caller not understood twice in a row goes; `None` ends the
    /// call with an apology.
    pub not_understood: Option<TransferTarget>,
}

impl AssistantSettings {
    /// The default greeting, no menu, `faq`, and nobody to hand the
    /// caller to.
    pub fn new(faq: Faq) -> Self {
        AssistantSettings {
            greeting: say::GREETING.to_string(),
            menu: None,
            faq,
            person: None,
            not_understood: None,
        }
    }

    /// The settings of a checked profile: its greeting (else the
    /// default), menu and FAQ; a person is its human number, else its
    /// voicemail; a caller not understood goes where its
    /// `not_understood` says.
    pub fn from_profile(profile: &Profile) -> Result<Self, ConfigError> {
        let person = if profile.human_number().is_some() {
            Some(TransferTarget::Operator)
        } else if profile.voicemail() {
            Some(TransferTarget::Voicemail)
        } else {
            None
        };
        let not_understood = match profile.not_understood() {
            NotUnderstood::Human => person.clone(),
            NotUnderstood::Voicemail => Some(TransferTarget::Voicemail),
        };
        Ok(AssistantSettings {
            greeting: profile.greeting().unwrap_or(say::GREETING).to_string(),
            menu: profile.menu().map(str::to_string),
            faq: Faq::new(profile.faq())?,
            person,
            not_understood,
        })
    }

    /// What is said when the call is answered: the greeting and the menu.
    pub fn opening(&self) -> String {
        match &self.menu {
            Some(menu) => format!("{} {menu}", self.greeting),
            None => self.greeting.clone(),
        }
    }
}

/// One call's conversation with the assistant: the rules, at the level
/// of text, by which each turn of the caller's is answered.
///
/// - `0` (and `2` where there is a menu), or words asking for a person:
///   the caller goes to [`AssistantSettings::person`].
/// - `1` where there is a menu: the assistant asks for the question.
/// - Words an FAQ entry matches: its answer.
/// - "Goodbye": the assistant says goodbye and hangs up.
/// - Anything else (words it does not know, speech without words,
///   silence): asked again once; the second time in a row the caller goes
///   to [`AssistantSettings::not_understood`].
#[derive(Debug)]
pub struct Dialogue {
    settings: Arc<AssistantSettings>,
    misses: AtomicU32,
}

impl Dialogue {
    /// Turns not understood in a row before the caller is handed on.
    pub const MISSES_BEFORE_HANDOFF: u32 = 2;

    /// A new conversation under `settings`.
    pub fn new(settings: Arc<AssistantSettings>) -> Self {
        Dialogue {
            settings,
            misses: AtomicU32::new(0),
        }
    }

    /// The reply to one turn of the caller's.
    pub fn on_turn(&self, turn: CallerTurn<'_>) -> Reply {
        let menu = self.settings.menu.is_some();
        match turn {
            CallerTurn::Key('0') => self.to_person("the caller pressed 0"),
            CallerTurn::Key('2') if menu => self.to_person("the caller chose a person in the menu"),
            CallerTurn::Key('1') if menu => {
                self.misses.store(0, Ordering::Relaxed);
                Reply::say(say::GO_AHEAD)
            }
            CallerTurn::Key(_) => Reply::default(),
            CallerTurn::Said(text) if asks_for_person(text) => {
                self.to_person("the caller asked for a person")
            }
            CallerTurn::Said(text) => {
                if let Some(found) = self.settings.faq.best(text) {
                    self.misses.store(0, Ordering::Relaxed);
                    return Reply::say(found.answer);
                }
                if says_goodbye(text) {
                    return Reply::end_with(
                        say::GOODBYE,
                        AgentOutcome::hang_up("the caller said goodbye"),
                    );
                }
                self.missed(say::UNCLEAR, "not understood")
            }
            CallerTurn::Unclear => self.missed(say::UNCLEAR, "not understood"),
            CallerTurn::Silent => self.missed(say::SILENT, "no answer"),
        }
    }

    fn to_person(&self, reason: &str) -> Reply {
        match &self.settings.person {
            Some(TransferTarget::Voicemail) => Reply::end_with(
                say::TO_VOICEMAIL,
                AgentOutcome::Transfer {
                    target: TransferTarget::Voicemail,
                    reason: Some(format!("{reason}; nobody to take the call")),
                },
            ),
            Some(target) => Reply::end_with(
                say::TO_PERSON,
                AgentOutcome::Transfer {
                    target: target.clone(),
                    reason: Some(reason.to_string()),
                },
            ),
            None => Reply::end_with(
                say::NOBODY,
                AgentOutcome::hang_up(format!("{reason}; nobody to take the call")),
            ),
        }
    }

    fn missed(&self, again: &str, what: &str) -> Reply {
        let misses = self.misses.fetch_add(1, Ordering::Relaxed) + 1;
        if misses < Self::MISSES_BEFORE_HANDOFF {
            return Reply::say(again);
        }
        let reason = format!("{what} {misses} times in a row");
        match &self.settings.not_understood {
            Some(TransferTarget::Voicemail) => Reply::end_with(
                say::GIVE_UP_VOICEMAIL,
                AgentOutcome::Transfer {
                    target: TransferTarget::Voicemail,
                    reason: Some(reason),
                },
            ),
            Some(target) => Reply::end_with(
                say::GIVE_UP_PERSON,
                AgentOutcome::Transfer {
                    target: target.clone(),
                    reason: Some(reason),
                },
            ),
            None => Reply::end_with(say::GIVE_UP, AgentOutcome::hang_up(reason)),
        }
    }
}

impl Responder for Dialogue {
    /// The FAQ's answer, or the request to ask again: the text of
    /// [`Dialogue::on_turn`] for words.
    fn respond<'a>(
        &'a self,
        _conversation: &'a [Line],
        text: &'a str,
    ) -> crate::call::BoxFuture<'a, Result<String, SpeechError>> {
        Box::pin(async move { Ok(self.on_turn(CallerTurn::Said(text)).text) })
    }

    fn reply<'a>(
        &'a self,
        _conversation: &'a [Line],
        turn: CallerTurn<'a>,
    ) -> crate::call::BoxFuture<'a, Result<Reply, SpeechError>> {
        Box::pin(async move { Ok(self.on_turn(turn)) })
    }
}

/// The assistant's settings for every profile it answers, and what
/// callers are expected to say to it.
#[derive(Debug, Clone)]
pub struct AssistantProfiles {
    /// By (tenant, profile).
    by_profile: HashMap<(String, String), Arc<AssistantSettings>>,
    /// For a call of no known profile.
    default: Arc<AssistantSettings>,
}

impl AssistantProfiles {
    /// The same `settings` for every call.
    pub fn one(settings: AssistantSettings) -> Self {
        AssistantProfiles {
            by_profile: HashMap::new(),
            default: Arc::new(settings),
        }
    }

    /// The settings of every profile of every tenant (greeting, menu,
    /// FAQ, human number, voicemail); a call of no known profile gets the
    /// default greeting and no FAQ. A bad FAQ is refused naming it
    /// (`tenants[0].profiles.front.faq[1].answer`).
    pub fn from_tenants(tenants: &TenantsConfig) -> Result<Self, ConfigError> {
        let mut all = Self::one(AssistantSettings::new(Faq::empty()));
        for (i, tenant) in tenants.tenants.iter().enumerate() {
            for (name, config) in &tenant.profiles {
                let at = format!("tenants[{i}].profiles.{name}");
                let profile = Profile::new(name, config).map_err(|e| e.within(&at))?;
                let settings =
                    AssistantSettings::from_profile(&profile).map_err(|e| e.within(&at))?;
                all.by_profile
                    .insert((tenant.name.clone(), name.clone()), Arc::new(settings));
            }
        }
        Ok(all)
    }

    /// The settings a call with `ctx` is answered with: its tenant's
    /// profile's, else the default.
    pub fn settings_for(&self, ctx: &CallContext) -> &Arc<AssistantSettings> {
        match (&ctx.tenant, &ctx.profile) {
            (Some(tenant), Some(profile)) => self
                .by_profile
                .get(&(tenant.clone(), profile.clone()))
                .unwrap_or(&self.default),
            _ => &self.default,
        }
    }

    /// The phrases callers are expected to say: every FAQ phrase (lower
    /// case, as written) and the words that reach a person or end the
    /// call, for a speech-to-text engine that can be told what to listen
    /// for. No duplicates, in a stable order.
    pub fn expected_phrases(&self) -> Vec<String> {
        let mut all = Vec::new();
        self.default.faq.phrases(&mut all);
        let mut keys: Vec<_> = self.by_profile.keys().collect();
        keys.sort();
        for key in keys {
            self.by_profile[key].faq.phrases(&mut all);
        }
        all.extend(CALLER_PHRASES.iter().map(|p| p.to_string()));
        let mut seen = HashSet::new();
        all.retain(|p| seen.insert(p.clone()));
        all
    }
}

/// The offline FAQ assistant, an [`Agent`]: greets the caller (and says
/// the profile's menu), then answers their questions from the profile's
/// FAQ, turn by turn through [`converse`] (end-of-turn silence,
/// barge-in, turn timings in the transcript). A caller who asks for a
/// person or presses `0` is transferred to the profile's human number
/// (through the switch's transfer); one it cannot understand twice in a
/// row goes to the person or to voicemail, as the profile says; see
/// [`Dialogue`] for the rules.
///
/// How well it understands is the speech-to-text's: PocketSphinx told
/// the FAQ's phrases hears eSpeak's questions well, but often hears
/// speech that is none of them as the nearest phrase, so a caller who
/// asks something else may get an FAQ's answer instead of being asked
/// again; with it, "not understood" is mostly silence or speech without
/// words.
///
/// Its engines are trait objects, so any speech-to-text and
/// text-to-speech will do. An engine that can be told which phrases to
/// expect gets them from [`AssistantProfiles::expected_phrases`], before
/// the assistant is built:
///
/// ```no_run
/// use agent::agents::{Assistant, AssistantProfiles};
/// use agent::routing::TenantsConfig;
/// use agent::speech::{SpeechToText, TextToSpeech};
/// use std::sync::Arc;
///
/// fn assistant(
///     tenants: &TenantsConfig,
///     stt_for: impl Fn(Vec<String>) -> Arc<dyn SpeechToText>,
///     tts: Arc<dyn TextToSpeech>,
/// ) -> Result<Assistant, agent::config::ConfigError> {
///     let profiles = AssistantProfiles::from_tenants(tenants)?;
///     let stt = stt_for(profiles.expected_phrases());
///     Ok(Assistant::new(stt, tts, profiles))
/// }
/// ```
#[derive(Clone)]
pub struct Assistant {
    stt: Arc<dyn SpeechToText>,
    tts: Arc<dyn TextToSpeech>,
    profiles: AssistantProfiles,
    turns: TurnConfig,
}

impl std::fmt::Debug for Assistant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assistant")
            .field("profiles", &self.profiles.by_profile.len())
            .field("turns", &self.turns)
            .finish_non_exhaustive()
    }
}

impl Assistant {
    /// How long a caller may stay silent after the assistant spoke before
    /// it asks again (then hands them on).
    pub const NO_INPUT: Duration = Duration::from_secs(8);

    /// An assistant answering each call with its profile's settings,
    /// listening with `stt` and speaking with `tts`; silence of
    /// [`Assistant::NO_INPUT`] is a turn.
    pub fn new(
        stt: Arc<dyn SpeechToText>,
        tts: Arc<dyn TextToSpeech>,
        profiles: AssistantProfiles,
    ) -> Self {
        Assistant {
            stt,
            tts,
            profiles,
            turns: TurnConfig {
                no_input: Some(Self::NO_INPUT),
                ..TurnConfig::default()
            },
        }
    }

    /// Listens and answers with `turns` (end of turn, barge-in, audio
    /// rate for the speech-to-text, how long silence may last); its
    /// greeting is ignored: the profile's is said.
    pub fn with_turns(mut self, turns: TurnConfig) -> Self {
        self.turns = turns;
        self
    }

    /// The settings of the profiles it answers.
    pub fn profiles(&self) -> &AssistantProfiles {
        &self.profiles
    }
}

#[cfg(all(feature = "pocketsphinx", feature = "espeak-ng"))]
impl Assistant {
    /// The assistant fully offline: PocketSphinx listening for the FAQs'
    /// phrases and the ways of asking for a person (added to any
    /// `listen.expected_phrases`), eSpeak NG speaking. Fails when the
    /// speech model cannot be loaded or a setting of eSpeak is refused.
    pub fn offline(
        profiles: AssistantProfiles,
        listen: crate::engines::PocketSphinxConfig,
        speak: crate::engines::EspeakConfig,
    ) -> Result<Self, SpeechError> {
        let mut listen = listen;
        for phrase in profiles.expected_phrases() {
            if !listen.expected_phrases.contains(&phrase) {
                listen.expected_phrases.push(phrase);
            }
        }
        let stt = crate::engines::PocketSphinx::new(listen)?;
        let tts = crate::engines::EspeakNg::new(speak)?;
        Ok(Assistant::new(Arc::new(stt), Arc::new(tts), profiles))
    }
}

impl Agent for Assistant {
    async fn run(
        &self,
        ctx: CallContext,
        mut call: CallHandle,
    ) -> Result<AgentOutcome, AgentError> {
        let settings = Arc::clone(self.profiles.settings_for(&ctx));
        let config = TurnConfig {
            greeting: Some(settings.opening()),
            ..self.turns.clone()
        };
        let dialogue = Dialogue::new(settings);
        converse(&mut call, &*self.stt, &dialogue, &*self.tts, &config).await
    }

    fn audio_rate(&self) -> u32 {
        self.turns.audio_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(phrases: &[&str], answer: &str) -> FaqEntry {
        FaqEntry {
            phrases: phrases.iter().map(|p| p.to_string()).collect(),
            answer: answer.to_string(),
        }
    }

    fn shop_faq() -> Faq {
        Faq::new(&[
            entry(
                &[
                    "opening hours",
                    "when are you open",
                    "what time do you close",
                ],
                "hours",
            ),
            entry(
                &["where are you", "address", "how do I get there"],
                "address",
            ),
            entry(&["parking", "where can I park"], "parking"),
            entry(&["do you deliver", "home delivery"], "delivery"),
            entry(&["price of a haircut", "how much is a haircut"], "haircut"),
        ])
        .unwrap()
    }

    fn answer(faq: &Faq, text: &str) -> Option<String> {
        faq.best(text).map(|m| m.answer.to_string())
    }

    #[test]
    fn questions_match_whatever_their_case_punctuation_and_word_order() {
        let faq = shop_faq();
        for (asked, expected) in [
            ("What are your opening hours?", "hours"),
            ("OPENING HOURS", "hours"),
            ("hours of opening, please", "hours"),
            ("when do you open", "hours"),
            ("Are you open on Sunday? When?", "hours"),
            ("what's your address", "address"),
            ("can you tell me where you are", "address"),
            ("how do i get there from the station", "address"),
            ("is there parking", "parking"),
            ("where could I park my car", "parking"),
            ("do you do home deliveries", "delivery"),
            ("how much does a haircut cost", "haircut"),
            ("Haircut price?", "haircut"),
        ] {
            assert_eq!(answer(&faq, asked).as_deref(), Some(expected), "{asked:?}");
        }
    }

    #[test]
    fn questions_it_does_not_know_are_not_answered() {
        let faq = shop_faq();
        for asked in [
            "I want to cancel my order",
            "my washing machine is broken",
            "what is the weather like",
            "hmm",
            "",
            "the",
        ] {
            assert_eq!(answer(&faq, asked), None, "{asked:?}");
        }
    }

    #[test]
    fn the_more_specific_phrase_wins_and_one_wrong_letter_is_forgiven() {
        let faq = Faq::new(&[
            entry(&["open"], "open"),
            entry(&["opening hours of the parking"], "parking hours"),
        ])
        .unwrap();
        assert_eq!(
            answer(&faq, "what are the opening hours of the parking").as_deref(),
            Some("parking hours")
        );
        assert_eq!(answer(&faq, "are you open").as_deref(), Some("open"));
        let faq = shop_faq();
        // A speech-to-text's misspelling of a long word.
        assert_eq!(answer(&faq, "your adress").as_deref(), Some("address"));
        // Short words must match exactly: "hour" is not "our".
        assert_eq!(answer(&faq, "our opening"), None);
    }

    #[test]
    fn words_are_lower_cased_and_their_endings_taken_off() {
        assert_eq!(
            match_words("Opening HOURS, what's closed?"),
            ["open", "hour", "what", "clos"]
        );
        assert_eq!(match_words("deliveries delivery"), ["delivery", "delivery"]);
        assert_eq!(match_words("address is"), ["address", "is"]);
    }

    #[test]
    fn a_person_is_asked_for_in_many_words() {
        for asked in [
            "operator",
            "Operator!",
            "can I talk to a person",
            "I want to speak to a human",
            "a real person please",
            "let me talk to someone",
            "representative",
        ] {
            assert!(asks_for_person(asked), "{asked:?}");
        }
        for asked in ["what are your opening hours", "talk", "someone called me"] {
            assert!(!asks_for_person(asked), "{asked:?}");
        }
    }

    fn settings(
        person: Option<TransferTarget>,
        not_understood: Option<TransferTarget>,
    ) -> Arc<AssistantSettings> {
        Arc::new(AssistantSettings {
            person,
            not_understood,
            ..AssistantSettings::new(shop_faq())
        })
    }

    fn transfer(reply: &Reply) -> Option<&TransferTarget> {
        match &reply.then {
            Some(AgentOutcome::Transfer { target, .. }) => Some(target),
            _ => None,
        }
    }

    #[test]
    fn the_zero_key_or_asking_for_a_person_reaches_the_human_number() {
        let d = Dialogue::new(settings(
            Some(TransferTarget::Operator),
            Some(TransferTarget::Operator),
        ));
        let r = d.on_turn(CallerTurn::Key('0'));
        assert_eq!(transfer(&r), Some(&TransferTarget::Operator));
        assert_eq!(r.text, say::TO_PERSON);
        let r = d.on_turn(CallerTurn::Said("can I speak to an operator"));
        assert_eq!(
            r.then,
            Some(AgentOutcome::Transfer {
                target: TransferTarget::Operator,
                reason: Some("the caller asked for a person".into())
            })
        );
        // Without a menu, 2 is just a key.
        assert_eq!(d.on_turn(CallerTurn::Key('2')), Reply::default());
    }

    #[test]
    fn without_a_human_number_a_person_means_voicemail_or_an_apology() {
        let d = Dialogue::new(settings(Some(TransferTarget::Voicemail), None));
        let r = d.on_turn(CallerTurn::Key('0'));
        assert_eq!(transfer(&r), Some(&TransferTarget::Voicemail));
        let d = Dialogue::new(settings(None, None));
        let r = d.on_turn(CallerTurn::Said("operator"));
        assert!(matches!(r.then, Some(AgentOutcome::HangUp { .. })), "{r:?}");
        assert_eq!(r.text, say::NOBODY);
    }

    #[test]
    fn not_understood_twice_in_a_row_hands_the_caller_on() {
        let d = Dialogue::new(settings(
            Some(TransferTarget::Operator),
            Some(TransferTarget::Operator),
        ));
        let r = d.on_turn(CallerTurn::Said("blue elephants"));
        assert_eq!((r.text.as_str(), r.then), (say::UNCLEAR, None));
        let r = d.on_turn(CallerTurn::Unclear);
        assert_eq!(
            r.then,
            Some(AgentOutcome::Transfer {
                target: TransferTarget::Operator,
                reason: Some("not understood 2 times in a row".into())
            })
        );
        assert_eq!(r.text, say::GIVE_UP_PERSON);
    }

    #[test]
    fn an_answer_between_two_misses_starts_the_count_again() {
        let d = Dialogue::new(settings(
            Some(TransferTarget::Operator),
            Some(TransferTarget::Voicemail),
        ));
        assert_eq!(d.on_turn(CallerTurn::Silent).text, say::SILENT);
        assert_eq!(
            d.on_turn(CallerTurn::Said("where can I park")).text,
            "parking"
        );
        assert_eq!(d.on_turn(CallerTurn::Unclear).then, None);
        let r = d.on_turn(CallerTurn::Silent);
        assert_eq!(transfer(&r), Some(&TransferTarget::Voicemail));
        assert_eq!(r.text, say::GIVE_UP_VOICEMAIL);
    }

    #[test]
    fn silence_twice_without_anyone_to_hand_to_ends_the_call() {
        let d = Dialogue::new(settings(None, None));
        d.on_turn(CallerTurn::Silent);
        let r = d.on_turn(CallerTurn::Silent);
        assert_eq!(
            r.then,
            Some(AgentOutcome::hang_up("no answer 2 times in a row"))
        );
    }

    #[test]
    fn the_menu_keys_go_on_with_the_assistant_or_reach_a_person() {
        let s = AssistantSettings {
            menu: Some("Press 1 for the assistant, 2 for a person.".into()),
            ..(*settings(Some(TransferTarget::Operator), None)).clone()
        };
        assert_eq!(
            s.opening(),
            format!(
                "{} Press 1 for the assistant, 2 for a person.",
                say::GREETING
            )
        );
        let d = Dialogue::new(Arc::new(s));
        assert_eq!(d.on_turn(CallerTurn::Key('1')), Reply::say(say::GO_AHEAD));
        assert_eq!(d.on_turn(CallerTurn::Key('#')), Reply::default());
        let r = d.on_turn(CallerTurn::Key('2'));
        assert_eq!(transfer(&r), Some(&TransferTarget::Operator));
    }

    #[test]
    fn goodbye_hangs_up_after_saying_it() {
        let d = Dialogue::new(settings(None, None));
        let r = d.on_turn(CallerTurn::Said("ok thanks, goodbye"));
        assert_eq!(r.text, say::GOODBYE);
        assert_eq!(
            r.then,
            Some(AgentOutcome::hang_up("the caller said goodbye"))
        );
    }

    #[test]
    fn a_profiles_settings_follow_its_human_number_voicemail_and_faq() {
        let config: crate::routing::ProfileConfig = toml::from_str(
            r#"
            agent = "assistant"
            time_zone = "Europe/Rome"
            greeting = "Hello from the shop."
            human_number = "+390212345678"
            voicemail = true
            not_understood = "voicemail"
            [[faq]]
            phrases = ["opening hours"]
            answer = "Nine to six."
            "#,
        )
        .unwrap();
        let profile = Profile::new("front", &config).unwrap();
        let s = AssistantSettings::from_profile(&profile).unwrap();
        assert_eq!(s.greeting, "Hello from the shop.");
        assert_eq!(s.person, Some(TransferTarget::Operator));
        assert_eq!(s.not_understood, Some(TransferTarget::Voicemail));
        assert_eq!(
            s.faq.best("opening hours?").map(|m| m.answer),
            Some("Nine to six.")
        );
        let bare: crate::routing::ProfileConfig =
            toml::from_str("agent = \"assistant\"\ntime_zone = \"UTC\"").unwrap();
        let s = AssistantSettings::from_profile(&Profile::new("p", &bare).unwrap()).unwrap();
        assert_eq!(
            (s.greeting.as_str(), s.person, s.not_understood),
            (say::GREETING, None, None)
        );
    }

    #[test]
    fn an_faq_with_an_empty_answer_is_refused_naming_it() {
        let e = Faq::new(&[entry(&["hours"], "nine"), entry(&["parking"], " ")]).unwrap_err();
        assert_eq!(e.setting, "faq[1].answer");
    }

    const TENANTS: &str = r#"
        [[tenants]]
        name = "acme"
        default_country = "IT"
        time_zone = "Europe/Rome"
        default_profile = "front"
        [tenants.profiles.front]
        agent = "assistant"
        time_zone = "Europe/Rome"
        greeting = "Acme, hello."
        [[tenants.profiles.front.faq]]
        phrases = ["Opening hours", "when are you open"]
        answer = "Nine to six."
        [tenants.profiles.back]
        agent = "assistant"
        time_zone = "Europe/Rome"
        [[tenants.profiles.back.faq]]
        phrases = ["opening hours", "Where are you?"]
        answer = "Via Roma 1."
    "#;

    fn context(tenant: &str, profile: &str) -> CallContext {
        let mut ctx = CallContext::new(
            "c",
            "line",
            crate::record::CallDirection::Inbound,
            crate::record::Party::raw("+390212345678"),
        );
        ctx.tenant = Some(tenant.into());
        ctx.profile = Some(profile.into());
        ctx
    }

    #[test]
    fn each_call_gets_its_profiles_settings_and_the_engine_hears_every_phrase_once() {
        let tenants: TenantsConfig = toml::from_str(TENANTS).unwrap();
        let profiles = AssistantProfiles::from_tenants(&tenants).unwrap();
        assert_eq!(
            profiles.settings_for(&context("acme", "front")).greeting,
            "Acme, hello."
        );
        let back = profiles.settings_for(&context("acme", "back"));
        assert_eq!(back.greeting, say::GREETING);
        assert_eq!(
            back.faq.best("where are you").map(|m| m.answer),
            Some("Via Roma 1.")
        );
        let unknown = profiles.settings_for(&context("other", "front"));
        assert!(unknown.faq.is_empty());
        let phrases = profiles.expected_phrases();
        assert_eq!(
            phrases[..4],
            ["opening hours", "where are you?", "when are you open"]
                .iter()
                .chain(&["speak to an operator"])
                .map(|p| p.to_string())
                .collect::<Vec<_>>()[..],
            "{phrases:?}"
        );
        assert!(phrases.contains(&"talk to a person".to_string()));
    }

    #[test]
    fn a_bad_faq_in_a_tenants_profile_is_refused_with_its_full_path() {
        let text = TENANTS.replace("answer = \"Via Roma 1.\"", "answer = \"\"");
        let tenants: TenantsConfig = toml::from_str(&text).unwrap();
        let e = AssistantProfiles::from_tenants(&tenants).unwrap_err();
        assert_eq!(e.setting, "tenants[0].profiles.back.faq[0].answer");
    }
}
