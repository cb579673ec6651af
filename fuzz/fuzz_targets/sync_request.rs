//! Arbitrary `/v1/sync` bodies through the relay's request decoding (see `zhuqi_fuzz::request`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    zhuqi_fuzz::guard::run(data, |data| {
        let _ = zhuqi_fuzz::request::run(data);
    })
});
