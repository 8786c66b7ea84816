#!/usr/bin/env python3
"""Where one training step's device time goes, from a trace of cupti_trace.c.

    python3 step_timeline.py trace.tsv[.gz] [--step N] [--gaps 20] [--kernels 15]

Steps are found by their optimizer kernels (--step-marker, default the fused Adam kernel): step N
ends with the N-th cluster of those kernels (counted from 0; negative counts from the end) and
starts where cluster N - 1 ended, so step 0 cannot be shown. `bench gpu --training-only
--mfu-steps S --mfu-warmup W` runs W warm-up steps, then S timed, pipelined steps (W .. W + S - 1),
then S phase-timed steps that wait for the device at each phase boundary. Phases: forward up to the first kernel matching
--backward-marker (the loss's backward), backward up to the end of the last GEMM, then the
optimizer. Prints each phase's busy and idle device time, the longest idle gaps with the operations
around them and the host calls that waited in the gap's lead-up (syncs, copies), and the busiest
kernels of each phase.
"""
import argparse
import bisect
import collections
import gzip
import shutil
import subprocess

GEMM_MARKS = ("nvjet", "xmma_gemm", "cutlass", "gemm")
WAITING_CALLS = ("Synchronize", "Memcpy", "Malloc", "Free")


def read(path):
    ops, api = [], []
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        for line in f:
            kind, start, end, where, corr, what = line.rstrip("\n").split("\t", 5)
            start, end, corr = int(start), int(end), int(corr)
            if kind == "K":
                ops.append((start, end, corr, what))
            elif kind == "C":
                ops.append((start, end, corr, "memcpy" + what))
            elif kind == "S":
                ops.append((start, end, corr, "memset" + what))
            elif kind in "RD":
                api.append((start, end, corr, kind + ":" + what))
    ops.sort()
    api.sort()
    return ops, api


def clusters(ops, marker):
    """(start, end) of each run of marker kernels, runs split by gaps over 20 ms."""
    runs = []
    for start, end, _, name in ops:
        if not name.startswith(marker):
            continue
        if runs and start - runs[-1][1] < 20_000_000:
            runs[-1][1] = max(runs[-1][1], end)
        else:
            runs.append([start, end])
    return runs


def is_gemm(name):
    """cuBLAS (nvjet, xmma) and CUTLASS kernels, e.g. torch's _grouped_mm."""
    lowered = name.lower()
    return any(mark in lowered for mark in GEMM_MARKS)


DEMANGLED = {}


def demangle_all(names):
    """C++ kernel names as c++filt prints them, without template arguments (when c++filt exists)."""
    mangled = sorted(n for n in set(names) if n.startswith("_Z"))
    if not mangled or shutil.which("c++filt") is None:
        return
    plain = subprocess.run(["c++filt"], input="\n".join(mangled), capture_output=True,
                           text=True).stdout.splitlines()
    for m, p in zip(mangled, plain):
        depth, kept = 0, []
        for ch in p:
            depth += ch == "<"
            if depth == 0:
                kept.append(ch)
            depth -= ch == ">" and depth > 0
        DEMANGLED[m] = "".join(kept).replace("void ", "")


def short(name):
    if is_gemm(name):
        return "GEMM"
    return DEMANGLED.get(name, name)[:70]


def gaps_of(window):
    """Idle gaps between the union of busy intervals: (length, end of busy, next op, prev op)."""
    gaps, busy = [], 0
    cur_start, cur_end, prev = None, None, None
    for op in window:
        if cur_end is None:
            cur_start, cur_end, prev = op[0], op[1], op
            continue
        if op[0] > cur_end:
            busy += cur_end - cur_start
            gaps.append((op[0] - cur_end, cur_end, op, prev))
            cur_start, cur_end = op[0], op[1]
        else:
            cur_end = max(cur_end, op[1])
        prev = op
    if cur_end is not None:
        busy += cur_end - cur_start
    return busy, gaps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trace")
    parser.add_argument("--step", type=int, default=-1)
    parser.add_argument("--step-marker", default="moe_adam_update")
    parser.add_argument("--backward-marker", default="moe_cross_entropy_bwd")
    parser.add_argument("--gaps", type=int, default=20)
    parser.add_argument("--kernels", type=int, default=15)
    args = parser.parse_args()

    ops, api = read(args.trace)
    demangle_all(op[3] for op in ops)
    runs = clusters(ops, args.step_marker)
    if len(runs) < 2:
        raise SystemExit("fewer than two clusters of " + args.step_marker + " kernels in the trace")
    step = args.step if args.step >= 0 else len(runs) + args.step
    if not 1 <= step < len(runs):
        raise SystemExit("step %d outside 1 .. %d" % (args.step, len(runs) - 1))
    t0, t1 = runs[step - 1][1], runs[step][1]
    window = [op for op in ops if op[0] >= t0 and op[1] <= t1]
    backward = next((op[0] for op in window if op[3].startswith(args.backward_marker)), t0)
    last_gemm = max((op[1] for op in window if is_gemm(op[3])), default=backward)
    phases = [("forward", t0, backward), ("backward", backward, last_gemm),
              ("optimizer", last_gemm, t1)]
    ms = lambda ns: ns / 1e6

    busy, gaps = gaps_of(window)
    print("step %d (steps 0 .. %d in the trace): %.2f ms, device busy %.2f, idle %.2f" %
          (step, len(runs) - 1, ms(t1 - t0), ms(busy), ms(t1 - t0 - busy)))
    for name, a, b in phases:
        idle = sum(g[0] for g in gaps if g[1] >= a and g[2][0] <= b)
        print("  %-9s %8.2f ms, idle %6.2f" % (name, ms(b - a), ms(idle)))

    launch = {c[2]: c for c in api}
    print("\nlongest idle gaps (at ms from the step's start):")
    for length, gap_start, after, before in sorted(gaps, reverse=True)[:args.gaps]:
        i = bisect.bisect_left(api, (gap_start - 2_000_000,))
        waits = []
        while i < len(api) and api[i][0] < after[0]:
            if any(w in api[i][3] for w in WAITING_CALLS):
                waits.append("%s %.0fus" % (api[i][3].split(":", 1)[1][:22],
                                            (api[i][1] - api[i][0]) / 1e3))
            i += 1
        call = launch.get(after[2])
        late = "launched %.0f us before it ran" % ((after[0] - call[1]) / 1e3) if call else ""
        print("  %7.1f us at %7.2f  %s -> %s  %s  %s" %
              (length / 1e3, ms(gap_start - t0), short(before[3]), short(after[3]), late,
               "; ".join(waits[-3:])))

    for name, a, b in phases:
        total, count = collections.Counter(), collections.Counter()
        for op in window:
            if a <= op[0] < b:
                key = short(op[3]) if not op[3].startswith("memcpy") else op[3]
                total[key] += op[1] - op[0]
                count[key] += 1
        print("\n%s: busiest operations" % name)
        for key, ns in total.most_common(args.kernels):
            print("  %7.2f ms %5d x  %s" % (ms(ns), count[key], key))


if __name__ == "__main__":
    main()
