// MoE kernels of djl-moe: row permutation with padding/dropping, weighted combine over top-k,
// their backward passes, expert activations, the fused top-k router and the router logits for few
// experts, the fused Adam update (with the bf16 weight copy), the fused RMS norm, rotary embedding
// and cross entropy. Loaded from a fatbin through the CUDA driver API
// (ai.djl.moe.cuda.CudaKernels); every entry point is extern "C".
//
// Index conventions (int64, as DJL creates them):
//   rowSource[r] = the (token, choice) assignment a = t * k + j that fills expert-input row r,
//                  or -1 for a padding row (written as zeros);
//   slot[a]      = the expert-input row of assignment a, or -1 if the assignment was dropped.
#include <cuda_bf16.h>
#include <stdint.h>

namespace {

constexpr int kThreads = 256;
// Vectors per thread per pass in the row kernels, and routing entries staged per pass.
constexpr int kUnroll = 2;
constexpr int kStage = 64;

__device__ __forceinline__ float toF(float v) { return v; }
__device__ __forceinline__ float toF(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T fromF(float v);
template <> __device__ __forceinline__ float fromF<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 fromF<__nv_bfloat16>(float v) {
    return __float2bfloat16(v);
}

// 16-byte vector of T: 8 bf16 or 4 floats.
template <typename T> struct Vec { static constexpr int N = 16 / sizeof(T); };

template <typename T>
__device__ __forceinline__ void storeVec(T* p, const float (&f)[Vec<T>::N]) {
    uint4 raw;
    T* v = reinterpret_cast<T*>(&raw);
#pragma unroll
    for (int i = 0; i < Vec<T>::N; i++) v[i] = fromF<T>(f[i]);
    *reinterpret_cast<uint4*>(p) = raw;
}

// out[r] = scale * src[rowSource[r] / k] (scale = weights[rowSource[r]] or 1), zeros for -1.
// Forward permute (weights null) and the row gradient of unpermute (weights = routing probs).
template <typename T>
__device__ void gatherRows(const T* __restrict__ src, const int64_t* __restrict__ rowSource,
                           const float* __restrict__ weights, T* __restrict__ out, int64_t rows,
                           int hidden, int topK) {
    const bool vec = hidden % Vec<T>::N == 0;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const int64_t a = rowSource[r];
        const float scale = a < 0 ? 0.f : (weights ? weights[a] : 1.f);
        const T* in = a < 0 ? nullptr : src + (a / topK) * (int64_t)hidden;
        T* dst = out + r * (int64_t)hidden;
        if (vec) {
            // kUnroll vectors per thread: all loads in flight before the first store
            const int stride = blockDim.x * Vec<T>::N;
            for (int c0 = threadIdx.x * Vec<T>::N; c0 < hidden; c0 += stride * kUnroll) {
                uint4 raw[kUnroll];
#pragma unroll
                for (int u = 0; u < kUnroll; u++) {
                    const int c = c0 + u * stride;
                    raw[u] = in && c < hidden ? *reinterpret_cast<const uint4*>(in + c)
                                              : make_uint4(0, 0, 0, 0);
                }
#pragma unroll
                for (int u = 0; u < kUnroll; u++) {
                    const int c = c0 + u * stride;
                    if (c >= hidden) break;
                    if (weights) {
                        float f[Vec<T>::N];
                        const T* v = reinterpret_cast<const T*>(&raw[u]);
#pragma unroll
                        for (int i = 0; i < Vec<T>::N; i++) f[i] = toF(v[i]) * scale;
                        storeVec(dst + c, f);
                    } else {
                        *reinterpret_cast<uint4*>(dst + c) = raw[u];
                    }
                }
            }
        } else {
            for (int c = threadIdx.x; c < hidden; c += blockDim.x) {
                dst[c] = fromF<T>(in ? toF(in[c]) * scale : 0.f);
            }
        }
    }
}

// combineRows for topK <= K (K a compile-time bound) and 16-byte rows: each thread reads the
// token's routing entries itself (the same addresses across the block: cached broadcasts, no
// staging and no barrier) and has U vectors of each of the k rows in flight before it adds any.
template <typename T, int K, int U>
__device__ void combineRowsDirect(const T* __restrict__ rowsIn, const int64_t* __restrict__ slot,
                                  const float* __restrict__ weights, T* __restrict__ out,
                                  int64_t tokens, int hidden, int topK) {
    const int stride = blockDim.x * Vec<T>::N;
    for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
        int64_t row[K];
        float w[K];
#pragma unroll
        for (int j = 0; j < K; j++) {
            const int64_t a = t * topK + j;
            row[j] = j < topK ? slot[a] : -1;
            w[j] = j < topK && weights ? weights[a] : 1.f;
        }
        T* dst = out + t * (int64_t)hidden;
        for (int c0 = threadIdx.x * Vec<T>::N; c0 < hidden; c0 += stride * U) {
            uint4 raw[K][U];
#pragma unroll
            for (int j = 0; j < K; j++)
#pragma unroll
                for (int u = 0; u < U; u++) {
                    const int c = c0 + u * stride;
                    raw[j][u] = row[j] >= 0 && c < hidden
                                    ? *reinterpret_cast<const uint4*>(
                                          rowsIn + row[j] * (int64_t)hidden + c)
                                    : make_uint4(0, 0, 0, 0);
                }
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int c = c0 + u * stride;
                if (c >= hidden) break;
                float acc[Vec<T>::N];
#pragma unroll
                for (int i = 0; i < Vec<T>::N; i++) acc[i] = 0.f;
#pragma unroll
                for (int j = 0; j < K; j++) {
                    if (row[j] < 0) continue;
                    const T* v = reinterpret_cast<const T*>(&raw[j][u]);
#pragma unroll
                    for (int i = 0; i < Vec<T>::N; i++) acc[i] += w[j] * toF(v[i]);
                }
                storeVec(dst + c, acc);
            }
        }
    }
}

// out[t] = sum_j w[t, j] * rows[slot[t * k + j]] over kept assignments (w = 1 when weights is
// null), accumulated in fp32 in the order of j. Forward unpermute+combine, and the input gradient
// of permute.
template <typename T>
__device__ void combineRows(const T* __restrict__ rowsIn, const int64_t* __restrict__ slot,
                            const float* __restrict__ weights, T* __restrict__ out,
                            int64_t tokens, int hidden, int topK) {
    const bool vec = hidden % Vec<T>::N == 0;
    if (vec && topK <= 2) {
        // 4 vectors in flight per thread; k up to 8 has a kernel of its own (moe_combine_rows_k8:
        // its registers here would cost this kernel occupancy for every k)
        if (topK == 1) {
            combineRowsDirect<T, 1, 4>(rowsIn, slot, weights, out, tokens, hidden, topK);
        } else {
            combineRowsDirect<T, 2, 2>(rowsIn, slot, weights, out, tokens, hidden, topK);
        }
        return;
    }
    __shared__ int64_t sRow[kStage];
    __shared__ float sWeight[kStage];
    for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
        T* dst = out + t * (int64_t)hidden;
        if (vec) {
            const int stride = blockDim.x * Vec<T>::N;
            for (int c0 = threadIdx.x * Vec<T>::N; c0 - (int)threadIdx.x * Vec<T>::N < hidden;
                 c0 += stride * kUnroll) {
                float acc[kUnroll][Vec<T>::N];
#pragma unroll
                for (int u = 0; u < kUnroll; u++)
#pragma unroll
                    for (int i = 0; i < Vec<T>::N; i++) acc[u][i] = 0.f;
                for (int j0 = 0; j0 < topK; j0 += kStage) {
                    const int n = min(kStage, topK - j0);
                    __syncthreads();
                    if (threadIdx.x < n) {
                        const int64_t a = t * topK + j0 + threadIdx.x;
                        sRow[threadIdx.x] = slot[a];
                        sWeight[threadIdx.x] = weights ? weights[a] : 1.f;
                    }
                    __syncthreads();
                    for (int j = 0; j < n; j++) {
                        const int64_t r = sRow[j];
                        if (r < 0) continue;
                        const float w = sWeight[j];
                        const T* src = rowsIn + r * (int64_t)hidden;
                        uint4 raw[kUnroll];
#pragma unroll
                        for (int u = 0; u < kUnroll; u++) {
                            const int c = c0 + u * stride;
                            raw[u] = c < hidden ? *reinterpret_cast<const uint4*>(src + c)
                                                : make_uint4(0, 0, 0, 0);
                        }
#pragma unroll
                        for (int u = 0; u < kUnroll; u++) {
                            const T* v = reinterpret_cast<const T*>(&raw[u]);
#pragma unroll
                            for (int i = 0; i < Vec<T>::N; i++) acc[u][i] += w * toF(v[i]);
                        }
                    }
                }
#pragma unroll
                for (int u = 0; u < kUnroll; u++) {
                    const int c = c0 + u * stride;
                    if (c < hidden) storeVec(dst + c, acc[u]);
                }
            }
        } else {
            for (int c = threadIdx.x; c < hidden; c += blockDim.x) {
                float acc = 0.f;
                for (int j = 0; j < topK; j++) {
                    const int64_t a = t * topK + j;
                    const int64_t r = slot[a];
                    if (r < 0) continue;
                    acc += (weights ? weights[a] : 1.f) * toF(rowsIn[r * (int64_t)hidden + c]);
                }
                dst[c] = fromF<T>(acc);
            }
        }
    }
}

// gradWeights[a] = <gradOut[a / k], rows[slot[a]]> (0 for dropped assignments); one warp each.
template <typename T>
__device__ void weightGradient(const T* __restrict__ gradOut, const T* __restrict__ rowsIn,
                               const int64_t* __restrict__ slot, float* __restrict__ gradWeights,
                               int64_t assignments, int hidden, int topK) {
    const int lane = threadIdx.x & 31;
    const int64_t warp = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5;
    const int64_t warps = (gridDim.x * (int64_t)blockDim.x) >> 5;
    for (int64_t a = warp; a < assignments; a += warps) {
        const int64_t r = slot[a];
        float acc = 0.f;
        if (r >= 0) {
            const T* g = gradOut + (a / topK) * (int64_t)hidden;
            const T* y = rowsIn + r * (int64_t)hidden;
            for (int c = lane; c < hidden; c += 32) acc += toF(g[c]) * toF(y[c]);
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (lane == 0) gradWeights[a] = acc;
    }
}

// Activation codes: 0 silu, 1 gelu (erf), 2 relu.
__device__ __forceinline__ float activate(float x, int act) {
    if (act == 0) return x / (1.f + __expf(-x));
    if (act == 1) return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    return x > 0.f ? x : 0.f;
}

__device__ __forceinline__ float activateGrad(float x, int act) {
    if (act == 0) {
        const float s = 1.f / (1.f + __expf(-x));
        return s * (1.f + x * (1.f - s));
    }
    if (act == 1) {
        return 0.5f * (1.f + erff(x * 0.70710678118654752f))
               + x * 0.3989422804014327f * __expf(-0.5f * x * x);
    }
    return x > 0.f ? 1.f : 0.f;
}

__device__ __forceinline__ bool aligned16(const void* p) {
    return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

// W consecutive elements of T at p, as floats: one 16-byte load when W is the vector width (p
// aligned), else one element.
template <typename T, int W>
__device__ __forceinline__ void loadF(const T* p, float (&f)[W]) {
    if constexpr (W == 1) {
        f[0] = toF(*p);
    } else {
        static_assert(W == Vec<T>::N, "a vector is 16 bytes");
        const uint4 raw = *reinterpret_cast<const uint4*>(p);
        const T* v = reinterpret_cast<const T*>(&raw);
#pragma unroll
        for (int k = 0; k < W; k++) f[k] = toF(v[k]);
    }
}

template <typename T, int W>
__device__ __forceinline__ void storeF(T* p, const float (&f)[W]) {
    if constexpr (W == 1) {
        *p = fromF<T>(f[0]);
    } else {
        storeVec<T>(p, f);
    }
}

// Calls body(r, c) for every chunk of W columns c..c+W-1 of every row r of a [rows, cols] grid
// (W divides cols), spread over the whole launch grid.
template <int W, typename Body>
__device__ __forceinline__ void forEachChunk(int64_t rows, int cols, Body body) {
    const int chunks = cols / W;
    const int64_t n = rows * chunks;
    const int64_t step = gridDim.x * (int64_t)blockDim.x;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += step) {
        const int64_t r = i / chunks;
        body(r, (int)(i - r * chunks) * W);
    }
}

// out[r, c] = act(h[r, c]) * h[r, ffn + c] (gated: h has 2 ffn columns) or act(h[r, c]) (plain),
// h [rows, width], out [rows, ffn], W columns per thread and pass.
template <typename T, int W>
__device__ void activationForwardW(const T* __restrict__ h, T* __restrict__ out, int64_t rows,
                                   int ffn, int gated, int act) {
    const int width = gated ? 2 * ffn : ffn;
    forEachChunk<W>(rows, ffn, [&](int64_t r, int c) {
        float g[W];
        float u[W];
        float f[W];
        loadF<T, W>(h + r * width + c, g);
        if (gated) loadF<T, W>(h + r * width + ffn + c, u);
#pragma unroll
        for (int k = 0; k < W; k++) {
            const float v = activate(g[k], act);
            f[k] = gated ? v * u[k] : v;
        }
        storeF<T, W>(out + r * ffn + c, f);
    });
}

// gradH of activationForwardW from gradOut [rows, ffn].
template <typename T, int W>
__device__ void activationBackwardW(const T* __restrict__ h, const T* __restrict__ gradOut,
                                    T* __restrict__ gradH, int64_t rows, int ffn, int gated,
                                    int act) {
    const int width = gated ? 2 * ffn : ffn;
    forEachChunk<W>(rows, ffn, [&](int64_t r, int c) {
        float g[W];
        float u[W];
        float d[W];
        float gradGate[W];
        float gradUp[W];
        loadF<T, W>(h + r * width + c, g);
        if (gated) loadF<T, W>(h + r * width + ffn + c, u);
        loadF<T, W>(gradOut + r * ffn + c, d);
#pragma unroll
        for (int k = 0; k < W; k++) {
            gradGate[k] = gated ? d[k] * u[k] * activateGrad(g[k], act)
                                : d[k] * activateGrad(g[k], act);
            gradUp[k] = d[k] * activate(g[k], act);
        }
        storeF<T, W>(gradH + r * width + c, gradGate);
        if (gated) storeF<T, W>(gradH + r * width + ffn + c, gradUp);
    });
}

// The activation kernels take 16-byte vectors (8 bf16 or 4 floats) when ffn is a multiple of the
// vector width and the buffers are 16-byte aligned, single elements otherwise.
template <typename T>
__device__ void activationForward(const T* h, T* out, int64_t rows, int ffn, int gated, int act) {
    if (ffn % Vec<T>::N == 0 && aligned16(h) && aligned16(out)) {
        activationForwardW<T, Vec<T>::N>(h, out, rows, ffn, gated, act);
    } else {
        activationForwardW<T, 1>(h, out, rows, ffn, gated, act);
    }
}

template <typename T>
__device__ void activationBackward(const T* h, const T* gradOut, T* gradH, int64_t rows, int ffn,
                                   int gated, int act) {
    if (ffn % Vec<T>::N == 0 && aligned16(h) && aligned16(gradOut) && aligned16(gradH)) {
        activationBackwardW<T, Vec<T>::N>(h, gradOut, gradH, rows, ffn, gated, act);
    } else {
        activationBackwardW<T, 1>(h, gradOut, gradH, rows, ffn, gated, act);
    }
}

// Rotary embedding in the "rotate half" form, one thread per feature pair (i, i + half) of a row
// (b, h, s) of x [B, H, S, D] with strides (sb, sh, ss, 1); out [B, H, S, D] has strides (ob, oh,
// os, 1) (the caller gives it the layout of x); the tables cos and sin are contiguous [S, D] of T. Forward: out_1 = x_1 c_1 - x_2 s_1 and
// out_2 = x_2 c_2 + x_1 s_2; backward (x holding the output gradient): dx_1 = g_1 c_1 + g_2 s_2
// and dx_2 = g_2 c_2 - g_1 s_1. Computed in fp32, rounded once.
template <typename T>
__device__ void rotary(const T* __restrict__ x, const T* __restrict__ cosT,
                       const T* __restrict__ sinT, T* __restrict__ out, int64_t heads,
                       int64_t seq, int64_t pairs, int dim, int64_t sb, int64_t sh, int64_t ss,
                       int64_t ob, int64_t oh, int64_t os, int backward) {
    const int half = dim / 2;
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < pairs;
         p += (int64_t)gridDim.x * blockDim.x) {
        const int64_t row = p / half;
        const int i = (int)(p - row * half);
        const int64_t s = row % seq;
        const int64_t h = (row / seq) % heads;
        const int64_t b = row / (seq * heads);
        const T* xr = x + b * sb + h * sh + s * ss;
        const float x1 = toF(xr[i]);
        const float x2 = toF(xr[i + half]);
        const float c1 = toF(cosT[s * dim + i]);
        const float c2 = toF(cosT[s * dim + i + half]);
        const float s1 = toF(sinT[s * dim + i]);
        const float s2 = toF(sinT[s * dim + i + half]);
        T* o = out + b * ob + h * oh + s * os;
        if (backward) {
            o[i] = fromF<T>(x1 * c1 + x2 * s2);
            o[i + half] = fromF<T>(x2 * c2 - x1 * s1);
        } else {
            o[i] = fromF<T>(x1 * c1 - x2 * s1);
            o[i + half] = fromF<T>(x2 * c2 + x1 * s2);
        }
    }
}

}  // namespace

#define MOE_TYPED_KERNELS(SUFFIX, T)                                                              \
    extern "C" __global__ void __launch_bounds__(kThreads) moe_gather_rows_##SUFFIX(              \
        const T* src, const int64_t* rowSource, const float* weights, T* out, int64_t rows,      \
        int hidden, int topK) {                                                                   \
        gatherRows<T>(src, rowSource, weights, out, rows, hidden, topK);                          \
    }                                                                                             \
    extern "C" __global__ void __launch_bounds__(kThreads) moe_combine_rows_##SUFFIX(             \
        const T* rowsIn, const int64_t* slot, const float* weights, T* out, int64_t tokens,      \
        int hidden, int topK) {                                                                   \
        combineRows<T>(rowsIn, slot, weights, out, tokens, hidden, topK);                         \
    }                                                                                             \
    extern "C" __global__ void __launch_bounds__(kThreads) moe_combine_rows_k8_##SUFFIX(          \
        const T* rowsIn, const int64_t* slot, const float* weights, T* out, int64_t tokens,      \
        int hidden, int topK) {                                                                   \
        if (hidden % Vec<T>::N == 0 && topK <= 8) {                                               \
            combineRowsDirect<T, 8, 1>(rowsIn, slot, weights, out, tokens, hidden, topK);         \
        } else {                                                                                  \
            combineRows<T>(rowsIn, slot, weights, out, tokens, hidden, topK);                     \
        }                                                                                         \
    }                                                                                             \
    extern "C" __global__ void __launch_bounds__(kThreads) moe_weight_grad_##SUFFIX(              \
        const T* gradOut, const T* rowsIn, const int64_t* slot, float* gradWeights,              \
        int64_t assignments, int hidden, int topK) {                                             \
        weightGradient<T>(gradOut, rowsIn, slot, gradWeights, assignments, hidden, topK);         \
    }                                                                                             \
    extern "C" __global__ void __launch_bounds__(kThreads) moe_activation_fwd_##SUFFIX(           \
        const T* h, T* out, int64_t rows, int ffn, int gated, int act) {                          \
        activationForward<T>(h, out, rows, ffn, gated, act);                                      \
    }                                                                                             \
    extern "C" __global__ void __launch_bounds__(kThreads) moe_activation_bwd_##SUFFIX(           \
        const T* h, const T* gradOut, T* gradH, int64_t rows, int ffn, int gated, int act) {      \
        activationBackward<T>(h, gradOut, gradH, rows, ffn, gated, act);                          \
    }                                                                                             \
    extern "C" __global__ void __launch_bounds__(kThreads) moe_rotary_##SUFFIX(                   \
        const T* x, const T* cosT, const T* sinT, T* out, int64_t heads, int64_t seq,             \
        int64_t pairs, int dim, int64_t sb, int64_t sh, int64_t ss, int64_t ob, int64_t oh,       \
        int64_t os, int backward) {                                                               \
        rotary<T>(x, cosT, sinT, out, heads, seq, pairs, dim, sb, sh, ss, ob, oh, os, backward);  \
    }

MOE_TYPED_KERNELS(f32, float)
MOE_TYPED_KERNELS(bf16, __nv_bfloat16)

// Softmax (scoreFn 0: exp(l - max) / denom) or sigmoid (1) score of one logit.
__device__ __forceinline__ float routerScore(float logit, float maxLogit, float denom,
                                             int scoreFn) {
    return scoreFn == 0 ? __expf(logit - maxLogit) / denom : 1.f / (1.f + __expf(-logit));
}

// One token's logits: their maximum and the softmax denominator (1 for sigmoid, or with a
// non-finite logit); returns how many logits are NaN or infinite.
__device__ __forceinline__ int routerRow(const float* l, int experts, int scoreFn,
                                         float& maxLogit, float& denom) {
    maxLogit = -INFINITY;
    int nonFinite = 0;
    for (int e = 0; e < experts; e++) {
        maxLogit = fmaxf(maxLogit, l[e]);
        nonFinite += !isfinite(l[e]);
    }
    denom = 1.f;
    if (scoreFn == 0 && nonFinite == 0) {
        denom = 0.f;
        for (int e = 0; e < experts; e++) denom += __expf(l[e] - maxLogit);
    }
    return nonFinite;
}

// Fused router, one thread per token: scores = softmax(logits) (scoreFn 0) or sigmoid (1), the
// top-k by score (ties to the lower expert index), optionally renormalised over the k chosen;
// counts[e] += tokens routed to e, counts[experts] += non-finite logits (the caller refuses such a
// routing; their tokens get experts 0..k-1 with weight 0, so no index is ever out of range).
extern "C" __global__ void __launch_bounds__(kThreads) moe_router_topk(
    const float* __restrict__ logits, int64_t tokens, int experts, int topK, int scoreFn,
    int normalize, float* __restrict__ weights, int64_t* __restrict__ indices,
    int* __restrict__ counts) {
    const int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (t >= tokens) return;
    const float* l = logits + t * experts;
    float maxLogit;
    float denom;
    const int nonFinite = routerRow(l, experts, scoreFn, maxLogit, denom);
    if (nonFinite > 0) {
        atomicAdd(counts + experts, nonFinite);
        for (int j = 0; j < topK; j++) {
            weights[t * topK + j] = 0.f;
            indices[t * topK + j] = j;
            atomicAdd(counts + j, 1);
        }
        return;
    }
    float chosenSum = 0.f;
    float prevScore = INFINITY;
    int prevIndex = -1;
    for (int j = 0; j < topK; j++) {
        float best = -INFINITY;
        int bestIndex = -1;
        for (int e = 0; e < experts; e++) {
            const float s = routerScore(l[e], maxLogit, denom, scoreFn);
            const bool after = s < prevScore || (s == prevScore && e > prevIndex);
            if (after && (bestIndex < 0 || s > best)) {
                best = s;
                bestIndex = e;
            }
        }
        weights[t * topK + j] = best;
        indices[t * topK + j] = bestIndex;
        chosenSum += best;
        prevScore = best;
        prevIndex = bestIndex;
        atomicAdd(counts + bestIndex, 1);
    }
    if (normalize) {
        // sigmoid scores can all underflow to 0: the epsilon of the reference path
        const float total = scoreFn == 0 ? chosenSum : chosenSum + 1e-20f;
        for (int j = 0; j < topK; j++) weights[t * topK + j] /= total;
    }
}

// Backward of moe_router_topk, one thread per token: the weights' gradient through the
// renormalisation (when normalize) to the chosen experts' scores, then through softmax (scoreFn 0:
// d logit_e = p_e (gs_e - sum_j gs_j p_j), gs nonzero for the k chosen experts only) or sigmoid (1)
// to the logits. A token with non-finite logits (refused by the forward's caller) gets a zero
// gradient.
extern "C" __global__ void __launch_bounds__(kThreads) moe_router_topk_bwd(
    const float* __restrict__ logits, const int64_t* __restrict__ indices,
    const float* __restrict__ gradWeights, int64_t tokens, int experts, int topK, int scoreFn,
    int normalize, float* __restrict__ gradLogits) {
    const int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (t >= tokens) return;
    const float* l = logits + t * experts;
    const int64_t* idx = indices + t * topK;
    const float* g = gradWeights + t * topK;
    float* out = gradLogits + t * experts;
    float maxLogit;
    float denom;
    if (routerRow(l, experts, scoreFn, maxLogit, denom) > 0) {
        for (int e = 0; e < experts; e++) out[e] = 0.f;
        return;
    }
    // d weight_j / d chosen score: renormalisation w_j = s_j / total
    float total = 0.f;
    float weighted = 0.f;
    if (normalize) {
        for (int j = 0; j < topK; j++) total += routerScore(l[idx[j]], maxLogit, denom, scoreFn);
        if (scoreFn != 0) total += 1e-20f;
        for (int j = 0; j < topK; j++) {
            weighted += g[j] * routerScore(l[idx[j]], maxLogit, denom, scoreFn) / total;
        }
    }
    float dot = 0.f;
    if (scoreFn == 0) {
        for (int j = 0; j < topK; j++) {
            const float gs = normalize ? (g[j] - weighted) / total : g[j];
            dot += gs * routerScore(l[idx[j]], maxLogit, denom, scoreFn);
        }
    }
    for (int e = 0; e < experts; e++) {
        out[e] = scoreFn == 0 ? -routerScore(l[e], maxLogit, denom, scoreFn) * dot : 0.f;
    }
    // the k chosen experts are distinct
    for (int j = 0; j < topK; j++) {
        const float gs = normalize ? (g[j] - weighted) / total : g[j];
        const float p = routerScore(l[idx[j]], maxLogit, denom, scoreFn);
        out[idx[j]] += scoreFn == 0 ? p * gs : gs * p * (1.f - p);
    }
}

// Router logits for few experts (E <= 16), where the product is bound by reading the tokens: the
// tokens stay in their type (float32 or bfloat16, read as the exact float32 values a cast would
// give), the weights and every sum are float32, so no float32 copy of the tokens is written, read
// and (backward) cast back. Columns go four at a time. Each kernel comes in three expert buckets
// (E <= 4, 8, 16: registers for that many experts) and two paths: whole quads (hidden a multiple
// of four, aligned pointers: one vector access each) or element by element. A pass issues all its
// loads before it uses any: rows past the real experts or tokens are read again as the last real
// one (no branch around a load) and their results dropped, so a warp waits for memory once per
// pass, not once per load.
namespace {

// Tokens per warp pass in the forward (each weight vector read serves them all), quads per lane
// per forward pass, tokens per thread in the input gradient, tokens per weight-gradient pass.
constexpr int kRouterTokens = 4;
constexpr int kRouterUnroll = 2;
constexpr int kRouterDxTokens = 8;
constexpr int kRouterDwUnroll = 4;

template <typename T>
__device__ __forceinline__ bool alignedQuad(const T* p) {
    return (reinterpret_cast<uintptr_t>(p) & (4 * sizeof(T) - 1)) == 0;
}

// Four values from p, valid of them real (the others zero); kWhole: valid is 0 or 4 and p aligned.
template <bool kWhole, typename T>
__device__ __forceinline__ void loadQuad(const T* p, int valid, float (&f)[4]) {
    if constexpr (kWhole) {
        if constexpr (sizeof(T) == 4) {
            float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
            if (valid) v = *reinterpret_cast<const float4*>(p);
            f[0] = v.x; f[1] = v.y; f[2] = v.z; f[3] = v.w;
        } else {
            uint2 raw = make_uint2(0u, 0u);
            if (valid) raw = *reinterpret_cast<const uint2*>(p);
            const T* v = reinterpret_cast<const T*>(&raw);
#pragma unroll
            for (int k = 0; k < 4; k++) f[k] = toF(v[k]);
        }
    } else {
#pragma unroll
        for (int k = 0; k < 4; k++) f[k] = k < valid ? toF(p[k]) : 0.f;
    }
}

template <bool kWhole, typename T>
__device__ __forceinline__ void storeQuad(T* p, int valid, const float (&f)[4]) {
    if constexpr (kWhole) {
        if constexpr (sizeof(T) == 4) {
            *reinterpret_cast<float4*>(p) = make_float4(f[0], f[1], f[2], f[3]);
        } else {
            T v[4];
#pragma unroll
            for (int k = 0; k < 4; k++) v[k] = fromF<T>(f[k]);
            *reinterpret_cast<uint2*>(p) = *reinterpret_cast<const uint2*>(v);
        }
    } else {
#pragma unroll
        for (int k = 0; k < 4; k++) {
            if (k < valid) p[k] = fromF<T>(f[k]);
        }
    }
}

// Calls body(r, h, valid) for the four columns h..h+3 (valid of them below hidden) of every row r
// of a [rows, hidden] grid, spread over the whole launch grid.
template <typename Body>
__device__ __forceinline__ void forEachQuad(int64_t rows, int hidden, Body body) {
    const int quads = (hidden + 3) / 4;
    const int64_t n = rows * quads;
    const int64_t step = gridDim.x * (int64_t)blockDim.x;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += step) {
        const int64_t r = i / quads;
        const int h = (int)(i - r * quads) * 4;
        body(r, h, min(4, hidden - h));
    }
}

// logits[t, e] = sum_h x[t, h] w[e, h]: a warp takes kRouterTokens tokens, each lane the quads
// lane, lane + 32, ... in order, then the warp sums each (token, expert) pair.
template <typename T, int E, bool kWhole>
__device__ void routerLogits(const T* __restrict__ x, const float* __restrict__ w,
                             float* __restrict__ logits, int64_t tokens, int hidden, int experts) {
    const int lane = threadIdx.x & 31;
    const int64_t warp = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5;
    const int64_t warps = (gridDim.x * (int64_t)blockDim.x) >> 5;
    const int quads = (hidden + 3) / 4;
    for (int64_t t0 = warp * kRouterTokens; t0 < tokens; t0 += warps * kRouterTokens) {
        float acc[kRouterTokens][E];
#pragma unroll
        for (int j = 0; j < kRouterTokens; j++) {
#pragma unroll
            for (int e = 0; e < E; e++) acc[j][e] = 0.f;
        }
        for (int q0 = lane; q0 < quads; q0 += 32 * kRouterUnroll) {
            float xv[kRouterUnroll][kRouterTokens][4];
            int valid[kRouterUnroll];
#pragma unroll
            for (int u = 0; u < kRouterUnroll; u++) {
                const int q = q0 + 32 * u;
                valid[u] = q < quads ? min(4, hidden - 4 * q) : 0;
#pragma unroll
                for (int j = 0; j < kRouterTokens; j++) {
                    const int64_t t = min(t0 + j, tokens - 1);
                    loadQuad<kWhole>(x + t * hidden + 4 * q, valid[u], xv[u][j]);
                }
            }
#pragma unroll
            for (int u = 0; u < kRouterUnroll; u++) {
                const int q = q0 + 32 * u;
#pragma unroll
                for (int e = 0; e < E; e++) {
                    float wv[4];
                    loadQuad<kWhole>(w + (int64_t)min(e, experts - 1) * hidden + 4 * q, valid[u],
                                     wv);
#pragma unroll
                    for (int j = 0; j < kRouterTokens; j++) {
#pragma unroll
                        for (int k = 0; k < 4; k++) acc[j][e] = fmaf(xv[u][j][k], wv[k], acc[j][e]);
                    }
                }
            }
        }
#pragma unroll
        for (int j = 0; j < kRouterTokens; j++) {
#pragma unroll
            for (int e = 0; e < E; e++) {
                float v = acc[j][e];
#pragma unroll
                for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
                if (lane == 0 && e < experts && t0 + j < tokens) logits[(t0 + j) * experts + e] = v;
            }
        }
    }
}

// dx[t, h] = sum_e g[t, e] w[e, h]: a thread takes four columns of kRouterDxTokens tokens, the
// weights' four columns held in registers.
template <typename T, int E, bool kWhole>
__device__ void routerLogitsDx(const float* __restrict__ g, const float* __restrict__ w,
                               T* __restrict__ dx, int64_t tokens, int hidden, int experts) {
    const int64_t groups = (tokens + kRouterDxTokens - 1) / kRouterDxTokens;
    forEachQuad(groups, hidden, [&](int64_t group, int h, int valid) {
        float wv[E][4];
#pragma unroll
        for (int e = 0; e < E; e++) {
            loadQuad<kWhole>(w + (int64_t)min(e, experts - 1) * hidden + h, valid, wv[e]);
        }
        // the gradients of kLoad tokens in registers at once (fewer with 16 experts: no spills)
        constexpr int kLoad = E > 8 ? kRouterDxTokens / 2 : kRouterDxTokens;
#pragma unroll 1
        for (int j0 = 0; j0 < kRouterDxTokens; j0 += kLoad) {
            float ge[kLoad][E];
#pragma unroll
            for (int j = 0; j < kLoad; j++) {
                const int64_t t = min(group * kRouterDxTokens + j0 + j, tokens - 1);
#pragma unroll
                for (int e = 0; e < E; e++) ge[j][e] = g[t * experts + min(e, experts - 1)];
            }
#pragma unroll
            for (int j = 0; j < kLoad; j++) {
                const int64_t t = group * kRouterDxTokens + j0 + j;
                float out[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
                for (int e = 0; e < E; e++) {
                    if (e < experts) {
#pragma unroll
                        for (int k = 0; k < 4; k++) out[k] = fmaf(ge[j][e], wv[e][k], out[k]);
                    }
                }
                if (t < tokens) storeQuad<kWhole>(dx + t * hidden + h, valid, out);
            }
        }
    });
}

// partial[c, e, h] = sum over the tokens t of chunk c, in order, of g[t, e] x[t, h]: a thread takes
// four columns of one chunk (the chunks are summed in order by moe_router_logits_dw_sum, so the
// weight gradient does not depend on scheduling).
template <typename T, int E, bool kWhole>
__device__ void routerLogitsDwPartial(const float* __restrict__ g, const T* __restrict__ x,
                                      float* __restrict__ partial, int64_t tokens, int hidden,
                                      int experts, int64_t chunkTokens, int64_t chunks) {
    forEachQuad(chunks, hidden, [&](int64_t c, int h, int valid) {
        float acc[E][4];
#pragma unroll
        for (int e = 0; e < E; e++) {
#pragma unroll
            for (int k = 0; k < 4; k++) acc[e][k] = 0.f;
        }
        const int64_t end = min(tokens, (c + 1) * chunkTokens);
        for (int64_t t0 = c * chunkTokens; t0 < end; t0 += kRouterDwUnroll) {
            float xv[kRouterDwUnroll][4];
            float ge[kRouterDwUnroll][E];
#pragma unroll
            for (int u = 0; u < kRouterDwUnroll; u++) {
                const int64_t t = min(t0 + u, end - 1);
                loadQuad<kWhole>(x + t * hidden + h, valid, xv[u]);
#pragma unroll
                for (int e = 0; e < E; e++) ge[u][e] = g[t * experts + min(e, experts - 1)];
            }
#pragma unroll
            for (int u = 0; u < kRouterDwUnroll; u++) {
                if (t0 + u < end) {
#pragma unroll
                    for (int e = 0; e < E; e++) {
                        if (e < experts) {
#pragma unroll
                            for (int k = 0; k < 4; k++) {
                                acc[e][k] = fmaf(ge[u][e], xv[u][k], acc[e][k]);
                            }
                        }
                    }
                }
            }
        }
#pragma unroll
        for (int e = 0; e < E; e++) {
            if (e < experts) {
                storeQuad<kWhole>(partial + (c * experts + e) * hidden + h, valid, acc[e]);
            }
        }
    });
}

}  // namespace

// Runs FN's whole-quad path when hidden is a multiple of four and A and B are aligned to a quad of
// their types, else its element-by-element path.
#define MOE_ROUTER_PATH(FN, T, E, A, B, ...)                                                      \
    if ((hidden & 3) == 0 && alignedQuad(A) && alignedQuad(B)) {                                  \
        FN<T, E, true>(__VA_ARGS__);                                                              \
    } else {                                                                                      \
        FN<T, E, false>(__VA_ARGS__);                                                             \
    }

#define MOE_ROUTER_LOGITS_KERNELS(SUFFIX, T, E)                                                   \
    extern "C" __global__ void __launch_bounds__(kThreads) moe_router_logits_e##E##_##SUFFIX(     \
        const T* x, const float* w, float* logits, int64_t tokens, int hidden, int experts) {     \
        MOE_ROUTER_PATH(routerLogits, T, E, x, w, x, w, logits, tokens, hidden, experts)          \
    }                                                                                             \
    extern "C" __global__ void __launch_bounds__(kThreads) moe_router_logits_dx_e##E##_##SUFFIX(  \
        const float* g, const float* w, T* dx, int64_t tokens, int hidden, int experts) {         \
        MOE_ROUTER_PATH(routerLogitsDx, T, E, w, dx, g, w, dx, tokens, hidden, experts)           \
    }                                                                                             \
    extern "C" __global__ void __launch_bounds__(kThreads) moe_router_logits_dw_e##E##_##SUFFIX(  \
        const float* g, const T* x, float* partial, int64_t tokens, int hidden, int experts,      \
        int64_t chunkTokens, int64_t chunks) {                                                    \
        MOE_ROUTER_PATH(routerLogitsDwPartial, T, E, x, partial, g, x, partial, tokens, hidden,   \
                        experts, chunkTokens, chunks)                                             \
    }

MOE_ROUTER_LOGITS_KERNELS(f32, float, 4)
MOE_ROUTER_LOGITS_KERNELS(f32, float, 8)
MOE_ROUTER_LOGITS_KERNELS(f32, float, 16)
MOE_ROUTER_LOGITS_KERNELS(bf16, __nv_bfloat16, 4)
MOE_ROUTER_LOGITS_KERNELS(bf16, __nv_bfloat16, 8)
MOE_ROUTER_LOGITS_KERNELS(bf16, __nv_bfloat16, 16)

// dw[i] = sum over the chunks c, in order, of partial[c * size + i], for i < size = E * H.
extern "C" __global__ void __launch_bounds__(kThreads) moe_router_logits_dw_sum(
    const float* __restrict__ partial, float* __restrict__ dw, int64_t size, int64_t chunks) {
    const int64_t step = gridDim.x * (int64_t)blockDim.x;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < size; i += step) {
        float s = 0.f;
#pragma unroll 8
        for (int64_t c = 0; c < chunks; c++) s += partial[c * size + i];
        dw[i] = s;
    }
}

// Dropless dispatch maps on the device, one block per expert e: the assignments routed to e, in
// assignment order, take rows from counts[0] + ... + counts[e - 1] on (the order of the host plan;
// counts is int32, on the device, as the fused router leaves it);
// slot[a] = row and rowSource[row] = a. Each pass ranks kItems assignments per thread with a
// block-wide exclusive scan of the per-thread match counts.
extern "C" __global__ void __launch_bounds__(kThreads) moe_build_indices(
    const int64_t* __restrict__ expertOf, int64_t assignments, const int* __restrict__ counts,
    int64_t* __restrict__ slot, int64_t* __restrict__ rowSource) {
    constexpr int kItems = 8;
    __shared__ int warpOffset[kThreads / 32];
    __shared__ int passTotal;
    __shared__ unsigned long long firstRow;
    const int64_t e = blockIdx.x;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    if (threadIdx.x == 0) firstRow = 0;
    __syncthreads();
    // the expert's first row: the counts of the experts before it
    unsigned long long before = 0;
    for (int64_t j = threadIdx.x; j < e; j += blockDim.x) before += (unsigned)counts[j];
    if (before != 0) atomicAdd(&firstRow, before);
    __syncthreads();
    int64_t next = (int64_t)firstRow;
    for (int64_t start = 0; start < assignments; start += (int64_t)blockDim.x * kItems) {
        const int64_t first = start + (int64_t)threadIdx.x * kItems;
        bool mine[kItems];
        int count = 0;
#pragma unroll
        for (int i = 0; i < kItems; i++) {
            mine[i] = first + i < assignments && expertOf[first + i] == e;
            count += mine[i];
        }
        int inclusive = count;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const int n = __shfl_up_sync(0xffffffffu, inclusive, o);
            if (lane >= o) inclusive += n;
        }
        if (lane == 31) warpOffset[warp] = inclusive;
        __syncthreads();
        if (warp == 0) {
            const int v = lane < warps ? warpOffset[lane] : 0;
            int w = v;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                const int n = __shfl_up_sync(0xffffffffu, w, o);
                if (lane >= o) w += n;
            }
            if (lane < warps) warpOffset[lane] = w - v;
            if (lane == 31) passTotal = w;
        }
        __syncthreads();
        int64_t row = next + warpOffset[warp] + (inclusive - count);
#pragma unroll
        for (int i = 0; i < kItems; i++) {
            if (mine[i]) {
                slot[first + i] = row;
                rowSource[row] = first + i;
                row++;
            }
        }
        next += passTotal;
        __syncthreads();
    }
}

// One Adam step over n float32 values in a single pass (DJL's adamUpdate, which takes about a
// dozen passes): g' = min(rescale * g, clip) (clip < 0: none) + wd * w; m = beta1 m + (1 - beta1)
// g'; v = beta2 v + (1 - beta2) g'^2; w -= lrBiasCorrected * m / (sqrt(v) + eps). vec4: n is a
// multiple of 4 and every pointer 16-byte aligned.
__device__ __forceinline__ void adamElement(float& w, float g, float& m, float& v, float lr,
                                            float wd, float rescale, float clip, float beta1,
                                            float beta2, float eps) {
    g *= rescale;
    if (clip >= 0.f) g = fminf(g, clip);
    g += wd * w;
    m = m * beta1 + (1.f - beta1) * g;
    v = v * beta2 + (1.f - beta2) * g * g;
    w -= m * lr / (sqrtf(v) + eps);
}

// copy (optional, null for none): the updated weight rounded to bfloat16, for the forward passes
// that compute in bfloat16 (WeightCopies), written in the same pass.
extern "C" __global__ void __launch_bounds__(kThreads) moe_adam_update_f32(
    float* __restrict__ w, const float* __restrict__ g, float* __restrict__ m,
    float* __restrict__ v, __nv_bfloat16* __restrict__ copy, int64_t n, float lr, float wd,
    float rescale, float clip, float beta1, float beta2, float eps, int vec4) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t first = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (vec4) {
        float4* w4 = reinterpret_cast<float4*>(w);
        const float4* g4 = reinterpret_cast<const float4*>(g);
        float4* m4 = reinterpret_cast<float4*>(m);
        float4* v4 = reinterpret_cast<float4*>(v);
        for (int64_t i = first; i < n / 4; i += stride) {
            float4 wi = w4[i], gi = g4[i], mi = m4[i], vi = v4[i];
            adamElement(wi.x, gi.x, mi.x, vi.x, lr, wd, rescale, clip, beta1, beta2, eps);
            adamElement(wi.y, gi.y, mi.y, vi.y, lr, wd, rescale, clip, beta1, beta2, eps);
            adamElement(wi.z, gi.z, mi.z, vi.z, lr, wd, rescale, clip, beta1, beta2, eps);
            adamElement(wi.w, gi.w, mi.w, vi.w, lr, wd, rescale, clip, beta1, beta2, eps);
            w4[i] = wi;
            m4[i] = mi;
            v4[i] = vi;
            if (copy != nullptr) {
                uint2 raw;
                __nv_bfloat162* pair = reinterpret_cast<__nv_bfloat162*>(&raw);
                pair[0] = __floats2bfloat162_rn(wi.x, wi.y);
                pair[1] = __floats2bfloat162_rn(wi.z, wi.w);
                reinterpret_cast<uint2*>(copy)[i] = raw;
            }
        }
        return;
    }
    for (int64_t i = first; i < n; i += stride) {
        float wi = w[i], mi = m[i], vi = v[i];
        adamElement(wi, g[i], mi, vi, lr, wd, rescale, clip, beta1, beta2, eps);
        w[i] = wi;
        m[i] = mi;
        v[i] = vi;
        if (copy != nullptr) copy[i] = __float2bfloat16(wi);
    }
}

namespace {

// Sum of v over the block (every thread gets it); blockDim.x == kThreads.
__device__ __forceinline__ float blockSum(float v, float* shared) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    const int warp = threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    __syncthreads();  // shared may still be read by a previous call
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    float total = 0.f;
#pragma unroll
    for (int w = 0; w < kThreads / 32; w++) total += shared[w];
    return total;
}

// Columns per thread whose weight-gradient partial sums stay in registers.
constexpr int kNormColumns = 32;

}  // namespace

// RMS norm over the last axis, float32, one block per row: rstd = 1 / sqrt(mean(x^2) + eps),
// y = x * rstd * w; rstd is kept for the backward pass.
extern "C" __global__ void __launch_bounds__(kThreads) moe_rms_norm_fwd_f32(
    const float* __restrict__ x, const float* __restrict__ w, float* __restrict__ y,
    float* __restrict__ rstd, int64_t rows, int hidden, float eps) {
    __shared__ float shared[kThreads / 32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* in = x + r * hidden;
        float sum = 0.f;
        for (int c = threadIdx.x; c < hidden; c += kThreads) sum += in[c] * in[c];
        const float s = rsqrtf(blockSum(sum, shared) / hidden + eps);
        float* out = y + r * hidden;
        for (int c = threadIdx.x; c < hidden; c += kThreads) out[c] = in[c] * s * w[c];
        if (threadIdx.x == 0) rstd[r] = s;
    }
}

// Backward of moe_rms_norm_fwd_f32, one block per row: with xh = x * rstd and g = dy * w,
// dx = rstd * (g - xh * mean(g * xh)); dw += dy * xh, summed over the block's rows in registers for
// the first 32 * 256 columns and added to dw (zeroed by the caller) once per block; columns beyond
// those are added row by row.
extern "C" __global__ void __launch_bounds__(kThreads) moe_rms_norm_bwd_f32(
    const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ rstd,
    const float* __restrict__ dy, float* __restrict__ dx, float* __restrict__ dw, int64_t rows,
    int hidden) {
    __shared__ float shared[kThreads / 32];
    float partial[kNormColumns];
#pragma unroll
    for (int k = 0; k < kNormColumns; k++) partial[k] = 0.f;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* in = x + r * hidden;
        const float* grad = dy + r * hidden;
        const float s = rstd[r];
        float dot = 0.f;
        for (int c = threadIdx.x; c < hidden; c += kThreads) dot += grad[c] * w[c] * in[c] * s;
        const float mean = blockSum(dot, shared) / hidden;
        float* out = dx + r * hidden;
#pragma unroll
        for (int k = 0; k < kNormColumns; k++) {
            const int c = threadIdx.x + k * kThreads;
            if (c < hidden) {
                const float xh = in[c] * s;
                out[c] = s * (grad[c] * w[c] - xh * mean);
                partial[k] += grad[c] * xh;
            }
        }
        for (int c = threadIdx.x + kNormColumns * kThreads; c < hidden; c += kThreads) {
            const float xh = in[c] * s;
            out[c] = s * (grad[c] * w[c] - xh * mean);
            atomicAdd(dw + c, grad[c] * xh);
        }
    }
#pragma unroll
    for (int k = 0; k < kNormColumns; k++) {
        const int c = threadIdx.x + k * kThreads;
        if (c < hidden) atomicAdd(dw + c, partial[k]);
    }
}

namespace {

// Merges the running pair (m2, s2) into (m, s), each a maximum m and the sum s of exp(x - m) over
// some elements; rows of -inf keep s = 0, NaN and inf - inf reach s as NaN.
__device__ __forceinline__ void mergeMaxSum(float& m, float& s, float m2, float s2) {
    const float top = fmaxf(m, m2);
    if (top == -INFINITY) {
        s += s2;
        return;
    }
    s = s * expf(m - top) + s2 * expf(m2 - top);
    m = top;
}

// (max, sum of exp(x - max)) over the block (every thread gets it); blockDim.x == kThreads.
__device__ __forceinline__ void blockMaxSum(float& m, float& s, float* shared) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, offset);
        const float s2 = __shfl_xor_sync(0xffffffffu, s, offset);
        mergeMaxSum(m, s, m2, s2);
    }
    constexpr int kWarps = kThreads / 32;
    const int warp = threadIdx.x / 32;
    __syncthreads();  // shared may still be read by a previous call
    if (threadIdx.x % 32 == 0) {
        shared[warp] = m;
        shared[kWarps + warp] = s;
    }
    __syncthreads();
    m = shared[0];
    s = shared[kWarps];
#pragma unroll
    for (int w = 1; w < kWarps; w++) mergeMaxSum(m, s, shared[w], shared[kWarps + w]);
}

// Cross entropy of each row of logits [rows, vocab] with its target, one block per row in one
// pass (online softmax): lse[r] = log(sum(exp(x))), rowLoss[r] = lse[r] - x[target], 0 for the
// ignored target, NaN for a target outside [0, vocab) (counted in *invalid).
template <typename T, int W>
__device__ void crossEntropyForwardW(const T* __restrict__ logits,
                                     const int64_t* __restrict__ targets,
                                     float* __restrict__ rowLoss, float* __restrict__ lse,
                                     int* __restrict__ invalid, int64_t rows, int vocab,
                                     int64_t ignoreIndex) {
    __shared__ float shared[2 * (kThreads / 32)];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* row = logits + r * vocab;
        float m = -INFINITY;
        float s = 0.f;
        for (int c = threadIdx.x * W; c < vocab; c += kThreads * W) {
            float f[W];
            loadF<T, W>(row + c, f);
#pragma unroll
            for (int k = 0; k < W; k++) {
                if (f[k] > m) {
                    s = s * expf(m - f[k]) + 1.f;
                    m = f[k];
                } else if (f[k] != -INFINITY) {
                    s += expf(f[k] - m);
                }
            }
        }
        blockMaxSum(m, s, shared);
        if (threadIdx.x == 0) {
            const float l = m + logf(s);
            const int64_t t = targets[r];
            lse[r] = l;
            if (t == ignoreIndex) {
                rowLoss[r] = 0.f;
            } else if (t >= 0 && t < vocab) {
                rowLoss[r] = l - toF(row[t]);
            } else {
                rowLoss[r] = NAN;
                atomicAdd(invalid, 1);
            }
        }
    }
}

// Gradient of the row losses: gradLogits[r, c] = gradRow[r] * (exp(x - lse[r]) - [c == target]),
// zero for rows whose target is ignored or invalid.
template <typename T, int W>
__device__ void crossEntropyBackwardW(const T* __restrict__ logits,
                                      const int64_t* __restrict__ targets,
                                      const float* __restrict__ lse,
                                      const float* __restrict__ gradRow,
                                      T* __restrict__ gradLogits, int64_t rows, int vocab,
                                      int64_t ignoreIndex) {
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const int64_t t = targets[r];
        const bool kept = t != ignoreIndex && t >= 0 && t < vocab;
        const float g = kept ? gradRow[r] : 0.f;
        const float l = lse[r];
        const T* row = logits + r * vocab;
        T* out = gradLogits + r * vocab;
        for (int c = threadIdx.x * W; c < vocab; c += kThreads * W) {
            float f[W];
            if (kept) {
                loadF<T, W>(row + c, f);
#pragma unroll
                for (int k = 0; k < W; k++) {
                    f[k] = g * (expf(f[k] - l) - (c + k == t ? 1.f : 0.f));
                }
            } else {
#pragma unroll
                for (int k = 0; k < W; k++) f[k] = 0.f;
            }
            storeF<T, W>(out + c, f);
        }
    }
}

}  // namespace

// Fused cross entropy, forward and backward; 16-byte vectors when vocab is a multiple of the vector
// width and the buffers are aligned.
#define MOE_CROSS_ENTROPY_KERNELS(SUFFIX, T)                                                      \
    extern "C" __global__ void __launch_bounds__(kThreads) moe_cross_entropy_fwd_##SUFFIX(        \
        const T* logits, const int64_t* targets, float* rowLoss, float* lse, int* invalid,       \
        int64_t rows, int vocab, int64_t ignoreIndex) {                                           \
        if (vocab % Vec<T>::N == 0 && aligned16(logits)) {                                        \
            crossEntropyForwardW<T, Vec<T>::N>(logits, targets, rowLoss, lse, invalid, rows,      \
                                               vocab, ignoreIndex);                               \
        } else {                                                                                  \
            crossEntropyForwardW<T, 1>(logits, targets, rowLoss, lse, invalid, rows, vocab,       \
                                       ignoreIndex);                                              \
        }                                                                                         \
    }                                                                                             \
    extern "C" __global__ void __launch_bounds__(kThreads) moe_cross_entropy_bwd_##SUFFIX(        \
        const T* logits, const int64_t* targets, const float* lse, const float* gradRow,         \
        T* gradLogits, int64_t rows, int vocab, int64_t ignoreIndex) {                            \
        if (vocab % Vec<T>::N == 0 && aligned16(logits) && aligned16(gradLogits)) {               \
            crossEntropyBackwardW<T, Vec<T>::N>(logits, targets, lse, gradRow, gradLogits, rows,  \
                                                vocab, ignoreIndex);                              \
        } else {                                                                                  \
            crossEntropyBackwardW<T, 1>(logits, targets, lse, gradRow, gradLogits, rows, vocab,   \
                                        ignoreIndex);                                             \
        }                                                                                         \
    }

MOE_CROSS_ENTROPY_KERNELS(f32, float)
MOE_CROSS_ENTROPY_KERNELS(bf16, __nv_bfloat16)
