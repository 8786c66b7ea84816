"""The PyTorch peer of `djl-moe comm-check --backend nccl`: the same collectives issued by
torch.distributed over NCCL, at the same sizes, with nccl-tests' bus-bandwidth definitions.

    python3 nccl_bandwidth_peer.py --nproc 2 --sizes 1M,16M,128M [--warmup 50 --iterations 100]

Prints one JSON line per rank 0: {"peer": "torch", "bandwidth": [{op, bytes, time_us, algbw_gbps,
busbw_gbps}, ...]}. Sizes are bytes per rank, rounded down to whole rows of 4 KiB per rank, as the
Java side does.
"""
import argparse
import json
import os
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

ROW_FLOATS = 1024
ROW_BYTES = ROW_FLOATS * 4


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper()
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def seconds(call, warmup, iterations):
    for _ in range(warmup):
        call()
    torch.cuda.synchronize()
    dist.barrier()
    start = time.perf_counter()
    for _ in range(iterations):
        call()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / iterations


def record(op, nbytes, secs, n):
    algbw = nbytes / secs / 1e9
    return {"op": op, "bytes": nbytes, "time_us": round(secs * 1e6, 1),
            "algbw_gbps": round(algbw, 2), "busbw_gbps": round(algbw * (n - 1) / n, 2)}


def worker(rank, n, sizes, warmup, iterations, port):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=n)
    results = []
    for size in sizes:
        rows_per_rank = max(1, size // (ROW_BYTES * n))
        rows = rows_per_rank * n
        full = torch.ones(rows, ROW_FLOATS, device="cuda")
        out = torch.empty_like(full)
        results.append(record("allToAll", rows * ROW_BYTES,
                              seconds(lambda: dist.all_to_all_single(out, full), warmup, iterations), n))
        part = torch.ones(rows_per_rank, ROW_FLOATS, device="cuda")
        results.append(record("allGather", rows * ROW_BYTES,
                              seconds(lambda: dist.all_gather_into_tensor(out, part), warmup, iterations), n))
    if rank == 0:
        print(json.dumps({"peer": "torch", "world_size": n, "bandwidth": results}), flush=True)
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nproc", type=int, default=torch.cuda.device_count())
    parser.add_argument("--sizes", default="1M,16M,128M")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--port", type=int, default=29611)
    args = parser.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    mp.spawn(worker, args=(args.nproc, sizes, args.warmup, args.iterations, args.port),
             nprocs=args.nproc)


if __name__ == "__main__":
    main()
