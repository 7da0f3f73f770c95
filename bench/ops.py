"""Convolution and pooling speed against PyTorch, measured side by side in one run.

Usage: python bench/ops.py [--repeat 7] [--blocks 5] [--shapes vgg-3x3,tinyface-dw1,lenet-pool,...] [--threads N]

For each shape of CONVS, DEPTHWISE (against PyTorch's ``conv2d(groups=C)``) and POOLS
below it prints the median time of cnnkit and of PyTorch (channels_last, the same
number of threads, the two in turn in this process, in blocks of calls) for the forward pass and the forward +
backward pass (gradients of the input, the weight and the bias), their ratio (the median of the
ratios of adjacent blocks),
cnnkit's GFLOP/s against the float32 GEMM peak measured in the same run, and
cnnkit's peak NumPy memory during forward + backward (tracemalloc) against the
arrays any implementation must hold (input, weight, output and their gradients).
The machine is shared, so single figures are noisy; ratios are the figure of merit.
"""
import argparse
import os
import time
import tracemalloc

import numpy as np
import torch
import torch.nn.functional as TF

import cnnkit.functional as F
from cnnkit import Tensor, no_grad

from common import set_threads

# name: (N, H, W, C_in, C_out, kernel, stride, padding)
CONVS = {
    "lenet-conv1": (128, 28, 28, 1, 6, 5, 1, 2),
    "lenet-conv2": (128, 14, 14, 6, 16, 5, 1, 0),
    "vgg-3x3": (8, 56, 56, 64, 64, 3, 1, 1),
    "resnet-1x1": (8, 28, 28, 256, 64, 1, 1, 0),
    "resnet-3x3-s2": (8, 28, 28, 128, 128, 3, 2, 1),
    "nst-3x3": (1, 128, 128, 128, 128, 3, 1, 1),
    "face-7x7-s2": (16, 150, 150, 3, 32, 7, 2, 0),
}
# name: (N, H, W, C, channel multiplier, kernel, stride, padding): face-api's tiny face detector at 416x416
# (stride 1) and MobileNet-style stride-2 and multiplier-2 layers
DEPTHWISE = {
    "tinyface-dw1": (1, 207, 207, 16, 1, 3, 1, 1),
    "tinyface-dw3": (1, 52, 52, 64, 1, 3, 1, 1),
    "tinyface-dw5": (1, 13, 13, 256, 1, 3, 1, 1),
    "mobilenet-dw-s1": (8, 56, 56, 128, 1, 3, 1, 1),
    "mobilenet-dw-s2": (8, 112, 112, 64, 1, 3, 2, 1),
    "dw-multiplier-2": (8, 28, 28, 32, 2, 3, 1, 1),
}
# name: (N, H, W, C, window, stride)
POOLS = {
    "lenet-pool": (128, 28, 28, 6, 2, 2),
    "vgg-pool": (8, 56, 56, 64, 2, 2),
    "resnet-pool-3s2": (8, 112, 112, 64, 3, 2),
}


def median_ms(fn, repeat):
    """Median wall time of ``fn()`` in ms over ``repeat`` runs after two warm-up runs."""
    return side_by_side_ms([fn], repeat)[0]


# Pause before each block, long enough for the other library's spinning threads to go to sleep.
SETTLE_S = 0.05


# Untimed calls that start each block after the pause (see ``side_by_side_ms``).
WARM_CALLS = 2
# Blocks of calls per library and measurement (``--blocks``).
BLOCKS = 5


def side_by_side_ms(fns, repeat, blocks=None):
    """Median ms of each of ``fns``, and for two of them the ratio of the first's time to the second's.

    The functions run in turn, ``blocks`` blocks of ``repeat`` timed calls each.
    No call follows the other library's directly: PyTorch's OpenMP threads
    busy-wait a while after each op and would take the cores of a cnnkit call
    that followed it (at 2 threads, call-by-call alternation made cnnkit's
    small ops up to 3x slower than they run alone), so each block starts after
    a pause of ``SETTLE_S``. The ratio is the median over blocks of the two
    libraries' block medians: this shared VM's speed drifts by 20% or more
    within seconds, and adjacent blocks see the same drift.
    """
    blocks = BLOCKS if blocks is None else blocks
    for fn in fns:
        fn()
        fn()
    times = [[] for _ in fns]
    block_medians = [[] for _ in fns]
    for _ in range(blocks):
        for fn, record, medians in zip(fns, times, block_medians):
            time.sleep(SETTLE_S)
            for _ in range(WARM_CALLS):
                fn()
            block = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                fn()
                block.append(time.perf_counter() - t0)
            record.extend(block)
            medians.append(float(np.median(block)))
    result = [1e3 * float(np.median(record)) for record in times]
    if len(fns) == 2:
        result.append(float(np.median(np.divide(*block_medians))))
    return result


def gemm_peak(repeat, threads):
    """float32 GFLOP/s of a 2048 x 2048 NumPy matmul on ``threads`` BLAS threads (cnnkit keeps the BLAS on one)."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    with threadpool_limits(threads, user_api="blas"):
        return 2 * 2048**3 / median_ms(lambda: a @ a, repeat) / 1e6


def peak_mib(fn):
    """Peak NumPy memory (MiB) traced while ``fn()`` runs."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def bench_conv(spec, repeat, blocks):
    """Times and memory of one convolution shape; returns a dict of figures."""
    N, H, W, C, CO, k, s, p = spec
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    w = (rng.standard_normal((k, k, C, CO)) / np.sqrt(k * k * C)).astype(np.float32)
    b = rng.standard_normal(CO).astype(np.float32)
    with no_grad():
        out_shape = F.conv2d(x, w, b, stride=s, padding=p).shape
    g = rng.standard_normal(out_shape).astype(np.float32)

    def ours_fwd():
        with no_grad():
            F.conv2d(x, w, b, stride=s, padding=p)

    def ours_fwd_bwd():
        xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
        F.conv2d(xt, wt, bt, stride=s, padding=p).backward(g)

    tx = torch.from_numpy(x.transpose(0, 3, 1, 2)).contiguous(memory_format=torch.channels_last)
    tw = torch.from_numpy(w.transpose(3, 2, 0, 1)).contiguous(memory_format=torch.channels_last)
    tb = torch.from_numpy(b)
    tg = torch.from_numpy(g.transpose(0, 3, 1, 2)).contiguous(memory_format=torch.channels_last)

    def torch_fwd():
        with torch.no_grad():
            TF.conv2d(tx, tw, tb, stride=s, padding=p)

    def torch_fwd_bwd():
        xr, wr, br = (t.detach().requires_grad_() for t in (tx, tw, tb))
        TF.conv2d(xr, wr, br, stride=s, padding=p).backward(tg)

    flops = 2 * int(np.prod(out_shape)) * k * k * C
    needed = 2 * (x.nbytes + w.nbytes + g.nbytes) / 2**20
    return dict(fwd=side_by_side_ms([ours_fwd, torch_fwd], repeat, blocks),
                fwd_bwd=side_by_side_ms([ours_fwd_bwd, torch_fwd_bwd], repeat, blocks),
                flops=flops, peak=peak_mib(ours_fwd_bwd), needed=needed)


def bench_depthwise(spec, repeat, blocks):
    """Times and memory of one depthwise convolution against PyTorch's ``conv2d(groups=C)``."""
    N, H, W, C, M, k, s, p = spec
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    w = (rng.standard_normal((k, k, C, M)) / k).astype(np.float32)
    b = rng.standard_normal(C * M).astype(np.float32)
    with no_grad():
        out_shape = F.depthwise_conv2d(x, w, b, stride=s, padding=p).shape
    g = rng.standard_normal(out_shape).astype(np.float32)

    def ours_fwd():
        with no_grad():
            F.depthwise_conv2d(x, w, b, stride=s, padding=p)

    def ours_fwd_bwd():
        xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
        F.depthwise_conv2d(xt, wt, bt, stride=s, padding=p).backward(g)

    tx = torch.from_numpy(x.transpose(0, 3, 1, 2)).contiguous(memory_format=torch.channels_last)
    # (KH, KW, C, M) -> (C * M, 1, KH, KW): output channel c * M + m in both
    tw = torch.from_numpy(w.transpose(2, 3, 0, 1).reshape(C * M, 1, k, k)).contiguous(
        memory_format=torch.channels_last)
    tb = torch.from_numpy(b)
    tg = torch.from_numpy(g.transpose(0, 3, 1, 2)).contiguous(memory_format=torch.channels_last)

    def torch_fwd():
        with torch.no_grad():
            TF.conv2d(tx, tw, tb, stride=s, padding=p, groups=C)

    def torch_fwd_bwd():
        xr, wr, br = (t.detach().requires_grad_() for t in (tx, tw, tb))
        TF.conv2d(xr, wr, br, stride=s, padding=p, groups=C).backward(tg)

    flops = 2 * int(np.prod(out_shape)) * k * k
    needed = 2 * (x.nbytes + w.nbytes + g.nbytes) / 2**20
    return dict(fwd=side_by_side_ms([ours_fwd, torch_fwd], repeat, blocks),
                fwd_bwd=side_by_side_ms([ours_fwd_bwd, torch_fwd_bwd], repeat, blocks),
                flops=flops, peak=peak_mib(ours_fwd_bwd), needed=needed)


def bench_pool(spec, kind, repeat, blocks):
    """Times and memory of one pooling shape; returns a dict of figures."""
    N, H, W, C, k, s = spec
    ours_fn, torch_fn = (F.max_pool2d, TF.max_pool2d) if kind == "max" else (F.avg_pool2d, TF.avg_pool2d)
    x = np.random.default_rng(0).standard_normal((N, H, W, C)).astype(np.float32)
    with no_grad():
        out_shape = ours_fn(x, k, s).shape
    g = np.ones(out_shape, dtype=np.float32)

    def ours_fwd():
        with no_grad():
            ours_fn(x, k, s)

    def ours_fwd_bwd():
        xt = Tensor(x, requires_grad=True)
        ours_fn(xt, k, s).backward(g)

    tx = torch.from_numpy(x.transpose(0, 3, 1, 2)).contiguous(memory_format=torch.channels_last)
    tg = torch.from_numpy(g.transpose(0, 3, 1, 2)).contiguous(memory_format=torch.channels_last)

    def torch_fwd():
        with torch.no_grad():
            torch_fn(tx, k, s)

    def torch_fwd_bwd():
        xr = tx.detach().requires_grad_()
        torch_fn(xr, k, s).backward(tg)

    needed = 2 * (x.nbytes + g.nbytes) / 2**20
    return dict(fwd=side_by_side_ms([ours_fwd, torch_fwd], repeat, blocks),
                fwd_bwd=side_by_side_ms([ours_fwd_bwd, torch_fwd_bwd], repeat, blocks),
                flops=None, peak=peak_mib(ours_fwd_bwd), needed=needed)


def row(name, r, peak_gflops):
    """One printed line of figures."""
    (of, tf, rf), (ob, tb, rb) = r["fwd"], r["fwd_bwd"]
    rate = ""
    if r["flops"]:
        gf, gb = r["flops"] / of / 1e6, 3 * r["flops"] / ob / 1e6
        rate = f"{gf:7.0f} {100 * gf / peak_gflops:4.0f}% {gb:7.0f} {100 * gb / peak_gflops:4.0f}%"
    else:
        rate = f"{'':7} {'':5} {'':7} {'':5}"
    return (f"{name:18} {of:8.2f} {tf:8.2f} {rf:6.2f} | {ob:8.2f} {tb:8.2f} {rb:6.2f} | {rate} | "
            f"{r['peak']:7.1f} {r['needed']:7.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed calls per block")
    parser.add_argument("--blocks", type=int, default=BLOCKS, help="blocks of calls of each library, in turn")
    parser.add_argument("--shapes", default="", help="comma-separated shape names (default: all)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for both libraries (default: all)")
    args = parser.parse_args()
    wanted = set(filter(None, args.shapes.split(",")))
    known = set(CONVS) | set(DEPTHWISE) | set(POOLS)
    if wanted - known:
        parser.error(f"unknown shapes {sorted(wanted - known)}; known: {sorted(known)}")
    threads = set_threads(args.threads)
    peak = gemm_peak(args.repeat, threads)
    print(f"threads {threads} (cnnkit and torch); load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}; "
          f"float32 GEMM 2048^3 peak {peak:.0f} GFLOP/s; {args.blocks} blocks of {args.repeat} calls each, in turn; "
          "ratio: median over blocks of cnnkit's block median over PyTorch's; shared machine: expect noise")
    print(f"{'shape':18} {'fwd ms':>8} {'torch':>8} {'ratio':>6} | {'f+b ms':>8} {'torch':>8} {'ratio':>6} | "
          f"{'fGF/s':>7} {'%pk':>5} {'fbGF/s':>7} {'%pk':>5} | {'peakMiB':>7} {'needMiB':>7}")
    for name, spec in CONVS.items():
        if not wanted or name in wanted:
            print(row(f"conv {name}", bench_conv(spec, args.repeat, args.blocks), peak), flush=True)
    for name, spec in DEPTHWISE.items():
        if not wanted or name in wanted:
            print(row(f"dw {name}", bench_depthwise(spec, args.repeat, args.blocks), peak), flush=True)
    for name, spec in POOLS.items():
        if not wanted or name in wanted:
            for kind in ("max", "avg"):
                print(row(f"{kind} {name}", bench_pool(spec, kind, args.repeat, args.blocks), peak), flush=True)
    print("peakMiB: cnnkit's traced NumPy peak during forward + backward; "
          "needMiB: input, weight, output and their gradients, which any implementation holds")


if __name__ == "__main__":
    main()
