#!/bin/sh
# Google Benchmark's own tools/compare.py reads what `cmbench export --format
# gbench` writes, unmodified: for each pair of results files, both are
# exported, `compare.py benchmarks A B` must exit 0, and every benchmark
# present in both exports must appear in its table.
#
#   gbench_compare_check.sh CMBENCH COMPARE_PY A.json B.json [A2.json B2.json ...]
#
# Exits 77 (ctest's skip) when compare.py or the Python modules it imports
# (scipy, numpy: Debian's libbenchmark-tools and python3-scipy) are absent,
# since the check is then impossible rather than failed. CMBENCH_PYTHON names
# another interpreter (a virtual environment with scipy, say): on Debian 12,
# python3-scipy cannot be installed beside libboost1.81-dev, which cmbench
# builds with (its python3-pythran needs libboost-dev, that is 1.74).
set -eu
python=${CMBENCH_PYTHON:-python3}

cmbench=$1
compare=$2
shift 2

if [ ! -f "$compare" ]; then
  echo "gbench_compare: skipped: no $compare (Debian package libbenchmark-tools)"
  exit 77
fi
if ! "$python" -c 'import scipy.stats, numpy' 2>/dev/null; then
  echo "gbench_compare: skipped: compare.py needs scipy and numpy in $python"
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
failures=0

while [ $# -ge 2 ]; do
  a=$1
  b=$2
  shift 2
  echo "== $a vs $b"
  "$cmbench" export "$a" --format gbench --out "$work/a.json"
  "$cmbench" export "$b" --format gbench --out "$work/b.json"
  # compare.py imports its gbench package from beside itself; run it from
  # anywhere with the interpreter the skip test above checked.
  if ! "$python" "$compare" --no-color benchmarks "$work/a.json" "$work/b.json" >"$work/table.txt" 2>"$work/stderr.txt"; then
    echo "compare.py failed:"
    cat "$work/table.txt" "$work/stderr.txt"
    failures=$((failures + 1))
    continue
  fi
  cat "$work/table.txt"
  # A Python traceback or warning on stderr is shown, not failed on: numpy
  # warns about the logarithm of 0 when a failed cell's zero time enters the
  # geometric mean, as it does for Google Benchmark's own SkipWithError runs.
  if [ -s "$work/stderr.txt" ]; then
    echo "compare.py said on stderr:"
    cat "$work/stderr.txt"
  fi

  # The names in both exports, in order; each must start a row of the table
  # (names hold no spaces, so the first column is the whole name).
  "$python" - "$work/a.json" "$work/b.json" >"$work/names.txt" <<'EOF'
import json, sys
a = [e["name"] for e in json.load(open(sys.argv[1]))["benchmarks"]]
b = {e["name"] for e in json.load(open(sys.argv[2]))["benchmarks"]}
for name in dict.fromkeys(a):
    if name in b:
        print(name)
EOF
  if [ ! -s "$work/names.txt" ]; then
    echo "no benchmark is in both exports: nothing was compared"
    failures=$((failures + 1))
    continue
  fi
  awk '{ print $1 }' "$work/table.txt" | sort -u >"$work/rows.txt"
  missing=$(sort -u "$work/names.txt" | comm -23 - "$work/rows.txt")
  if [ -n "$missing" ]; then
    echo "missing from compare.py's table:"
    echo "$missing"
    failures=$((failures + 1))
  else
    echo "all $(wc -l <"$work/names.txt") benchmarks in both exports compared"
  fi
done

[ "$failures" -eq 0 ]
