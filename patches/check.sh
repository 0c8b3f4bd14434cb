#!/usr/bin/env bash
# Checks that vendor/<crate> is exactly upstream (from crates.io) plus patches/*.patch.
# Usage: patches/check.sh            (exit 0 when they match, 1 with a diff otherwise)
# To upgrade: bump the version below, run this script with KEEP=1, copy the patched tree it prints
# into vendor/, fix any rejected hunks and regenerate the patch with
#   git diff --no-index --no-prefix <upstream> vendor/llama-cpp-2
set -euo pipefail
crate=llama-cpp-2
version=0.1.160
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

# Let cargo fetch the pristine upstream crate into a throwaway project.
mkdir -p "$work/fetch/src"
printf '[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n%s = "=%s"\n' \
    "$crate" "$version" > "$work/fetch/Cargo.toml"
: > "$work/fetch/src/lib.rs"
(cd "$work/fetch" && cargo fetch -q)
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$crate-$version" | head -n 1)

cp -r "$src" "$work/$crate"
rm -f "$work/$crate/.cargo-ok"
for p in "$root"/patches/*.patch; do
    (cd "$work" && patch -s -p0 --no-backup-if-mismatch < "$p")
done
if diff -r "$work/$crate" "$root/vendor/$crate"; then
    echo "vendor/$crate == $crate $version + patches/"
else
    echo "vendor/$crate differs from $crate $version + patches/ (diff above)" >&2
    exit 1
fi
[ -z "${KEEP:-}" ] || echo "patched upstream: $work/$crate"
