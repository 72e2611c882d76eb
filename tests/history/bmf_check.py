#!/usr/bin/env python3
"""Validates `cmbench export --format bmf` against Bencher's documented JSON
schema (draft 07, with python3-jsonschema), then checks what the schema
cannot: the limits Bencher's docs state (a benchmark name of at most 1024
characters, a measure name of at most 64), every ok cell and every metric of
its repetitions present, and each value the median of the repetitions with
their minimum and maximum as lower and upper values, recomputed here.

    bmf_check.py CMBENCH SCHEMA RESULTS.json [RESULTS.json ...]

Exit 0 when every file passes, 1 otherwise; 77 (skipped) without jsonschema.
"""
import json
import statistics
import subprocess
import sys

try:
    import jsonschema
except ImportError:
    print("bmf_check: python3-jsonschema is missing: run scripts/setup", file=sys.stderr)
    sys.exit(77)


def repetition_values(metrics):
    out = {}
    for key, value in metrics.items():
        if key == "latency_ns" and isinstance(value, dict):
            for p in ("p50", "p90", "p99", "p999", "max"):
                if isinstance(value.get(p), (int, float)):
                    out[f"latency_{p}_ns"] = float(value[p])
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if key == "memory_peak_bytes" and value < 0:
                continue
            out[key] = float(value)
    return out


def check(cmbench, schema, path):
    problems = []
    out = subprocess.run([cmbench, "export", path, "--format", "bmf"], capture_output=True, text=True)
    if out.returncode != 0:
        return [f"{path}: export failed ({out.returncode}): {out.stderr.strip()}"]
    bmf = json.loads(out.stdout)
    try:
        jsonschema.Draft7Validator(schema).validate(bmf)
    except jsonschema.ValidationError as e:
        problems.append(f"{path}: not valid BMF: {e.message} at {list(e.absolute_path)}")
    doc = json.load(open(path))
    expected = {}
    for cell in doc["cells"]:
        if cell.get("outcome") != "ok":
            if cell["name"] in bmf:
                problems.append(f"{path}: {cell['name']} was {cell.get('outcome')} but is exported")
            continue
        values = {}
        for rep in cell.get("repetitions", []):
            if rep.get("outcome") == "ok":
                for k, v in repetition_values(rep.get("metrics", {})).items():
                    values.setdefault(k, []).append(v)
        if values:
            expected[cell["name"]] = values
    if set(expected) != set(bmf):
        problems.append(f"{path}: benchmarks differ: missing {set(expected) - set(bmf)}, extra {set(bmf) - set(expected)}")
    for name, measures in bmf.items():
        if len(name) > 1024:
            problems.append(f"{path}: benchmark name longer than 1024 characters: {name[:60]}...")
        want = expected.get(name, {})
        if set(measures) != set(want):
            problems.append(f"{path}: {name}: measures differ: {sorted(set(measures) ^ set(want))}")
        for measure, m in measures.items():
            if len(measure) > 64:
                problems.append(f"{path}: measure name longer than 64 characters: {measure}")
            v = want.get(measure)
            if not v:
                continue
            for key, exp in (("value", statistics.median(v)), ("lower_value", min(v)), ("upper_value", max(v))):
                if abs(m.get(key, float("nan")) - exp) > 1e-9 * max(1.0, abs(exp)):
                    problems.append(f"{path}: {name} {measure} {key} is {m.get(key)}, expected {exp}")
    count = sum(len(m) for m in bmf.values())
    print(f"bmf_check: {path}: {len(bmf)} benchmarks, {count} measures, valid" if not problems else "", end="")
    print()
    return problems


def main():
    cmbench, schema_path, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    schema = json.load(open(schema_path))
    jsonschema.Draft7Validator.check_schema(schema)
    # The validator must be able to say no: a measure without its value.
    if jsonschema.Draft7Validator(schema).is_valid({"cell": {"ns_per_op": {"lower_value": 1.0}}}):
        print("bmf_check: FAIL: the schema accepts a measure without a value", file=sys.stderr)
        sys.exit(1)
    problems = []
    for f in files:
        problems += check(cmbench, schema, f)
    for p in problems:
        print(f"bmf_check: FAIL: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)


main()
