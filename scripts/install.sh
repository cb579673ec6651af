# Sourced by the test scripts: installs what they need on a fresh machine, saying what it installs
# and trying again when a registry does not answer (a fresh CI machine's network can stall).

# Runs a command up to three times, 10 s apart.
retry() {
    local n
    for n in 1 2 3; do
        "$@" && return 0
        echo "install: '$*' failed (try $n of 3)" >&2
        [ "$n" = 3 ] || sleep 10
    done
    return 1
}

# Installs Debian packages.
apt_install() {
    echo "install: Debian packages $*" >&2
    export DEBIAN_FRONTEND=noninteractive
    retry apt-get update -qq >/dev/null
    retry apt-get install -y -qq "$@" >/dev/null
}
