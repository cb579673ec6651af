#!/usr/bin/env bash
# Builds ZhuqiFFI.xcframework — iOS devices (arm64), the iOS simulator (arm64 + x86_64) and macOS
# (arm64 + x86_64, so that `swift test` runs on a Mac) — with the `mobile` profile, and generates the
# Swift bindings. Run on a Mac with Xcode 16 or newer and Rust (rustup); release.sh runs it and
# packages the result.
#
# Each static library is prelinked into one object whose only global symbols are uniffi's functions:
# the SQLite, the Rust code and the other C code inside become private, so that they cannot clash
# with the app's own SQLite or another SDK's (../scripts/check-exports verifies every slice). The C
# header and its module map sit in Headers/zhuqi_ffiFFI/, a folder named after the module, so that
# they never land on the same path as another XCFramework's module.modulemap.
set -euo pipefail
cd "$(dirname "$0")"
root=..
target="${CARGO_TARGET_DIR:-$root/target}"
fail() { echo "build-xcframework: $*" >&2; exit 1; }
# The deployment targets of Package.swift: the objects must not claim newer systems.
export IPHONEOS_DEPLOYMENT_TARGET=15.0 MACOSX_DEPLOYMENT_TARGET=12.0
targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "${targets[@]}"
# `rustc --crate-type staticlib`: cargo runs LTO only when it builds a single crate type, and the
# package declares three (cdylib, staticlib, lib).
for t in "${targets[@]}"; do
    cargo rustc --manifest-path "$root/Cargo.toml" --locked --profile mobile -p zhuqi-ffi --lib \
        --crate-type staticlib --target "$t"
done
# The bindings, generated from the host's release build (the API is the same on every target, and
# the generator reads symbols that the stripped mobile build no longer has).
"$root/scripts/bindgen" --release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# What stays global (ld64's list; Mach-O names carry a leading underscore; * is a wildcard).
printf '%s\n' '_uniffi_zhuqi_ffi_*' '_ffi_zhuqi_ffi_*' >"$work/exports.txt"
# prelink RUST_TARGET CLANG_TARGET SDK: the whole archive linked into one relocatable object (ld -r),
# every symbol but the list made private, packed again as $work/RUST_TARGET/libzhuqi_ffi.a.
prelink() {
    local out="$work/$1"
    mkdir -p "$out"
    xcrun --sdk "$3" clang -target "$2" -r -nostdlib -Wl,-all_load \
        -Wl,-exported_symbols_list,"$work/exports.txt" \
        "$target/$1/mobile/libzhuqi_ffi.a" -o "$out/zhuqi_ffi.o"
    rm -f "$out/libzhuqi_ffi.a"
    xcrun libtool -static -o "$out/libzhuqi_ffi.a" "$out/zhuqi_ffi.o"
}
prelink aarch64-apple-ios arm64-apple-ios15.0 iphoneos
prelink aarch64-apple-ios-sim arm64-apple-ios15.0-simulator iphonesimulator
prelink x86_64-apple-ios x86_64-apple-ios15.0-simulator iphonesimulator
prelink aarch64-apple-darwin arm64-apple-macos12.0 macosx
prelink x86_64-apple-darwin x86_64-apple-macos12.0 macosx
mkdir -p "$work/ios-simulator" "$work/macos"
lipo -create "$work/aarch64-apple-ios-sim/libzhuqi_ffi.a" "$work/x86_64-apple-ios/libzhuqi_ffi.a" \
    -output "$work/ios-simulator/libzhuqi_ffi.a"
lipo -create "$work/aarch64-apple-darwin/libzhuqi_ffi.a" "$work/x86_64-apple-darwin/libzhuqi_ffi.a" \
    -output "$work/macos/libzhuqi_ffi.a"
"$root/scripts/check-exports" "$work/aarch64-apple-ios/libzhuqi_ffi.a" "$work/ios-simulator/libzhuqi_ffi.a" \
    "$work/macos/libzhuqi_ffi.a"

mkdir -p "$work/headers/zhuqi_ffiFFI"
cp Sources/zhuqi_ffiFFI/include/zhuqi_ffiFFI.h Sources/zhuqi_ffiFFI/include/module.modulemap "$work/headers/zhuqi_ffiFFI/"
rm -rf ZhuqiFFI.xcframework
xcodebuild -create-xcframework \
    -library "$work/aarch64-apple-ios/libzhuqi_ffi.a" -headers "$work/headers" \
    -library "$work/ios-simulator/libzhuqi_ffi.a" -headers "$work/headers" \
    -library "$work/macos/libzhuqi_ffi.a" -headers "$work/headers" \
    -output ZhuqiFFI.xcframework
for slice in ios-arm64 ios-arm64_x86_64-simulator macos-arm64_x86_64; do
    for f in libzhuqi_ffi.a Headers/zhuqi_ffiFFI/module.modulemap Headers/zhuqi_ffiFFI/zhuqi_ffiFFI.h; do
        [ -f "ZhuqiFFI.xcframework/$slice/$f" ] || fail "ZhuqiFFI.xcframework/$slice/$f is missing"
    done
done
[ ! -e ZhuqiFFI.xcframework/ios-arm64/Headers/module.modulemap ] || fail "a module map at the top of Headers/ would collide"
echo "built ios/ZhuqiFFI.xcframework"
