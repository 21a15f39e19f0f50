//! A wrong configuration file is refused at start with the file, the line
//! and the setting that is wrong: each kind of mistake an operator makes
//! (an unknown key, a bad address, an inverted port range, a missing or
//! empty password) on its own, through the library and through the
//! binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use ai_line::config::{self, ConfigFileError};

/// A valid file the tests break one line of.
const GOOD: &str = r#"[sip]
listen = ["127.0.0.1:5060"]

[rtp]
ports = [20000, 20100]

[[accounts]]
name = "provider"
tenant = "shop"
registrar = "sip.provider.example"
username = "1001"
password = "secret"

[[tenants]]
name = "shop"
default_country = "IT"
time_zone = "Europe/Rome"
default_profile = "front"

[tenants.profiles.front]
agent = "echo"
time_zone = "Europe/Rome"
"#;

/// Writes `text` to a file of its own and returns its path.
fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ai-line-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `GOOD` with `from` replaced by `to` (which must be there).
fn broken(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

/// The line (from 1) of the first line of `text` that contains `needle`.
fn line_with(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} in the file"))
        + 1
}

/// Loads the file and checks the refusal names it, the line and the
/// setting; returns the message.
fn refused(path: &Path, line: usize, setting: &str) -> String {
    let e = config::load(path).expect_err("the file is refused");
    let message = e.to_string();
    match &e {
        ConfigFileError::Invalid { file, line: at, .. } => {
            assert_eq!(file, path, "{message}");
            assert_eq!(*at, line, "{message}");
        }
        other => panic!("not a refusal of the file's content: {other}"),
    }
    assert!(
        message.starts_with(&format!("{}:{line}: ", path.display())),
        "file and line first: {message}"
    );
    assert!(message.contains(setting), "names {setting}: {message}");
    message
}

#[test]
fn the_good_file_is_accepted() {
    let config = config::load(&file("good.toml", GOOD)).expect("valid");
    assert_eq!(config.accounts[0].username, "1001");
}

#[test]
fn an_unknown_key_is_refused_with_its_file_line_and_name() {
    let text = broken("ports = [20000, 20100]", "ports = [20000, 20100]\nport = 5");
    let path = file("unknown-key.toml", &text);
    let message = refused(&path, line_with(&text, "port = 5"), "rtp.port");
    assert!(message.contains("unknown field"), "{message}");
}

#[test]
fn a_bad_listen_address_is_refused_with_its_file_line_and_setting() {
    let text = broken("127.0.0.1:5060", "127.0.0.1:99999");
    let path = file("bad-address.toml", &text);
    let message = refused(&path, line_with(&text, "99999"), "sip.listen");
    assert!(message.contains("address"), "{message}");
}

#[test]
fn an_inverted_rtp_port_range_is_refused_with_its_file_line_and_setting() {
    let text = broken("ports = [20000, 20100]", "ports = [20100, 20000]");
    let path = file("inverted-ports.toml", &text);
    let message = refused(&path, line_with(&text, "ports = [20100"), "rtp.ports");
    assert!(message.contains("range"), "{message}");
}

#[test]
fn an_account_without_a_password_is_refused_with_its_file_line_and_setting() {
    let text = broken("password = \"secret\"\n", "");
    let path = file("missing-password.toml", &text);
    // The account's table is where the password is missing.
    let message = refused(&path, line_with(&text, "[[accounts]]"), "accounts[0]");
    assert!(message.contains("password"), "{message}");
}

#[test]
fn an_account_with_an_empty_password_is_refused_with_its_file_line_and_setting() {
    let text = broken("password = \"secret\"", "password = \"\"");
    let path = file("empty-password.toml", &text);
    refused(
        &path,
        line_with(&text, "password = \"\""),
        "accounts[0].password",
    );
}

#[test]
fn a_profile_naming_an_agent_the_line_lacks_is_refused_with_the_agents_it_has() {
    let text = broken("agent = \"echo\"", "agent = \"ecco\"");
    let path = file("unknown-agent.toml", &text);
    let message = refused(
        &path,
        line_with(&text, "ecco"),
        "tenants[0].profiles.front.agent",
    );
    assert!(
        message.contains("echo"),
        "lists the agents there are: {message}"
    );
}

#[test]
fn the_binary_refuses_a_wrong_file_at_start_with_exit_status_2() {
    let text = broken("ports = [20000, 20100]", "ports = [20100, 20000]");
    let path = file("binary-refusal.toml", &text);
    let out = Command::new(env!("CARGO_BIN_EXE_ai-line"))
        .arg("--config")
        .arg(&path)
        .output()
        .expect("ai-line runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = line_with(&text, "ports = [20100");
    assert!(
        stderr.contains(&format!("{}:{line}: rtp.ports", path.display())),
        "{stderr}"
    );
}

#[test]
fn a_speaking_rate_espeak_cannot_take_is_refused_with_its_file_line_and_setting() {
    let text = format!("{GOOD}\n[speech]\nvoice = \"en-us\"\nwords_per_minute = 1000\n");
    let path = file("speech-rate.toml", &text);
    let message = refused(
        &path,
        line_with(&text, "words_per_minute = 1000"),
        "speech.words_per_minute",
    );
    assert!(message.contains("80-450"), "{message}");
}

#[test]
fn a_wrong_flag_is_refused_naming_the_flag() {
    let path = file("flags.toml", GOOD);
    let out = Command::new(env!("CARGO_BIN_EXE_ai-line"))
        .arg("--config")
        .arg(&path)
        .args(["--agent", "nobody"])
        .output()
        .expect("ai-line runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the command line: --agent: there is no agent \"nobody\""),
        "{stderr}"
    );
    let flags = ai_line::cli::RunFlags {
        cdr: Some(
            std::env::temp_dir()
                .join("no-such-directory-here")
                .join("calls.db"),
        ),
        ..Default::default()
    };
    let e = config::resolve(Some(&path), &flags).expect_err("refused");
    assert!(
        e.to_string().starts_with("the command line: --cdr: "),
        "{e}"
    );
}

#[test]
fn a_voice_espeak_does_not_have_is_refused_with_its_file_line_and_setting() {
    let text = format!("{GOOD}\n[speech]\nvoice = \"no-such-voice\"\n");
    let path = file("speech-voice.toml", &text);
    refused(&path, line_with(&text, "no-such-voice"), "speech.voice");
}
