//! Checks the Rust declarations of `ffi` against the real headers: a C
//! file includes `pocketsphinx.h` and declares every function again with
//! the C types the Rust side chose; the compiler refuses a declaration
//! whose types conflict with the header's. Also checks the sizes of the
//! integer types the signatures use (`int16`, `int32`, `size_t`).

use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// Each function as `ffi` declares it, in C: `i32` → `int32`, `i16` →
/// `int16`, `usize` → `size_t`, `c_int` → `int`, pointers to the opaque
/// types by their header names.
const PROTOTYPES: &str = r#"
arg_t const *ps_args(void);
cmd_ln_t *cmd_ln_parse_r(cmd_ln_t *inout_cmdln, arg_t const *defn, int32 argc, char *argv[], int32 strict);
int cmd_ln_free_r(cmd_ln_t *cmdln);
ps_decoder_t *ps_init(cmd_ln_t *config);
int ps_free(ps_decoder_t *ps);
char *ps_lookup_word(ps_decoder_t *ps, const char *word);
int ps_set_jsgf_string(ps_decoder_t *ps, const char *name, const char *jsgf_string);
int ps_set_kws(ps_decoder_t *ps, const char *name, const char *keyfile);
int ps_set_lm_file(ps_decoder_t *ps, const char *name, const char *path);
int ps_set_search(ps_decoder_t *ps, const char *name);
int ps_start_utt(ps_decoder_t *ps);
int ps_process_raw(ps_decoder_t *ps, int16 const *data, size_t n_samples, int no_search, int full_utt);
int ps_end_utt(ps_decoder_t *ps);
char const *ps_get_hyp(ps_decoder_t *ps, int32 *out_best_score);
void err_set_logfp(FILE *stream);
void ckd_free(void *ptr);
"#;

#[test]
fn rust_declarations_match_the_pocketsphinx_headers() {
    let cflags = Command::new("pkg-config")
        .args(["--cflags", "pocketsphinx"])
        .output()
        .expect("pkg-config runs (scripts/test installs it)");
    assert!(cflags.status.success(), "pkg-config knows no pocketsphinx");
    let cflags = String::from_utf8_lossy(&cflags.stdout).into_owned();

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pocketsphinx-prototypes");
    fs::create_dir_all(&dir).expect("scratch directory");
    let source = dir.join("check.c");
    let program = format!(
        "#include <stdio.h>\n#include <pocketsphinx.h>\n#include <sphinxbase/err.h>\n\
         #include <sphinxbase/ckd_alloc.h>\n{PROTOTYPES}\n\
         _Static_assert(sizeof(int16) == 2, \"int16\");\n\
         _Static_assert(sizeof(int32) == 4, \"int32\");\n\
         _Static_assert(sizeof(size_t) == sizeof(void *), \"size_t\");\n\
         int main(void) {{ return 0; }}\n"
    );
    fs::write(&source, program).expect("write the C check");
    let out = Command::new("cc")
        .arg("-fsyntax-only")
        .arg("-Werror")
        .args(cflags.split_whitespace())
        .arg(&source)
        .output()
        .expect("a C compiler (cc) is installed");
    assert!(
        out.status.success(),
        "the declarations conflict with the headers:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_check_catches_a_wrong_declaration() {
    // The same check must fail for a declaration with a wrong type, or it
    // proves nothing.
    let cflags = Command::new("pkg-config")
        .args(["--cflags", "pocketsphinx"])
        .output()
        .expect("pkg-config runs");
    let cflags = String::from_utf8_lossy(&cflags.stdout).into_owned();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pocketsphinx-prototypes");
    fs::create_dir_all(&dir).expect("scratch directory");
    let source = dir.join("wrong.c");
    fs::write(
        &source,
        "#include <pocketsphinx.h>\nint ps_process_raw(ps_decoder_t *ps, int32 const *data, size_t n, int a, int b);\n",
    )
    .expect("write the C check");
    let out = Command::new("cc")
        .arg("-fsyntax-only")
        .args(cflags.split_whitespace())
        .arg(&source)
        .output()
        .expect("cc runs");
    assert!(!out.status.success(), "a conflicting prototype compiled");
}
