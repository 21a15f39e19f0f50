//! Checks the Rust declarations of `ffi` against the real
//! `espeak-ng/speak_lib.h`: a C file declares every function again with
//! the C types the Rust side chose (the compiler refuses one that
//! conflicts) and checks the constants' values.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// Each function and constant as `ffi` declares it, in C.
const CHECKS: &str = r#"
int espeak_Initialize(espeak_AUDIO_OUTPUT output, int buflength, const char *path, int options);
void espeak_SetSynthCallback(t_espeak_callback *SynthCallback);
espeak_ERROR espeak_SetVoiceByName(const char *name);
espeak_ERROR espeak_SetParameter(espeak_PARAMETER parameter, int value, int relative);
espeak_ERROR espeak_Synth(const void *text, size_t size, unsigned int position,
    espeak_POSITION_TYPE position_type, unsigned int end_position, unsigned int flags,
    unsigned int *unique_identifier, void *user_data);
typedef int (rust_callback)(short *, int, espeak_EVENT *);
_Static_assert(__builtin_types_compatible_p(rust_callback, t_espeak_callback), "callback");
_Static_assert(AUDIO_OUTPUT_SYNCHRONOUS == 2, "AUDIO_OUTPUT_SYNCHRONOUS");
_Static_assert(espeakINITIALIZE_DONT_EXIT == 0x8000, "espeakINITIALIZE_DONT_EXIT");
_Static_assert(espeakRATE == 1, "espeakRATE");
_Static_assert(POS_CHARACTER == 1, "POS_CHARACTER");
_Static_assert(espeakCHARS_UTF8 == 1, "espeakCHARS_UTF8");
_Static_assert(espeakENDPAUSE == 0x1000, "espeakENDPAUSE");
_Static_assert(EE_OK == 0, "EE_OK");
_Static_assert(sizeof(espeak_AUDIO_OUTPUT) == sizeof(int), "enums are int");
_Static_assert(sizeof(espeak_ERROR) == sizeof(int), "enums are int");
"#;

fn compiles(name: &str, body: &str) -> (bool, String) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("espeak-prototypes");
    fs::create_dir_all(&dir).expect("scratch directory");
    let source = dir.join(name);
    fs::write(
        &source,
        format!("#include <espeak-ng/speak_lib.h>\n{body}\n"),
    )
    .expect("write");
    let out = Command::new("cc")
        .args(["-fsyntax-only", "-Werror"])
        .arg(&source)
        .output()
        .expect("a C compiler (cc) is installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn rust_declarations_match_speak_lib_h() {
    let (ok, errors) = compiles("check.c", CHECKS);
    assert!(ok, "the declarations conflict with the header:\n{errors}");
}

#[test]
fn the_check_catches_a_wrong_declaration() {
    let (ok, _) = compiles("wrong.c", "int espeak_SetVoiceByName(const short *name);");
    assert!(!ok, "a conflicting prototype compiled");
}
