//! Links PocketSphinx and SphinxBase through pkg-config, and tells the
//! crate where the library's models live (pkg-config's `modeldir`).

fn main() {
    if let Err(e) = pkg_config::probe_library("pocketsphinx") {
        panic!(
            "PocketSphinx not found by pkg-config ({e}); install Debian's \
             libpocketsphinx-dev and libsphinxbase-dev"
        );
    }
    let modeldir = pkg_config::get_variable("pocketsphinx", "modeldir").unwrap_or_default();
    println!("cargo:rustc-env=POCKETSPHINX_MODELDIR={modeldir}");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
}
