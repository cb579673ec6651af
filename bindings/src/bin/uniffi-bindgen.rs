//! The bindgen entry point: `cargo run -p zhuqi-ffi --bin uniffi-bindgen -- generate --library …`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
