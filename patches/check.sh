#!/usr/bin/env bash
# Checks that each vendor/<crate> is exactly upstream (from crates.io), minus the paths listed in
# patches/<crate>.prune, plus the patches/*.patch that touch it (applied in name order).
# Usage: patches/check.sh            (exit 0 when they match, 1 with a diff otherwise)
# To upgrade: bump the version below, run this script with KEEP=1, copy the patched trees it
# prints into vendor/, fix any rejected hunks and regenerate each patch with
#   git diff --no-index --no-prefix <upstream>/<crate> vendor/<crate>   (paths made <crate>/...)
set -euo pipefail
crates=(llama-cpp-2 llama-cpp-sys-2)
version=0.1.160
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

# Let cargo fetch the pristine upstream crates into a throwaway project.
mkdir -p "$work/fetch/src"
{
    printf '[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n'
    for c in "${crates[@]}"; do printf '%s = "=%s"\n' "$c" "$version"; done
} > "$work/fetch/Cargo.toml"
: > "$work/fetch/src/lib.rs"
(cd "$work/fetch" && cargo fetch -q)

for c in "${crates[@]}"; do
    src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$c-$version" | head -n 1)
    cp -r "$src" "$work/$c"
    rm -f "$work/$c/.cargo-ok"
    if [ -f "$root/patches/$c.prune" ]; then
        grep -v '^#' "$root/patches/$c.prune" | while read -r p; do
            [ -z "$p" ] || rm -rf "${work:?}/$c/$p"
        done
    fi
done
for p in "$root"/patches/*.patch; do
    (cd "$work" && patch -s -p0 --no-backup-if-mismatch < "$p")
done
status=0
for c in "${crates[@]}"; do
    if diff -r "$work/$c" "$root/vendor/$c"; then
        echo "vendor/$c == $c $version + patches/"
    else
        echo "vendor/$c differs from $c $version + patches/ (diff above)" >&2
        status=1
    fi
done
[ -z "${KEEP:-}" ] || echo "patched upstream: $work"
exit $status
