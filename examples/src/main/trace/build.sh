#!/bin/sh
# Builds libcupti_trace.so (see cupti_trace.c) into $1 (default: the current directory) with gcc
# against CUPTI from $CUDA_HOME (default /usr/local/cuda). Run it where the trace is taken (the GPU
# machine has gcc and CUDA 13), or here, and carry the library there.
set -e
out=${1:-.}
cuda=${CUDA_HOME:-/usr/local/cuda}
inc=$(dirname "$(find "$cuda/" -name cupti.h 2>/dev/null | head -1)")
lib=$(dirname "$(find "$cuda/" -name 'libcupti.so*' 2>/dev/null | head -1)")
if [ -z "$inc" ] || [ -z "$lib" ]; then
  echo "CUPTI not found under $cuda (set CUDA_HOME)" >&2
  exit 1
fi
gcc -shared -fPIC -O2 -I"$inc" "$(dirname "$0")/cupti_trace.c" -o "$out/libcupti_trace.so" \
  -L"$lib" -lcupti -Wl,-rpath,"$lib"
echo "built $out/libcupti_trace.so"
