//! The store's settings: where the database and the recordings live.

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::{ConfigError, Validate};

/// Where call records, campaigns and recordings are kept (`[store]` in the
/// config file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// The SQLite database file (created if missing; its directory must
    /// exist).
    pub database: PathBuf,
    /// The directory call recordings are written to, one WAV file per
    /// call named by call id.
    pub recordings: PathBuf,
    /// This process's name among those sharing the database: a restart
    /// closes as interrupted only the calls its own instance left open.
    /// Processes sharing one database must each have their own.
    #[serde(default = "default_instance")]
    pub instance: String,
}

impl StoreSettings {
    /// The file call `call_id` is recorded to: see
    /// [`recording_path`](super::recording_path).
    pub fn recording_path(&self, call_id: &str) -> PathBuf {
        super::recording_path(&self.recordings, call_id)
    }
}

/// The instance name when only one process uses the database.
fn default_instance() -> String {
    "default".to_string()
}

impl Validate for StoreSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.database.as_os_str().is_empty() {
            return Err(ConfigError::new(
                "database",
                "is empty: give the path of the SQLite file",
            ));
        }
        if self.database.is_dir() {
            return Err(ConfigError::new(
                "database",
                format!(
                    "{} is a directory: give the path of a file in it",
                    self.database.display()
                ),
            ));
        }
        if let Some(parent) = self.database.parent() {
            if !parent.as_os_str().is_empty() && !parent.is_dir() {
                return Err(ConfigError::new(
                    "database",
                    format!("the directory {} does not exist", parent.display()),
                ));
            }
        }
        if self.recordings.as_os_str().is_empty() {
            return Err(ConfigError::new(
                "recordings",
                "is empty: give the directory recordings go to",
            ));
        }
        if self.recordings.exists() && !self.recordings.is_dir() {
            return Err(ConfigError::new(
                "recordings",
                format!("{} is not a directory", self.recordings.display()),
            ));
        }
        if self.instance.trim().is_empty() {
            return Err(ConfigError::new(
                "instance",
                "is empty: leave it out, or name this process",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> StoreSettings {
        toml::from_str(toml_text).unwrap()
    }

    fn problem(settings: &StoreSettings) -> ConfigError {
        settings.validate().unwrap_err()
    }

    #[test]
    fn store_settings_read_from_toml_with_a_default_instance() {
        let dir = std::env::temp_dir();
        let s = parse(&format!(
            "database = {:?}\nrecordings = {:?}",
            dir.join("calls.sqlite"),
            dir.join("recordings")
        ));
        assert_eq!(s.instance, "default");
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(
            s.recording_path("../x"),
            dir.join("recordings").join("%2E.%2Fx.wav")
        );
        let e = toml::from_str::<StoreSettings>("database = 'a'\nrecordings = 'b'\ndatbase = 'c'")
            .unwrap_err();
        assert!(e.to_string().contains("datbase"), "{e}");
    }

    #[test]
    fn unusable_store_settings_name_the_setting() {
        let dir = std::env::temp_dir();
        let good = StoreSettings {
            database: dir.join("calls.sqlite"),
            recordings: dir.join("recordings"),
            instance: "node-1".into(),
        };
        assert_eq!(good.validate(), Ok(()));

        let mut s = good.clone();
        s.database = PathBuf::new();
        assert_eq!(problem(&s).setting, "database");
        s.database = dir.clone();
        assert!(problem(&s).problem.contains("is a directory"));
        s.database = dir.join("no-such-directory-here").join("calls.sqlite");
        let e = problem(&s);
        assert_eq!(e.setting, "database");
        assert!(e.problem.contains("no-such-directory-here"), "{e}");

        let mut s = good.clone();
        s.recordings = PathBuf::new();
        assert_eq!(problem(&s).setting, "recordings");
        let file = dir.join(format!("agent-settings-test-{}", std::process::id()));
        std::fs::write(&file, b"").unwrap();
        s.recordings = file.clone();
        let e = problem(&s);
        std::fs::remove_file(&file).unwrap();
        assert_eq!(e.setting, "recordings");
        assert!(e.problem.contains("not a directory"), "{e}");

        let mut s = good;
        s.instance = "  ".into();
        assert_eq!(
            s.validate()
                .map_err(|e| e.within("store"))
                .unwrap_err()
                .setting,
            "store.instance"
        );
    }
}
