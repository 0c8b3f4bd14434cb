#!/usr/bin/env bash
# Builds stock llama.cpp's `llama-completion` for `kvcompose bench --llama-completion`, from the
# llama.cpp tree that llama-cpp-sys-2 bundles as published (the ggml, llama and common sources
# kvcompose links, without kvcompose's per-layer patch). That tree leaves out the sources of llama.cpp's tools, so the tool's own three files
# (tools/completion/{completion.cpp,main.cpp,CMakeLists.txt}: argument parsing and the generation
# loop over common/) come from the nearest llama.cpp that PyPI carries whole, the sdist of
# llama-cpp-python below; they compile unchanged against the bundled common/.
#
# Usage: scripts/build-llama-completion.sh [OUT_DIR]     (default: target/llama-completion)
# Extra cmake flags pass through CMAKE_ARGS, e.g. CMAKE_ARGS="-DGGML_CUDA=ON".
# Prints the path of the binary on its last line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/target/llama-completion}
sys_version=$(grep -m1 -A1 'name = "llama-cpp-sys-2"' "$root/Cargo.lock" | sed -n 's/version = "\(.*\)"/\1/p')
tools_from="llama-cpp-python==0.3.36"
tools_sha256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e

stamp="llama-cpp-sys-2 $sys_version + tools/completion of $tools_from"
if [ -x "$out/build/bin/llama-completion" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$out/build/bin/llama-completion"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Stock means the crate as published, not kvcompose's patched vendor/ copy: let cargo fetch it
# into the registry through a throwaway project.
mkdir -p "$work/fetch/src"
printf '[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nllama-cpp-sys-2 = { version = "=%s", default-features = false }\n' "$sys_version" > "$work/fetch/Cargo.toml"
: > "$work/fetch/src/lib.rs"
(cd "$work/fetch" && cargo fetch -q)
sys=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"llama-cpp-sys-2-$sys_version" | head -n 1)
[ -d "$sys/llama.cpp/src" ] || { echo "llama-cpp-sys-2 $sys_version not found in the cargo registry" >&2; exit 1; }
python3 -m pip download -q --no-deps --no-binary :all: -d "$work" "$tools_from"
sdist=$(ls "$work"/*.tar.gz)
echo "$tools_sha256  $sdist" | sha256sum -c --quiet - || { echo "sha256 mismatch for $sdist" >&2; exit 1; }
tar -xzf "$sdist" -C "$work" --wildcards '*/vendor/llama.cpp/tools/completion/*'

mkdir -p "$out"
src="$out/llama.cpp"
rm -rf "$src"
cp -r "$sys/llama.cpp" "$src"
chmod -R u+w "$src"
cp "$work"/*/vendor/llama.cpp/tools/completion/{completion.cpp,main.cpp,CMakeLists.txt} "$src/tools/completion/"
# Only the completion tool: the bundled tools/ holds no other sources.
printf 'find_package(Threads REQUIRED)\nllama_add_compile_flags()\nadd_subdirectory(completion)\n' > "$src/tools/CMakeLists.txt"

# Without AMX kernels, as kvcompose's own build (.cargo/config.toml): ggml's AMX matmul crashes
# on some machines that have it, and the two builds should compute alike.
if [ "$(uname -m)" = x86_64 ]; then
    amx_off="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    export CFLAGS="${CFLAGS:-} $amx_off" CXXFLAGS="${CXXFLAGS:-} $amx_off"
fi
# shellcheck disable=SC2086
cmake -S "$src" -B "$out/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF ${CMAKE_ARGS:-} >"$out/cmake.log" 2>&1
cmake --build "$out/build" --target llama-completion -j "$(nproc)" >"$out/build.log" 2>&1
echo "$stamp" > "$out/stamp"
echo "built from $stamp" >&2
echo "$out/build/bin/llama-completion"
