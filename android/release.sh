#!/usr/bin/env bash
# The Android release, every step and every check in order: run it, read its last lines, publish.
#
# Needs: Linux or macOS; Rust through rustup (it adds the Android targets); the Android NDK r28 or
# newer (ANDROID_NDK_HOME); cargo-ndk (`cargo install cargo-ndk`, 3.5 or newer); the Android SDK with
# platform 35 (ANDROID_HOME, or sdk.dir in android/local.properties); JDK 17; python3, unzip; the
# network to crates.io, Google's Maven repository, Maven Central and services.gradle.org.
#
# Usage:
#   android/release.sh               build, check, and publish cn.zhuqi:zhuqi into android/zhuqi/build/repo
#   ZHUQI_REPO_URL=https://… android/release.sh
#                                    the same, then publish to that Maven repository too (credentials
#                                    as ORG_GRADLE_PROJECT_zhuqiRepoUsername / …Password)
#   android/release.sh --host-only   only step 1 (no NDK needed): this machine's library, linked as the
#                                    Android ones are, passes the alignment and export checks
#
# Steps: 1. the checking scripts test themselves, and the host library linked with the Android link
# flags passes them (and one linked without fails: the check is not vacuous); 2. the versions agree
# and the tools are there (NDK r28+, the Gradle wrapper's jar is the genuine one); 3. build-android.sh:
# the three ABIs with the `mobile` profile, each checked for 16 KB alignment and exports, and the
# Kotlin bindings; 4. Gradle builds the AAR and publishes it into build/repo; 5. the AAR holds the
# three libraries (checked again, as shipped) and the suspending wrappers; the POM names JNA >= 5.17;
# JNA's own 64-bit libjnidispatch.so are aligned for 16 KB; 6. publishing to ZHUQI_REPO_URL if set.
set -euo pipefail
cd "$(dirname "$0")"
android=$(pwd)
root=$(cd .. && pwd)
target="${CARGO_TARGET_DIR:-$root/target}"
step() { echo; echo "== $*"; }
fail() { echo "release: FAILED: $*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- 1. The checks check themselves, on this machine's library --------------------------------------
step "1. The alignment and export checks, on this machine's library linked as for Android"
"$root/scripts/check-elf-alignment" --self-test
page_flags=(-C link-arg=-Wl,-z,max-page-size=16384 -C link-arg=-Wl,-z,common-page-size=16384)
host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
    *-linux-*)
        # `cargo rustc`: the link flags reach the library's own link only, so nothing else rebuilds.
        (cd "$root" && cargo rustc --locked --profile mobile -p zhuqi-ffi --lib --crate-type cdylib -- "${page_flags[@]}")
        cp "$target/mobile/libzhuqi_ffi.so" "$work/libzhuqi_ffi-16k.so"
        "$root/scripts/check-elf-alignment" "$work/libzhuqi_ffi-16k.so"
        "$root/scripts/check-exports" "$work/libzhuqi_ffi-16k.so"
        # The same library linked with the platform's defaults must fail: x86_64 Linux links for
        # 4 KB pages (other hosts may default to more; there this control is skipped).
        if [ "${host%%-*}" = x86_64 ]; then
            (cd "$root" && cargo rustc --locked --profile mobile -p zhuqi-ffi --lib --crate-type cdylib)
            if "$root/scripts/check-elf-alignment" "$target/mobile/libzhuqi_ffi.so" >"$work/default.txt"; then
                cat "$work/default.txt"
                fail "the host library linked without the 16 KB flags passed the alignment check"
            fi
            echo "as expected, linked without the flags it fails:"
            sed 's/^/    /' "$work/default.txt"
        fi
        ;;
    *) echo "(not an ELF host: $host; the Android libraries below are checked all the same)" ;;
esac
if [ "${1:-}" = "--host-only" ]; then
    echo; echo "release: host checks passed"
    exit 0
fi

# ---- 2. Versions and tools ----------------------------------------------------------------------------
step "2. Versions and tools"
version=$(sed -n 's/^zhuqi\.version=//p' gradle.properties)
cargo_version=$(cd "$root" && cargo metadata --no-deps --format-version 1 --locked \
    | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "zhuqi-ffi"))')
[ -n "$version" ] || fail "no zhuqi.version in android/gradle.properties"
[ "$version" = "$cargo_version" ] || fail "android/gradle.properties says $version, the Rust workspace $cargo_version"
echo "version $version"
: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the Android NDK (r28 or newer)}"
ndk=$(sed -n 's/^Pkg\.Revision *= *//p' "$ANDROID_NDK_HOME/source.properties" 2>/dev/null || true)
[ -n "$ndk" ] || fail "no Pkg.Revision in $ANDROID_NDK_HOME/source.properties: is it an NDK?"
[ "${ndk%%.*}" -ge 28 ] || fail "NDK $ndk: r28 or newer is needed (16 KB pages by default, the flags tested)"
echo "NDK $ndk"
cargo ndk --version >/dev/null 2>&1 || fail "cargo-ndk is missing: cargo install cargo-ndk"
if [ -z "${ANDROID_HOME:-}${ANDROID_SDK_ROOT:-}" ] && ! grep -q '^sdk.dir=' local.properties 2>/dev/null; then
    fail "set ANDROID_HOME to the Android SDK (or sdk.dir in android/local.properties)"
fi
java -version 2>&1 | grep -Eq 'version "(1[7-9]|2[0-9])' || fail "JDK 17 or newer is needed (java -version)"
# The wrapper's jar is Gradle 8.10.2's (the official checksum, services.gradle.org/distributions/
# gradle-8.10.2-wrapper.jar.sha256); the distribution it downloads is checked by its own
# distributionSha256Sum in gradle/wrapper/gradle-wrapper.properties.
wrapper_sha=2db75c40782f5e8ba1fc278a5574bab070adccb2d21ca5a6e5ed840888448046
actual=$(python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' gradle/wrapper/gradle-wrapper.jar)
[ "$actual" = "$wrapper_sha" ] || fail "gradle/wrapper/gradle-wrapper.jar is not Gradle's (sha256 $actual)"
grep -q '^distributionSha256Sum=' gradle/wrapper/gradle-wrapper.properties || fail "the wrapper does not pin the distribution's sha256"
echo "Gradle wrapper jar verified"

# ---- 3. Native libraries and bindings -------------------------------------------------------------------
step "3. The native libraries (mobile profile), their checks, the Kotlin bindings"
./build-android.sh

# ---- 4. The AAR -----------------------------------------------------------------------------------------
step "4. Gradle: the release AAR, published into android/zhuqi/build/repo"
rm -rf zhuqi/build/repo
./gradlew --no-daemon --stacktrace :zhuqi:assembleRelease :zhuqi:publishReleasePublicationToLocalRepository

# ---- 5. What ships -------------------------------------------------------------------------------------
step "5. What ships: the AAR's libraries and classes, the POM, JNA's libraries"
repo=zhuqi/build/repo/cn/zhuqi/zhuqi/$version
aar=$repo/zhuqi-$version.aar
pom=$repo/zhuqi-$version.pom
[ -f "$aar" ] || fail "$aar was not published"
[ -f "$pom" ] || fail "$pom was not published"
mkdir -p "$work/aar" && unzip -q "$aar" -d "$work/aar"
for abi in arm64-v8a armeabi-v7a x86_64; do
    [ -f "$work/aar/jni/$abi/libzhuqi_ffi.so" ] || fail "the AAR has no jni/$abi/libzhuqi_ffi.so"
done
"$root/scripts/check-elf-alignment" "$work/aar/jni"
unzip -l "$work/aar/classes.jar" | grep -q 'cn/zhuqi/ZhuqiAsyncKt.class' || fail "the AAR lacks the suspending wrappers (ZhuqiAsync.kt)"
unzip -l "$work/aar/classes.jar" | grep -q 'cn/zhuqi/ZhuqiClient.class' || fail "the AAR lacks the generated bindings"
python3 - "$pom" <<'EOF' || fail "the POM does not name JNA 5.17.0 or newer as an aar"
import sys, xml.etree.ElementTree as ET
ns = {"m": "http://maven.apache.org/POM/4.0.0"}
root = ET.parse(sys.argv[1]).getroot()
for dep in root.findall("m:dependencies/m:dependency", ns):
    get = lambda tag: (dep.findtext(f"m:{tag}", default="", namespaces=ns) or "").strip()
    if get("groupId") == "net.java.dev.jna" and get("artifactId") == "jna":
        version = tuple(int(x) for x in get("version").split(".")[:3])
        print(f"POM: net.java.dev.jna:jna:{get('version')} type {get('type') or 'jar'} scope {get('scope')}")
        sys.exit(0 if version >= (5, 17, 0) and get("type") == "aar" else 1)
print("POM: no net.java.dev.jna:jna dependency")
sys.exit(1)
EOF
jna=$(find "${GRADLE_USER_HOME:-$HOME/.gradle}/caches" -name 'jna-5.17.0.aar' 2>/dev/null | head -n 1 || true)
[ -n "$jna" ] || fail "jna-5.17.0.aar is not in the Gradle cache after the build: which JNA did Gradle resolve?"
mkdir -p "$work/jna" && unzip -q "$jna" 'jni/arm64-v8a/*' 'jni/x86_64/*' -d "$work/jna"
# 64-bit only: 16 KB pages exist on arm64 and x86_64 devices; JNA's 32-bit libraries need not be.
"$root/scripts/check-elf-alignment" "$work/jna/jni"

# ---- 6. Publishing -------------------------------------------------------------------------------------
if [ -n "${ZHUQI_REPO_URL:-}" ]; then
    step "6. Publishing cn.zhuqi:zhuqi:$version to $ZHUQI_REPO_URL"
    ./gradlew --no-daemon -PzhuqiRepoUrl="$ZHUQI_REPO_URL" :zhuqi:publishReleasePublicationToZhuqiRepoRepository
else
    step "6. Publishing: ZHUQI_REPO_URL not set, published into android/$repo only"
fi

echo
echo "release: cn.zhuqi:zhuqi:$version"
for f in "$aar" "$pom"; do
    echo "  $f  $(wc -c <"$f") bytes  sha256 $(python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$f")"
done
for abi in arm64-v8a armeabi-v7a x86_64; do
    echo "  jni/$abi/libzhuqi_ffi.so  $(wc -c <"$work/aar/jni/$abi/libzhuqi_ffi.so") bytes"
done
