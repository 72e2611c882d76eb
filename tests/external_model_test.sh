#!/bin/sh
# The external-model example end to end, as its author would use it:
# `cmake --install` cmbench into a fresh prefix, configure and build
# examples/external-model against that prefix (find_package(cmbench)), run a
# tiny matrix with --external next to a built-in model and check that the
# example's cells are ok (verified by the workloads' own verifiers), then
# check that bad manifests are refused with one line naming the field and
# exit status 2.
#   external_model_test.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
source=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cmbench-external-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "external_model_test: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$source/examples/external-model" -B "$tmp/example" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/example" >/dev/null
manifest=$tmp/example/threadpool.json
cmbench=$tmp/prefix/bin/cmbench

# The installed cmbench finds go without a flag, and the example with one.
"$cmbench" list --external "$manifest" > "$tmp/list.txt"
grep -q '^  go ' "$tmp/list.txt" || fail "the installed cmbench does not list go"
grep -q '^  threadpool ' "$tmp/list.txt" || fail "cmbench list --external does not list threadpool"

"$cmbench" run --external "$manifest" --models threadpool,thread --workloads prodcons,counter --preset quick \
  --param messages=2000 --param increments=2000 --repetitions 1 --warmup 0 --quiet --out "$tmp/run.json" \
  || fail "the run exited with status $?"
python3 - "$tmp/run.json" <<'PY' || fail "the example's cells are not all ok"
import json, sys
cells = json.load(open(sys.argv[1]))["cells"]
mine = [c for c in cells if c["model"] == "threadpool"]
workloads = {c["workload"] for c in mine}
bad = [(c["name"], c["outcome"]) for c in mine if c["outcome"] != "ok"]
print(f"{len(mine)} threadpool cells, workloads {sorted(workloads)}, not ok: {bad}")
sys.exit(0 if mine and workloads == {"prodcons", "counter"} and not bad else 1)
PY

# The report finds the example's sources through its manifest: lines of
# code, not n/a.
"$cmbench" report "$tmp/run.json" --external "$manifest" --out "$tmp/report" >/dev/null
grep '^| lines of code |' "$tmp/report/report.md" > "$tmp/loc.txt" || fail "the report has no lines of code"
! grep -q 'n/a' "$tmp/loc.txt" || fail "the report's lines of code: $(cat "$tmp/loc.txt")"

# Bad manifests: each is refused with exit status 2 and one line on stderr
# naming the field.
refused() {  # NAME FIELD PYTHON-EDIT
  # Beside the good one, so that its executable is found as before.
  bad=$tmp/example/bad-$1.json
  python3 - "$manifest" "$bad" "$3" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(m, open(sys.argv[2], "w"))
PY
  status=0
  "$cmbench" run --external "$bad" --models threadpool --workloads counter --list-cells \
    >/dev/null 2>"$tmp/err-$1.txt" || status=$?
  [ "$status" = 2 ] || fail "$1: exit status $status, not 2"
  [ "$(wc -l < "$tmp/err-$1.txt")" = 1 ] || fail "$1: not one line: $(cat "$tmp/err-$1.txt")"
  grep -qF "field '$2'" "$tmp/err-$1.txt" || fail "$1: the line does not name field '$2': $(cat "$tmp/err-$1.txt")"
  echo "$1: $(cat "$tmp/err-$1.txt")"
}
refused missing-field summary 'del m["summary"]'
refused wrong-type name 'm["name"] = 5'
refused unknown-workload 'workloads[2]' 'm["workloads"].append("nosuch")'
refused missing-executable executable 'm["executable"] = "no-such-program"'
refused newer-protocol protocol 'm["protocol"] = 99'

# A program that reports ok with another operation count than the spec's is
# `invalid`: the harness re-checks what the protocol lets it (exit 1).
cat > "$tmp/example/liar" <<'SH'
#!/bin/sh
fd=1
while [ $# -gt 0 ]; do
  case $1 in --result-fd) fd=$2; shift ;; esac
  shift
done
eval "printf '%s' '{\"outcome\": \"ok\", \"metrics\": {\"operations\": 7, \"wall_ns\": 1000}, \"notes\": {}}' >&$fd"
SH
chmod +x "$tmp/example/liar"
python3 - "$manifest" "$tmp/example/liar.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["name"], m["executable"] = "liar", "liar"
json.dump(m, open(sys.argv[2], "w"))
PY
status=0
"$cmbench" run --external "$tmp/example/liar.json" --models liar --workloads counter --param mode=atomic \
  --preset quick --repetitions 1 --warmup 0 --quiet --out "$tmp/liar.json" 2>/dev/null || status=$?
[ "$status" = 1 ] || fail "liar: exit status $status, not 1"
python3 - "$tmp/liar.json" <<'PY' || fail "liar: a wrong operation count was not invalid"
import json, sys
cells = json.load(open(sys.argv[1]))["cells"]
sys.exit(0 if cells and all(c["outcome"] == "invalid" for c in cells) else 1)
PY
echo "external_model_test: ok"
