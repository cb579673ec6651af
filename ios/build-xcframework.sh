#!/usr/bin/env bash
# Builds ZhuqiFFI.xcframework (device arm64, simulator arm64 + x86_64) and generates the Swift
# bindings. Run on a Mac with Xcode and Rust.
set -euo pipefail
cd "$(dirname "$0")"
root=..
rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios
for target in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
    cargo build --manifest-path "$root/Cargo.toml" --release -p zhuqi-ffi --lib --target "$target"
done
# The bindings, generated from the host build (the API is the same on every target).
"$root/scripts/bindgen" --release
sim=$(mktemp -d)
lipo -create \
    "$root/target/aarch64-apple-ios-sim/release/libzhuqi_ffi.a" \
    "$root/target/x86_64-apple-ios/release/libzhuqi_ffi.a" \
    -output "$sim/libzhuqi_ffi.a"
rm -rf ZhuqiFFI.xcframework
xcodebuild -create-xcframework \
    -library "$root/target/aarch64-apple-ios/release/libzhuqi_ffi.a" -headers Sources/zhuqi_ffiFFI/include \
    -library "$sim/libzhuqi_ffi.a" -headers Sources/zhuqi_ffiFFI/include \
    -output ZhuqiFFI.xcframework
rm -rf "$sim"
echo "built ios/ZhuqiFFI.xcframework"
