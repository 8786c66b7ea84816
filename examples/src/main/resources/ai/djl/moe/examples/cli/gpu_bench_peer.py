"""Peer side of `djl-moe bench gpu`: the same measurements in eager PyTorch on the same GPU.

Prints one JSON object (last line of stdout). Usage: python3 gpu_bench_peer.py --iterations N
--warmup W --tokens T [--burst-samples S --burst-idle-ms I]. Shapes: Mixtral-8x7B (8 experts,
top-2, H 4096, F 14336) and Qwen2-57B-A14B (64 experts, top-8, H 3584, F 2560). The GEMM and layer
figures are taken sustained (samples back to back) and, with --burst-samples > 0, in bursts (each
sample after the GPU idled, under "burst"), as the Java side takes them.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

SHAPES = {
    "mixtral": dict(experts=8, topk=2, hidden=4096, ffn=14336),
    "qwen2_57b": dict(experts=64, topk=8, hidden=3584, ffn=2560),
}


def sample(fn, batch):
    """Milliseconds per call of `batch` back-to-back calls between two events; one untimed call
    is queued before the start event, so the timed calls find the device busy (as on the Java
    side)."""
    a = torch.cuda.Event(enable_timing=True)
    b = torch.cuda.Event(enable_timing=True)
    fn()
    a.record()
    for _ in range(batch):
        fn()
    b.record()
    b.synchronize()
    return a.elapsed_time(b) / batch


def median(times):
    times.sort()
    return times[len(times) // 2]


def timed(fn, iterations, warmup, batch=1):
    """Median milliseconds per call over samples taken back to back (sustained) after `warmup`
    untimed calls."""
    for _ in range(warmup):
        fn()
    return median([sample(fn, batch) for _ in range(iterations)])


def burst(fn, samples, idle_ms, batch=1):
    """Median milliseconds per call over samples each taken after the GPU idled for idle_ms."""
    times = []
    for _ in range(samples):
        time.sleep(idle_ms / 1e3)
        times.append(sample(fn, batch))
    return median(times)


def routing(tokens, experts, topk, gen):
    scores = torch.rand(tokens, experts, device="cuda", generator=gen)
    return scores.topk(topk, dim=1).indices


def bench_shape(name, s, tokens, it, wu, bt, bursts, idle_ms):
    gen = torch.Generator(device="cuda").manual_seed(7)
    E, k, H, Fd = s["experts"], s["topk"], s["hidden"], s["ffn"]
    out = {}
    out_burst = {}

    def figure(key, fn, batch, value):
        """The figure sustained into out and, with bursts, in bursts into out_burst."""
        out[key] = value(timed(fn, it, wu, batch))
        if bursts > 0:
            out_burst[key] = value(burst(fn, bursts, idle_ms, batch))

    idx = routing(tokens, E, k, gen)
    flat = idx.reshape(-1)
    order = torch.argsort(flat, stable=True)
    row_to_token = order // k
    counts = torch.bincount(flat, minlength=E)
    rows = tokens * k
    x = torch.randn(tokens, H, device="cuda", dtype=torch.bfloat16)
    # permute by index_select; unpermute+combine by index_select + weighted sum over k
    ms = timed(lambda: x.index_select(0, row_to_token), it, wu, bt)
    out["index_select_permute_ms"] = ms
    out["index_select_permute_tbps"] = 2 * rows * H * 2 / ms / 1e9
    y = torch.randn(rows, H, device="cuda", dtype=torch.bfloat16)
    w = torch.rand(tokens, k, device="cuda")
    inv = torch.empty_like(order)
    inv[order] = torch.arange(rows, device="cuda")

    def combine():
        return (y.index_select(0, inv).view(tokens, k, H) * w.unsqueeze(-1).to(y.dtype)).sum(1)

    ms = timed(combine, it, wu, bt)
    out["index_select_unpermute_ms"] = ms
    out["index_select_unpermute_tbps"] = (rows * H * 2 + tokens * H * 2) / ms / 1e9
    # grouped GEMM: gate_up [E, 2F, H] and down [E, H, F]
    xs = torch.randn(rows, H, device="cuda", dtype=torch.bfloat16)
    w1 = torch.randn(E, 2 * Fd, H, device="cuda", dtype=torch.bfloat16) * 0.02
    w2 = torch.randn(E, H, Fd, device="cuda", dtype=torch.bfloat16) * 0.02
    a = torch.randn(rows, Fd, device="cuda", dtype=torch.bfloat16)
    offs = torch.cumsum(counts, 0).to(torch.int32)
    splits = counts.tolist()
    for label, inp, wt, n in (("gate_up", xs, w1, 2 * Fd), ("down", a, w2, H)):
        flops = 2 * rows * inp.shape[1] * n
        if hasattr(torch, "_grouped_mm"):
            figure(
                f"grouped_mm_{label}_tflops",
                lambda: torch._grouped_mm(inp, wt.transpose(1, 2), offs=offs),
                bt,
                lambda ms: flops / ms / 1e9,
            )

        def loop():
            return torch.cat([p @ wt[e].t() for e, p in enumerate(inp.split(splits)) if p.shape[0]])

        figure(f"loop_{label}_tflops", loop, bt, lambda ms: flops / ms / 1e9)
    # eager MoE layer fwd+bwd: bf16 compute, fp32 router, argsort permute, per-expert loop
    router = (torch.randn(E, H, device="cuda") * 0.02).requires_grad_()
    g1 = (torch.randn(E, 2 * Fd, H, device="cuda", dtype=torch.bfloat16) * 0.02).requires_grad_()
    g2 = (torch.randn(E, H, Fd, device="cuda", dtype=torch.bfloat16) * 0.02).requires_grad_()
    inp = torch.randn(tokens, H, device="cuda", dtype=torch.bfloat16).requires_grad_()

    def layer():
        logits = inp.float() @ router.t()
        probs = logits.softmax(-1)
        wts, ids = probs.topk(k, dim=-1)
        wts = wts / wts.sum(-1, keepdim=True)
        flat_ids = ids.reshape(-1)
        perm = torch.argsort(flat_ids, stable=True)
        cnt = torch.bincount(flat_ids, minlength=E).tolist()
        xs_ = inp.index_select(0, perm // k)
        outs = []
        for e, p in enumerate(xs_.split(cnt)):
            if p.shape[0] == 0:
                continue
            gate, up = (p @ g1[e].t()).chunk(2, dim=-1)
            outs.append((F.silu(gate) * up) @ g2[e].t())
        ys = torch.cat(outs)
        unsorted = torch.empty_like(ys)
        unsorted[perm] = ys
        res = (unsorted.view(tokens, k, H) * wts.unsqueeze(-1).to(ys.dtype)).sum(1)
        res.float().sum().backward()

    figure("eager_layer_fwd_bwd_ms", layer, 1, lambda ms: ms)

    def grouped_layer():
        logits = inp.float() @ router.t()
        wts, ids = logits.softmax(-1).topk(k, dim=-1)
        wts = wts / wts.sum(-1, keepdim=True)
        flat_ids = ids.reshape(-1)
        perm = torch.argsort(flat_ids, stable=True)
        ends = torch.cumsum(torch.bincount(flat_ids, minlength=E), 0).to(torch.int32)
        xs_ = inp.index_select(0, perm // k)
        gate, up = torch._grouped_mm(xs_, g1.transpose(1, 2), offs=ends).chunk(2, dim=-1)
        ys = torch._grouped_mm(F.silu(gate) * up, g2.transpose(1, 2), offs=ends)
        unsorted = torch.empty_like(ys).index_copy(0, perm, ys)
        res = (unsorted.view(tokens, k, H) * wts.unsqueeze(-1).to(ys.dtype)).sum(1)
        res.float().sum().backward()

    if hasattr(torch, "_grouped_mm"):
        try:
            figure("grouped_mm_layer_fwd_bwd_ms", grouped_layer, 1, lambda ms: ms)
        except RuntimeError as e:  # a torch without _grouped_mm autograd
            out["grouped_mm_layer_error"] = str(e)[:200]
    if bursts > 0:
        out_burst["idle_ms_before_each_sample"] = idle_ms
        out_burst["samples"] = bursts
        out["burst"] = out_burst
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--tokens", type=int, default=8192)
    p.add_argument("--shapes", default="mixtral,qwen2_57b")
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--burst-samples", type=int, default=0)
    p.add_argument("--burst-idle-ms", type=int, default=500)
    args = p.parse_args()
    result = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0)}
    warm = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    spent = 0.0
    while spent < 1000:  # clocks up before anything is timed
        start.record()
        for _ in range(10):
            warm @ warm
        stop.record()
        stop.synchronize()
        spent += start.elapsed_time(stop)
    # the dense bf16 peak that `bench gpu` divides the training MFU by
    dense_ms = timed(lambda: warm @ warm, args.iterations, args.warmup, args.batch)
    result["dense_bf16_8192_tflops"] = 2 * 8192**3 / (dense_ms / 1e3) / 1e12
    if args.burst_samples > 0:
        dense_ms = burst(lambda: warm @ warm, args.burst_samples, args.burst_idle_ms, args.batch)
        result["dense_bf16_8192_tflops_burst"] = 2 * 8192**3 / (dense_ms / 1e3) / 1e12
    del warm
    for name in args.shapes.split(","):
        result[name] = bench_shape(
            name,
            SHAPES[name],
            args.tokens,
            args.iterations,
            args.warmup,
            args.batch,
            args.burst_samples,
            args.burst_idle_ms,
        )
        torch.cuda.empty_cache()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
