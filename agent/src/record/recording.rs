//! Recording file names: one WAV file per call, named by its call id.
//!
//! A call id comes from the network (the SIP Call-ID header), so it may
//! hold anything: `/`, `..`, NUL, control characters, thousands of
//! bytes. The file name is made from it so that it always stays inside
//! the recordings directory, and so that two different call ids never
//! share a file (which a hostile caller could otherwise use to overwrite
//! another call's recording).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ring::digest;

/// Longest escaped call id used as it is; longer ones are shortened.
const MAX_PLAIN: usize = 150;
/// How much of a long escaped call id is kept before its hash.
const LONG_PREFIX: usize = 100;

/// The recording file of call `call_id` in `dir`: `<dir>/<name>.wav`.
///
/// The name is the call id with every byte other than ASCII letters,
/// digits and `-_.@+` written as `%XX` (and a leading `.` too, so no name
/// is hidden or means a directory). An escaped id longer than 150
/// characters is cut to its first 100 followed by `-` and the SHA-256 of
/// the whole call id in hex, which keeps the name under file system limits
/// and still unique. An empty call id gives `%.wav`, which no other id
/// can give.
///
/// Different call ids always give different names on a case-sensitive
/// file system.
pub fn recording_path(dir: &Path, call_id: &str) -> PathBuf {
    let mut name = String::with_capacity(call_id.len().min(MAX_PLAIN) + 4);
    if call_id.is_empty() {
        name.push('%');
    }
    for (i, &b) in call_id.as_bytes().iter().enumerate() {
        let plain = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'@' | b'+')
            || (b == b'.' && i > 0);
        if plain {
            name.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(name, "%{b:02X}");
        }
    }
    if name.len() > MAX_PLAIN {
        name.truncate(LONG_PREFIX);
        name.push('-');
        for b in digest::digest(&digest::SHA256, call_id.as_bytes()).as_ref() {
            let _ = write!(name, "{b:02x}");
        }
    }
    name.push_str(".wav");
    dir.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Component;

    fn name_of(call_id: &str) -> String {
        let dir = Path::new("/var/spool/ai-line");
        let path = recording_path(dir, call_id);
        assert_eq!(path.parent(), Some(dir), "{call_id:?} left the directory");
        assert!(
            path.components()
                .all(|c| !matches!(c, Component::ParentDir)),
            "{call_id:?} gave {path:?}"
        );
        path.file_name().unwrap().to_str().unwrap().to_string()
    }

    #[test]
    fn ordinary_sip_call_ids_are_kept_readable() {
        assert_eq!(
            name_of("a84b4c76e66710@pc33.atlanta.com"),
            "a84b4c76e66710@pc33.atlanta.com.wav"
        );
        assert_eq!(
            name_of("3848276298220188511@atlanta.example.com"),
            "3848276298220188511@atlanta.example.com.wav"
        );
    }

    #[test]
    fn path_traversal_stays_inside_the_recordings_directory() {
        assert_eq!(name_of("../../etc/passwd"), "%2E.%2F..%2Fetc%2Fpasswd.wav");
        assert_eq!(name_of(".."), "%2E..wav");
        assert_eq!(name_of("."), "%2E.wav");
        assert_eq!(name_of("/etc/passwd"), "%2Fetc%2Fpasswd.wav");
        assert_eq!(name_of("..\\..\\windows"), "%2E.%5C..%5Cwindows.wav");
    }

    #[test]
    fn nul_control_and_non_ascii_bytes_are_escaped() {
        assert_eq!(name_of("a\0b"), "a%00b.wav");
        assert_eq!(name_of("a\r\nb\t"), "a%0D%0Ab%09.wav");
        assert_eq!(name_of("é"), "%C3%A9.wav");
        assert_eq!(name_of("a b%c"), "a%20b%25c.wav");
    }

    #[test]
    fn an_empty_call_id_gets_a_name_no_other_id_gets() {
        assert_eq!(name_of(""), "%.wav");
    }

    #[test]
    fn very_long_call_ids_are_shortened_but_stay_distinct() {
        let long_a = "a".repeat(10_000);
        let mut long_b = long_a.clone();
        long_b.push('b');
        let (a, b) = (name_of(&long_a), name_of(&long_b));
        assert!(
            a.len() <= 255 && b.len() <= 255,
            "{} / {}",
            a.len(),
            b.len()
        );
        assert_ne!(a, b);
        assert!(a.starts_with(&"a".repeat(100)));
        // A long id of escaped bytes is cut on whole characters too.
        let hostile = "/\0".repeat(5_000);
        assert!(name_of(&hostile).len() <= 255);
    }

    #[test]
    fn ids_that_differ_only_in_escaped_bytes_get_different_files() {
        let ids = [
            "a/b", "a_b", "a%2Fb", "a\\b", "a b", "a\0b", "%", "", ".x", "%2Ex",
        ];
        let names: std::collections::HashSet<String> = ids.iter().map(|id| name_of(id)).collect();
        assert_eq!(names.len(), ids.len(), "{names:?}");
        // An id at the plain-length limit and a shortened one never meet.
        assert_ne!(name_of(&"x".repeat(150)), name_of(&"x".repeat(151)));
    }
}
