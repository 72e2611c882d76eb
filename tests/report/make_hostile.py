#!/usr/bin/env python3
"""Writes hostile.json, the report tests' results file whose every text field
carries markup, script and Markdown meant to break out of its context.

    python3 tests/report/make_hostile.py > tests/report/hostile.json

From fixture.json (prodcons and counter, under hostile workload names) and
fixture2.json's pingpong and spawn cells (under their own workload names and
parameter names, so that the taxonomy's lookups find them and print their
hostile details). A text becomes the text plus a payload that names its
field, so equal texts stay equal (a model's cells still group) and a leak
says where it came from. Kept as they are: the schema name, the outcome
"ok", metric names, and parameter values that are numbers (a sweep needs
numbers; a number cannot carry markup). report_test checks that every other
string of the file carries a payload.
"""
import copy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def payload(tag):
    return (
        f"\"'><img src=x onerror=alert('{tag}')><script>alert('{tag}')</script>"
        f"<!--<script>alert('{tag}')</script>--><b id=\"injected-{tag}\">b</b>"
        f"|pipe\nline\r\u2028\u2029{{{{title}}}}{{{{{{specs_json}}}}}}`*_x_~~s~~"
        f"[link](javascript:alert('{tag}'))![i](x)&amp;#{tag}\u0000"
    )


def h(text, tag):
    return f"{text}{payload(tag)}"


def numeric(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def hostile_cell(cell, keep_workload):
    c = copy.deepcopy(cell)
    c["model"] = h(c["model"], "model")
    if not keep_workload:
        c["workload"] = h(c["workload"], "workload")
    c["name"] = h(c["name"], "cell-name")
    c["operation"] = h(c["operation"], "operation")
    params = {}
    for k, v in c["params"].items():
        key = k if keep_workload else h(k, "param-key")
        params[key] = v if numeric(v) else h(v, "param-value")
    c["params"] = params
    c["notes"] = {h(k, "note-key"): (v if not isinstance(v, str) else h(v, "note-value")) for k, v in c["notes"].items()}
    c["warnings"] = [h(w, "warning") for w in c.get("warnings", [])]
    # The outcome is one of six words; the validator refuses any other, so
    # only the message around it carries a payload.
    if c["outcome"] != "ok":
        c["message"] = h(c["message"], "message")
        for r in c["repetitions"]:
            if "message" in r:
                r["message"] = c["message"]
    return c


def main():
    one = json.load(open(os.path.join(HERE, "fixture.json")))
    two = json.load(open(os.path.join(HERE, "fixture2.json")))
    doc = copy.deepcopy(one)
    doc["command"] = [h(w, "command") for w in doc["command"]]
    ctx = doc["context"]
    for k, v in list(ctx.items()):
        if isinstance(v, str):
            ctx[k] = h(v, f"context-{k}")
    ctx["governor"] = h("performance", "context-governor")
    ctx["cpuidle"] = h("haltpoll, guest_halt_poll_ns=0", "context-cpuidle")
    ctx["libraries"] = {h(k, "library-name"): h(v, "library-version") for k, v in ctx["libraries"].items()}
    ctx["kernel_limits"] = {h("pid_max", "limit-name"): h("32768", "limit-value")}
    doc["options"]["preset"] = h(doc["options"]["preset"], "preset")
    doc["models"] = {
        h(name, "model"): {k: h(v, f"taxonomy-{k}") for k, v in facts.items()} for name, facts in one["models"].items()
    }
    doc["cells"] = [hostile_cell(c, False) for c in one["cells"]]
    doc["cells"] += [hostile_cell(c, True) for c in two["cells"] if c["workload"] in ("pingpong", "spawn")]
    json.dump(doc, sys.stdout, indent=1, ensure_ascii=True)
    sys.stdout.write("\n")


main()
