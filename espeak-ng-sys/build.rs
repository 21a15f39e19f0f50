//! Links eSpeak NG through pkg-config.

fn main() {
    if let Err(e) = pkg_config::probe_library("espeak-ng") {
        panic!("eSpeak NG not found by pkg-config ({e}); install Debian's libespeak-ng-dev");
    }
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
}
