#!/bin/sh
# tools/build-release.sh REV DIR: builds the module as the commit REV of this
# repository had it, into DIR (DIR/.libs/mod_remoteassist.so), from git's own
# copy of that commit (git archive), untouched by the work tree. The rolling-
# upgrade tests run a node of an earlier release beside this one; releases
# that add a schema step are named in tools/releases.txt. Reuses DIR when it
# holds that commit's module already.
set -eu
rev=$1 dir=$2
root=$(cd "$(dirname "$0")/.." && pwd)
commit=$(git -C "$root" rev-parse --verify "$rev^{commit}") || {
    echo "build-release: commit $rev is not in this clone's history" >&2
    exit 2
}
if [ -f "$dir/.libs/mod_remoteassist.so" ] && [ "$(cat "$dir/.commit" 2>/dev/null)" = "$commit" ]; then
    exit 0
fi
rm -rf "$dir"
mkdir -p "$dir"
git -C "$root" archive "$commit" | tar -x -C "$dir"
make -C "$dir" -j2 all >"$dir/build.log" 2>&1 || {
    tail -20 "$dir/build.log" >&2
    exit 1
}
echo "$commit" >"$dir/.commit"
