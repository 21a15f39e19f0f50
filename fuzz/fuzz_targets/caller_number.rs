//! Any text as the user part of a caller's or called URI (From, P-Asserted-
//! Identity, Request-URI): normalising it to E.164 for a line in each of a
//! few countries must give a verdict (a number or not-a-number), never a
//! panic. The numbering-plan library underneath has panicked on odd input
//! before, so this runs its parser too.
#![no_main]

use agent::numbers::Normaliser;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for country in ["IT", "US", "GB", "DE"] {
        if let Ok(n) = Normaliser::new(country) {
            let verdict = n.normalise(text);
            let _ = verdict.raw();
            if let Some(number) = verdict.number() {
                let _ = (number.e164(), number.country());
            }
            let _ = n.setting_number(text);
        }
    }
    let _ = agent::numbers::e164_number_setting(text);
    let _ = agent::numbers::e164_prefix_setting(text);
});
