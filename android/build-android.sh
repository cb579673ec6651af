#!/usr/bin/env bash
# Builds the Rust core for Android (arm64-v8a, armeabi-v7a, x86_64) into zhuqi/src/main/jniLibs and
# generates the Kotlin bindings into zhuqi/src/main/kotlin. Needs the Android NDK (ANDROID_NDK_HOME)
# and cargo-ndk (`cargo install cargo-ndk`); then `./gradlew :zhuqi:assembleRelease` builds the AAR.
set -euo pipefail
cd "$(dirname "$0")"
rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
cargo ndk --manifest-path ../Cargo.toml -t arm64-v8a -t armeabi-v7a -t x86_64 -o zhuqi/src/main/jniLibs \
    build --release -p zhuqi-ffi
../scripts/bindgen --release
