#!/usr/bin/env bash
# time.sh with KVzip's 2k-token chunks (chunk-2048.patch applied while it runs, reverted after).
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
git apply "$here/chunk-2048.patch"
trap 'git apply -R "$here/chunk-2048.patch"' EXIT
OUT=${OUT:-docs/results/2026-12-06-copies-alone/chunk-2048/time} bash "$here/time.sh"
