#!/usr/bin/env python3
"""Writes wide.json, a results file shaped like the default preset over every
model (11 series in prodcons, with the M:N variants), for the report tests
that look at layout (the browser test at 1,280 and 390 px) and at the
verdicts computed from a whole run:

    python3 tests/report/make_wide.py > tests/report/wide.json

The numbers are made up but in the proportions the development VM measures
(a process spawn ~100x a thread's, a thread's ~50x a fiber's), round so that
a test can check them by hand. Every cell is ok unless it says otherwise.
"""
import json
import sys

MODELS = {
    "process": dict(kernel_scheduled=True, unit_ceiling=32000, workers_param="", process_tree=True,
                    unit="a forked process", scheduled_by="the kernel, preemptively"),
    "thread": dict(kernel_scheduled=True, unit_ceiling=32000, workers_param="",
                   unit="a kernel thread (std::thread)", scheduled_by="the kernel, preemptively"),
    "uv": dict(kernel_scheduled=False, unit_ceiling=1000000, workers_param="",
               unit="a callback on the loop", scheduled_by="the event loop, run to completion"),
    "fiber": dict(kernel_scheduled=False, unit_ceiling=1000000, workers_param="threads",
                  unit="a stackful fiber", scheduled_by="the runtime in user space, cooperatively"),
    "boost-fiber": dict(kernel_scheduled=False, unit_ceiling=1000000, workers_param="threads",
                        unit="a boost::fibers::fiber", scheduled_by="Boost.Fiber's round_robin, cooperatively"),
    "coro": dict(kernel_scheduled=False, unit_ceiling=1000000, workers_param="threads",
                 unit="a stackless C++20 coroutine", scheduled_by="the io_context's run loop, cooperatively"),
    "go": dict(kernel_scheduled=False, unit_ceiling=1000000, workers_param="gomaxprocs",
               unit="a goroutine", scheduled_by="the Go runtime, M:N, preempted after 10 ms"),
}
# Model parameters every cell of the model carries (defaults).
OWN = {"fiber": {"stack_size": "16384", "threads": "1"}, "boost-fiber": {"stack_size": "16384", "threads": "1"},
       "coro": {"threads": "1"}, "go": {"gomaxprocs": "1"}}

# Cost of one operation relative to the fiber's, per model.
SCALE = {"process": 60.0, "thread": 25.0, "uv": 0.8, "fiber": 1.0, "boost-fiber": 1.3, "coro": 0.9, "go": 1.2}

cells = []


def summary(v, spread=0.04):
    # Six significant digits, not six decimals: a value of a few microseconds
    # rounded to 1e-6 could land above its own median, which the results
    # file's validator rightly refuses.
    return {"n": 3, "median": v, "min": float(f"{v * (1 - spread):.6g}"), "max": float(f"{v * (1 + spread):.6g}"),
            "cv": spread / 2}


def cell(workload, model, params, operation, ns_per_op=None, operations=10000, outcome="ok", message=None,
         extra=None, own=None, rep_metrics=None, notes=None):
    own_params = dict(OWN.get(model, {}))
    own_params.update(own or {})
    all_params = dict(params)
    all_params.update(own_params)
    name = "/".join([workload, model] + [f"{k}:{v}" for k, v in list(params.items()) + list(own_params.items())])
    c = {"name": name, "workload": workload, "model": model, "params": all_params, "operation": operation,
         "outcome": outcome, "warnings": [], "notes": notes or {"unit": MODELS[model]["unit"]}}
    if outcome != "ok":
        c["message"] = message
        c["aggregates"] = {}
        c["repetitions"] = [{"outcome": outcome, "message": message}]
        if outcome == "limit":
            c["errno"] = 11
        cells.append(c)
        return c
    wall = ns_per_op * operations / 1e9
    agg = {"ns_per_op": summary(ns_per_op), "ops_per_s": summary(1e9 / ns_per_op), "wall_s": summary(wall),
           "cpu_user_s": summary(wall * 0.7), "cpu_sys_s": summary(wall * (0.3 if MODELS[model]["kernel_scheduled"] else 0.02)),
           "ctx_per_op": summary(2.0 if MODELS[model]["kernel_scheduled"] else 0.001),
           "memory_peak_bytes": summary(4 * 1048576 * (3 if model == "go" else 1)),
           "latency_p50_ns": summary(ns_per_op * 2), "latency_p90_ns": summary(ns_per_op * 3),
           "latency_p99_ns": summary(ns_per_op * 8), "latency_p999_ns": summary(ns_per_op * 20),
           "latency_max_ns": summary(ns_per_op * 200)}
    for k, v in (extra or {}).items():
        agg[k] = summary(v)
    metrics = {"operations": operations}
    metrics.update(rep_metrics or {})
    c["aggregates"] = agg
    c["repetitions"] = [{"outcome": "ok", "metrics": metrics}]
    cells.append(c)
    return c


def main():
    # prodcons: every model, 1x1 and 4x4 at three capacities, plus the M:N
    # variants across every core (threads:0, gomaxprocs:0) and the pooled
    # variants of boost-fiber and coro: 11 series.
    for pc in ("1", "4"):
        for cap in ("0", "1", "1024"):
            p = {"producers": pc, "consumers": pc, "capacity": cap, "messages": "50000", "payload": "0"}
            for m in MODELS:
                cell("prodcons", m, p, "message", 80 * SCALE[m] * (2 if cap == "0" else 1))
            cell("prodcons", "fiber", p, "message", 150, own={"threads": "0"})
            cell("prodcons", "go", p, "message", 120, own={"gomaxprocs": "0"})
            cell("prodcons", "coro", p, "message", 140, own={"threads": "0"})
            cell("prodcons", "boost-fiber", p, "message", 160, own={"threads": "0"})
    # counter: message vs lock vs atomic.
    for m in MODELS:
        for mode, f in (("lock", 30), ("atomic", 8), ("message", 120)):
            cell("counter", m, {"units": "2", "increments": "100000", "mode": mode}, "increment", f * (SCALE[m] ** 0.3))
    # pingpong: one round trip is two switches.
    for m in MODELS:
        cell("pingpong", m, {"rounds": "50000"}, "round trip", 100 * SCALE[m])
    # spawn: kernel models stop near 32,000 (pid_max); the others go to a million.
    per_unit = {"process": 150000, "thread": 12288, "uv": 120, "fiber": 4281, "boost-fiber": 17000, "coro": 350,
                "go": 2700}
    for m in MODELS:
        sizes = ["1000", "10000", "100000"] if MODELS[m]["kernel_scheduled"] else ["1000", "10000", "100000", "1000000"]
        for n in sizes:
            if MODELS[m]["kernel_scheduled"] and n == "100000":
                cell("spawn", m, {"units": n}, "unit", outcome="limit",
                     message=f"{'fork' if m == 'process' else 'pthread_create'}: Resource temporarily unavailable "
                             f"(11) after 32051 of 100000 units", notes={"reached": 32051, "unit": MODELS[m]["unit"]})
            else:
                cell("spawn", m, {"units": n}, "unit", 400 * SCALE[m], operations=int(n),
                     extra={"memory_per_unit_bytes": per_unit[m]})
    # echo: lines of code and latency at 10 and 1,000 connections.
    for m in MODELS:
        for conns in ("10", "1000"):
            cell("echo", m, {"connections": conns, "requests": "100000", "loop": "closed"}, "request",
                 2000 * SCALE[m] ** 0.5 * (3 if conns == "1000" and MODELS[m]["kernel_scheduled"] else 1))
    # sleepers: timers.
    for m in MODELS:
        cell("sleepers", m, {"units": "1000", "sleeps": "20", "sleep_ms": "10"}, "sleep", 10_100_000 / 1000)
    # idle: memory against parked connections; the kernel tasks meet their
    # limit at 50,000.
    slope = {"process": 150000, "thread": 20000, "uv": 300, "fiber": 4800, "boost-fiber": 17500, "coro": 900,
             "go": 3000}
    for m in MODELS:
        for conns in (1000, 10000, 50000):
            p = {"connections": str(conns), "trickle_ms": "100"}
            if MODELS[m]["kernel_scheduled"] and conns == 50000:
                cell("idle", m, p, "request", outcome="limit",
                     message="pthread_create: Resource temporarily unavailable (11) after 32051 of 50000 connections")
                continue
            parked = 6e6 + slope[m] * conns * (1.02 if conns == 10000 else 1)
            cell("idle", m, p, "request", 50000, operations=1000, extra={"memory_per_unit_bytes": (parked - 6e6) / conns},
                 rep_metrics={"memory_parked_bytes": parked, "memory_baseline_bytes": 6e6, "memory_units": conns})
    # blocking: bystanders' round trips while two units block 1 ms in a
    # system call; go hands its P off, the single-threaded runtimes stall
    # unless the call is offloaded.
    blocked = {"process": 30e3, "thread": 25e3, "uv": 1.05e6, "fiber": 1.02e6, "boost-fiber": 1.04e6, "coro": 1.03e6,
               "go": 40e3}
    for m in MODELS:
        for offload in ("inline", "pool"):
            p99 = blocked[m] if offload == "inline" else min(blocked[m], 60e3)
            cell("blocking", m, {"blockers": "2", "calls": "200", "delay_us": "1000", "pairs": "2", "offload": offload},
                 "blocking call", 1.1e6, operations=200,
                 extra={"latency_p99_ns": p99, "latency_max_ns": p99 * 2, "blocking_calls_per_s": 1800,
                        "bystander_round_trips_per_s": 1e9 / p99, "os_threads_peak": 8 if m == "go" else 3})
    # fairness: CPU-bound hogs that never yield beside ping-ponging pairs.
    worst = {"process": 4e6, "thread": 4e6, "uv": 50e6, "fiber": 50e6, "boost-fiber": 50e6, "coro": 50e6, "go": 10.5e6}
    for m in MODELS:
        for y in ("never", "slice"):
            w = worst[m] if y == "never" else 1e6
            cell("fairness", m, {"hogs": "2", "work_ms": "50", "budget_ms": "200", "yield": y, "pairs": "2"}, "round trip",
                 20000, operations=5000,
                 extra={"bystander_max_latency_ns": w, "latency_max_ns": w,
                        "jain_index": 0.99 if MODELS[m]["kernel_scheduled"] or m == "go" or y == "slice" else 0.5})
    # core scaling (the scaling preset): skynet over 1, 2, 4, 8 workers of
    # the M:N runtimes on a 2-core machine (4 and 8 oversubscribe it).
    for m in MODELS:
        t = MODELS[m]
        if not t["workers_param"]:
            continue
        for workers in (1, 2, 4, 8):
            speedup = {1: 1.0, 2: 1.7, 4: 1.6, 8: 1.4}[workers] if m != "boost-fiber" else 1.0
            cell("skynet", m, {"leaves": "100000"}, "unit", 100 * SCALE[m] / speedup,
                 own={t["workers_param"]: str(workers)})
    json.dump({"schema": "cmbench-results", "schema_version": 1, "complete": True, "wall_s": 598.0,
               "command": ["build/release/cmbench", "run"],
               "context": {"date": "2026-11-28T09:00:00Z", "host": "dev-vm", "cpu_model": "Test CPU @ 2.0GHz",
                           "cores_online": 2, "cores_available": 2, "kernel": "Linux 6.1.0 x86_64",
                           "compiler": "GNU 12.2.0", "cxx_flags": "-O3 -DNDEBUG", "build_type": "Release",
                           "cmbench_version": "0.1.0", "git_commit": "3333333cccccccccccccccccccccccccccccccc",
                           "git_dirty": False, "governor": None},
               "options": {"preset": "default", "repetitions": 3, "warmup": 1, "timeout_s": 120.0},
               "models": {m: {"summary": m, **t} for m, t in MODELS.items()},
               "cells": cells}, sys.stdout, indent=None)
    sys.stdout.write("\n")


main()
