#!/bin/sh
# Installs the Debian 12 packages a make target needs, and only those missing.
# Usage: tools/deps.sh build|run|test|bench|deb
# As root it runs apt-get (update once, then install); otherwise it prints the
# apt-get line and fails, so nothing is half-built on a machine without the deps.
set -eu

build="apache2 apache2-dev libapr1-dev libaprutil1-dev libaprutil1-dbd-sqlite3 libjansson-dev libcjose-dev libssl-dev libsqlite3-dev libcurl4-openssl-dev libpq-dev libxml2-dev pkg-config make gcc"
python="python3 python3-jwt python3-cryptography"
# make deb: dh and dh_apache2 (apache2-dev, in build), dpkg-buildpackage, lintian
deb="debhelper dpkg-dev lintian"
test="$python python3-pytest python3-requests check libaprutil1-dbd-pgsql postgresql sqlite3 wrk nginx clang libclang-rt-14-dev $deb"
bench="$python wrk postgresql libaprutil1-dbd-pgsql sqlite3 python3-requests"

case "${1:-}" in
    build) want="$build" ;;
    run)   want="$build $python" ;;
    test)  want="$build $test" ;;
    bench) want="$build $bench" ;;
    deb)   want="$build $deb" ;;
    *) echo "usage: $0 build|run|test|bench|deb" >&2; exit 2 ;;
esac

missing=""
for pkg in $want; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done

# node and npm drive the Microsoft Graph JavaScript client test; any node >= 18
# on PATH will do, otherwise Debian's packages are installed.
if [ "$1" = test ] && ! { command -v node >/dev/null && command -v npm >/dev/null; }; then
    missing="$missing nodejs npm"
fi

[ -z "$missing" ] && exit 0
line="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
    echo "Missing Debian packages. Run as root:" >&2
    echo "  apt-get update && $line" >&2
    exit 1
fi
echo "Installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing
