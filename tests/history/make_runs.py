#!/usr/bin/env python3
"""Writes made-up results files for the history's browser test and for
measuring the history page at size: `--runs` runs of `--cells` cells on
`--machines` machines, each cell with `--reps` repetitions of noise of 2% CV
around its own level; every 7th cell steps 10% slower at the middle run,
every 11th 8% faster at the third quarter. Seeded: the same arguments give
the same files.

    make_runs.py --out DIR [--runs 30] [--cells 8] [--machines 2] [--reps 5] [--seed 1]
"""
import argparse
import json
import os
import random

WORKLOADS = ["prodcons", "pingpong", "counter", "ring", "spawn", "skynet", "echo", "sleepers"]
MODELS = ["process", "thread", "uv", "fiber", "boost-fiber", "coro", "go"]


def cells(count):
    out = []
    i = 0
    while len(out) < count:
        # (i mod 8, i mod 7) differ for every i below 56: each block of 56
        # cells has every workload with every model once.
        w = WORKLOADS[i % len(WORKLOADS)]
        m = MODELS[i % len(MODELS)]
        size = i // (len(WORKLOADS) * len(MODELS))
        out.append((w, m, f"{w}/{m}/size:{size}"))
        i += 1
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--cells", type=int, default=8)
    ap.add_argument("--machines", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    grid = cells(a.cells)
    level = {name: rng.uniform(50, 5000) for _, _, name in grid}
    for machine in range(a.machines):
        speed = 1.0 + 0.35 * machine
        for run in range(a.runs):
            doc = {
                "schema": "cmbench-results", "schema_version": 1, "complete": True,
                "command": ["cmbench", "run"], "options": {},
                "context": {
                    "date": f"2026-{1 + run // 28:02d}-{1 + run % 28:02d}T{machine:02d}:00:00Z",
                    "host": f"runner-{machine}-{run}", "cpu_model": f"Made-up CPU {machine} @ 2.0GHz",
                    "cores_online": 2 + 2 * machine, "cores_available": 2 + 2 * machine,
                    "kernel": "Linux 6.1.0 x86_64", "build_type": "Release", "cmbench_version": "0.1.0",
                    "git_commit": f"{run + 1:02x}" * 20, "git_dirty": False,
                },
                "cells": [],
            }
            for k, (w, m, name) in enumerate(grid):
                factor = speed
                if k % 7 == 3 and run >= a.runs // 2:
                    factor *= 1.10
                if k % 11 == 5 and run >= 3 * a.runs // 4:
                    factor *= 0.92
                reps = []
                for _ in range(a.reps):
                    ns = level[name] * factor * (1 + 0.02 * rng.gauss(0, 1))
                    reps.append({"outcome": "ok", "metrics": {
                        "operations": 10000, "wall_s": ns * 1e-5, "ns_per_op": ns, "ops_per_s": 1e9 / ns,
                        "cpu_ns_per_op": ns * 0.95, "ctx_per_op": 0.01,
                        "latency_ns": {"p50": ns * 1.5, "p99": ns * 4 * (1 + 0.05 * rng.gauss(0, 1)), "count": 10000},
                        "memory_peak_bytes": 4194304 + 4096 * k,
                    }})
                doc["cells"].append({"name": name, "workload": w, "model": m, "params": {}, "outcome": "ok",
                                     "warnings": [], "notes": {}, "warmup": [], "repetitions": reps,
                                     "aggregates": {}})
            with open(os.path.join(a.out, f"m{machine}-run{run:04d}.json"), "w") as f:
                json.dump(doc, f)


main()
