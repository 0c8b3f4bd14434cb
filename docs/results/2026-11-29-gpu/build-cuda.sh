#!/usr/bin/env bash
# How the CUDA build that ran on the H200 was made, on a machine with no GPU and no CUDA
# toolkit (2 cores, Debian 12): CUDA 13.0 from NVIDIA's PyPI wheels, assembled into a toolkit
# folder, llama.cpp built as shared libraries for sm_90 only (about 25 minutes), then the
# binaries, the llama.cpp libraries and the test binary packed for the GPU machine.
# Usage (from the repository root): docs/results/2026-11-29-gpu/build-cuda.sh
set -euo pipefail
cuda=${CUDA_ROOT:-/opt/cuda13}
wheels=$(mktemp -d)
pip download --no-deps --only-binary=:all: -d "$wheels" nvidia-cuda-nvcc==13.0.88 nvidia-cuda-runtime==13.0.96 \
    nvidia-cublas==13.1.0.3 nvidia-cuda-cccl==13.0.85 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
x=$(mktemp -d)
for w in "$wheels"/*.whl; do python3 -m zipfile -e "$w" "$x"; done
rm -rf "$cuda" && cp -a "$x/nvidia/cu13" "$cuda"
chmod +x "$cuda"/bin/* "$cuda"/nvvm/bin/*
ln -s lib "$cuda/lib64"
(cd "$cuda/lib" && ln -s libcudart.so.13 libcudart.so && ln -s libcublas.so.13 libcublas.so && ln -s libcublasLt.so.13 libcublasLt.so)
# Link-time stand-in for the driver library (the real libcuda.so.1 comes with the GPU's driver).
mkdir -p "$cuda/lib/stubs"
grep -o '\bcu[A-Z][A-Za-z0-9_]*' "$cuda/include/cuda.h" | sort -u | awk '{print "void "$1"(void){}"}' > "$cuda/lib/stubs/stub.c"
gcc -shared -fPIC -o "$cuda/lib/stubs/libcuda.so.1" -Wl,-soname,libcuda.so.1 "$cuda/lib/stubs/stub.c"
ln -s libcuda.so.1 "$cuda/lib/stubs/libcuda.so"
# llama-cpp-sys-2 links the CUDA libraries statically unless llama.cpp is built shared; the
# wheels carry only the shared ones. CMAKE_* variables are passed through to llama.cpp's CMake.
export CUDA_PATH=$cuda CUDACXX=$cuda/bin/nvcc CUDAToolkit_ROOT=$cuda CMAKE_CUDA_ARCHITECTURES=90-real LLAMA_BUILD_SHARED_LIBS=1 PATH=$cuda/bin:$PATH
cargo test --release --locked --features cuda --target-dir target-cuda --no-run
# What the GPU machine needs: kvcompose, the test binary and llama.cpp's shared libraries.
t=target-cuda/release
stage=$(mktemp -d) && mkdir "$stage/lib"
cp $t/kvcompose "$stage/lib/" && cp "$(ls -t $t/deps/tests-* | grep -v '\.d$' | head -1)" "$stage/lib/tests"
for f in "$(ls -td $t/build/llama-cpp-sys-2-*/out/build/bin | head -1)"/lib{ggml,ggml-base,ggml-cpu,ggml-cuda,llama}.so.0; do cp -L "$f" "$stage/lib/"; done
cp -L /usr/lib/x86_64-linux-gnu/libgomp.so.1 "$stage/lib/"
strip "$stage"/lib/*
tar -C "$stage" -cJf bin.tar.xz lib
echo "bin.tar.xz: on the GPU machine, unpack, then LD_LIBRARY_PATH=lib:<CUDA 13 lib dir> lib/kvcompose -ngl 99 ..."
