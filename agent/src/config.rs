//! Settings are plain structs deriving serde's `Deserialize`, so `ai-line`
//! loads them from TOML and a library user builds them in code. Each is
//! checked once, where it enters, and a bad value is refused with a
//! [`ConfigError`] that names the setting by its path in the config file
//! (`profiles.sales.hours.monday`), the way an operator would look for it.

use std::fmt;

/// A setting that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    /// Where the setting lives, as a dotted path (`policy.rate.per_minute`).
    pub setting: String,
    /// What is wrong with it, in words an operator can act on.
    pub problem: String,
}

impl ConfigError {
    /// A problem with the setting at `setting`.
    pub fn new(setting: impl Into<String>, problem: impl fmt::Display) -> Self {
        ConfigError {
            setting: setting.into(),
            problem: problem.to_string(),
        }
    }

    /// The same problem, seen from a table one level up: `prefix` is put
    /// in front of the setting's path (`hours` + `monday` →
    /// `hours.monday`), so nested validators report full paths.
    pub fn within(mut self, prefix: &str) -> Self {
        if !prefix.is_empty() {
            self.setting = if self.setting.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix}.{}", self.setting)
            };
        }
        self
    }
}

/// A setting that can check itself once it has been read.
pub trait Validate {
    /// Refuses a value that cannot work, naming the setting (relative to
    /// this struct; callers prefix it with [`ConfigError::within`]).
    fn validate(&self) -> Result<(), ConfigError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_errors_name_the_full_setting_path() {
        let e = ConfigError::new("monday", "opens after it closes")
            .within("hours")
            .within("profiles.sales");
        assert_eq!(e.setting, "profiles.sales.hours.monday");
        assert_eq!(
            e.to_string(),
            "profiles.sales.hours.monday: opens after it closes"
        );
    }
}
