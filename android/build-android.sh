#!/usr/bin/env bash
# Builds the Rust core for Android (arm64-v8a, armeabi-v7a, x86_64) into zhuqi/src/main/jniLibs with
# the `mobile` profile (../Cargo.toml), checks every library — aligned for 16 KB pages
# (../scripts/check-elf-alignment), exporting only uniffi's functions (../scripts/check-exports) —
# and generates the Kotlin bindings into zhuqi/src/main/kotlin. Needs the Android NDK r28 or newer
# (ANDROID_NDK_HOME) and cargo-ndk (`cargo install cargo-ndk`); then `./gradlew :zhuqi:assembleRelease`
# builds the AAR. release.sh runs this and everything after it, with their checks.
set -euo pipefail
cd "$(dirname "$0")"
rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
# The 16 KB link flags come from ../.cargo/config.toml; RUSTFLAGS would replace them.
if [ -n "${RUSTFLAGS:-}${CARGO_ENCODED_RUSTFLAGS:-}" ]; then
    echo "build-android: unset RUSTFLAGS / CARGO_ENCODED_RUSTFLAGS: they replace the link flags of .cargo/config.toml" >&2
    exit 1
fi
: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the Android NDK (r28 or newer)}"
rm -rf zhuqi/src/main/jniLibs
# `--features vendored-openssl`: Android has no libcrypto for SQLCipher (the encrypted store), so
# OpenSSL is built from source and linked in. `rustc --crate-type cdylib`: cargo runs LTO only when it builds a single crate type, and the
# package declares three (cdylib, staticlib, lib).
cargo ndk --manifest-path ../Cargo.toml -t arm64-v8a -t armeabi-v7a -t x86_64 -o zhuqi/src/main/jniLibs \
    rustc --locked --profile mobile -p zhuqi-ffi --features vendored-openssl --lib --crate-type cdylib
libs=(zhuqi/src/main/jniLibs/arm64-v8a/libzhuqi_ffi.so zhuqi/src/main/jniLibs/armeabi-v7a/libzhuqi_ffi.so
      zhuqi/src/main/jniLibs/x86_64/libzhuqi_ffi.so)
for lib in "${libs[@]}"; do
    [ -f "$lib" ] || { echo "build-android: $lib was not built" >&2; exit 1; }
done
../scripts/check-elf-alignment zhuqi/src/main/jniLibs
../scripts/check-exports "${libs[@]}"
../scripts/bindgen --release
