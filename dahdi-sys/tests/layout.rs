//! Compares the Rust definitions with the real `dahdi/user.h`: every
//! constant, ioctl request number, struct size, alignment and field offset.
//!
//! The header comes from Debian's `dahdi-source` package, which ships the
//! DAHDI sources as `/usr/src/dahdi.tar.bz2` (`scripts/test` installs it);
//! `DAHDI_SOURCE_TARBALL` points the test at another DAHDI source tarball.
//! The test extracts the headers, writes a C program that prints every value
//! the Rust side lists, compiles it with `cc` and compares line by line.

#![cfg(target_os = "linux")]

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian's `dahdi-source` puts the DAHDI sources.
const DEBIAN_TARBALL: &str = "/usr/src/dahdi.tar.bz2";

#[test]
fn layout_matches_dahdi_user_header() {
    let tarball = std::env::var_os("DAHDI_SOURCE_TARBALL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEBIAN_TARBALL));
    assert!(
        tarball.is_file(),
        "no DAHDI sources at {}: the layout test compiles against the real dahdi/user.h, \
         which Debian ships in the dahdi-source package (apt-get install dahdi-source; \
         scripts/test installs it), or set DAHDI_SOURCE_TARBALL to a DAHDI source tarball",
        tarball.display()
    );

    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dahdi-layout");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).expect("create the scratch directory");

    let untar = Command::new("tar")
        .arg("-xaf")
        .arg(&tarball)
        .arg("-C")
        .arg(&work)
        .args(["--wildcards", "*include/dahdi/*.h"])
        .output()
        .expect("run tar");
    assert!(
        untar.status.success(),
        "extracting the DAHDI headers from {} failed: {}",
        tarball.display(),
        String::from_utf8_lossy(&untar.stderr)
    );
    let include = find_include_dir(&work)
        .unwrap_or_else(|| panic!("{} holds no include/dahdi/user.h", tarball.display()));

    let layout = dahdi_sys::layout::layout();
    assert!(
        layout.len() > 500,
        "the Rust table lists only {} values",
        layout.len()
    );

    let mut program = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n#include <dahdi/user.h>\n\n\
         int main(void)\n{\n",
    );
    for (expr, _) in &layout {
        writeln!(program, "\tprintf(\"%lld\\n\", (long long)({expr}));")
            .expect("write to a String");
    }
    program.push_str("\treturn 0;\n}\n");
    let source = work.join("layout.c");
    let binary = work.join("layout");
    fs::write(&source, program).expect("write the C program");

    // CONFIG_DAHDI_MIRROR makes the header define DAHDI_RXMIRROR and
    // DAHDI_TXMIRROR, which the Rust side always has.
    let compile = Command::new("cc")
        .args(["-std=gnu11", "-Wall", "-DCONFIG_DAHDI_MIRROR"])
        .arg("-I")
        .arg(&include)
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .output()
        .expect("run cc");
    assert!(
        compile.status.success(),
        "compiling {} against {} failed:\n{}",
        source.display(),
        include.display(),
        String::from_utf8_lossy(&compile.stderr)
    );

    let run = Command::new(&binary).output().expect("run the C program");
    assert!(run.status.success(), "{} failed", binary.display());
    let stdout = String::from_utf8(run.stdout).expect("the C program prints ASCII");
    let c_values: Vec<i64> = stdout
        .lines()
        .map(|line| line.parse().expect("the C program prints integers"))
        .collect();
    assert_eq!(
        c_values.len(),
        layout.len(),
        "the C program printed a value per line"
    );

    let mismatches: Vec<String> = layout
        .iter()
        .zip(&c_values)
        .filter(|((_, rust), c)| rust != *c)
        .map(|((expr, rust), c)| format!("{expr}: C says {c}, Rust says {rust}"))
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} values differ from dahdi/user.h:\n{}",
        mismatches.len(),
        layout.len(),
        mismatches.join("\n")
    );
}

/// The `include` directory under `root` that holds `dahdi/user.h`.
fn find_include_dir(root: &Path) -> Option<PathBuf> {
    if root.join("dahdi/user.h").is_file() {
        return Some(root.to_path_buf());
    }
    for entry in fs::read_dir(root).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_include_dir(&path) {
                return Some(found);
            }
        }
    }
    None
}
