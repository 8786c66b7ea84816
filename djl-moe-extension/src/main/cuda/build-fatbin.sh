#!/bin/sh
# Compiles every kernel source in $1 into $2/moe_kernels.fatbin when nvcc is on the PATH
# (SASS for sm_80 and sm_90, PTX for compute_90); skips, with a note, when it is not, or when the
# fatbin is newer than every source. Run by the exec-maven-plugin in generate-resources.
set -e
src=$1
out=$2
fatbin=$out/moe_kernels.fatbin
if ! command -v nvcc >/dev/null 2>&1; then
  echo "nvcc is not on the PATH: CUDA kernels not built (the GPU ops will report it)"
  exit 0
fi
mkdir -p "$out"
if [ -f "$fatbin" ] && [ -z "$(find "$src" -name '*.cu' -newer "$fatbin")" ]; then
  exit 0
fi
nvcc -fatbin -O3 \
  -gencode=arch=compute_80,code=sm_80 \
  -gencode=arch=compute_90,code=sm_90 \
  -gencode=arch=compute_90,code=compute_90 \
  -o "$fatbin" "$src/moe_kernels.cu"
echo "built $fatbin"
