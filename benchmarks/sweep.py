"""Wall time and peak memory of a whole sweep (default: every block at paper scale).

Runs ``gambitts simulate --all`` in a fresh output directory (in a subprocess, with its Dask
workers) and samples the resident memory of the whole process tree twice a second.
The issue's target on a 2-core machine: at most 60 minutes and 4 GB.

Run: ``python benchmarks/sweep.py [--replicates R] [--horizon T] [--workers N] [--out DIR]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

import psutil


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int)
    parser.add_argument("--horizon", type=int)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", help="output directory (default: a fresh temporary one)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="gambitts-sweep-")
    command = [sys.executable, "-m", "gambitts.cli", "simulate", "--all", "--no-plot"]
    command += ["--out", out, "--workers", str(args.workers)]
    for flag in ("replicates", "horizon"):
        if getattr(args, flag) is not None:
            command += [f"--{flag}", str(getattr(args, flag))]
    print("command:", " ".join(command))
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.5)
    elapsed = time.perf_counter() - start
    output = process.stdout.read()
    if process.returncode != 0:
        print(output)
        raise SystemExit(f"the sweep failed with exit code {process.returncode}")
    print(f"wall time: {elapsed / 60:.1f} min ({elapsed:.0f} s)")
    print(f"peak resident memory of the process tree: {peak / 2**30:.2f} GB")
    print(f"results in: {out}")


if __name__ == "__main__":
    main()
