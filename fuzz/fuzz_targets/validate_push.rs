//! Pushed changes, raw, mutated, re-encoded or built event by event, through the relay's validation
//! (see `zhuqi_fuzz::push`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    zhuqi_fuzz::guard::run(data, |data| {
        let _ = zhuqi_fuzz::push::run(data);
    })
});
