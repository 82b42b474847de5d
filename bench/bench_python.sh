#!/usr/bin/env bash
# bench/bench_python.sh -- the Python package (padocc's 1.5.1 API over the compiled
# engine) against Python padocc 1.5.1, both run in the same invocation.
#
#   1. `import padocc`: ours (the venv $PADOCC_PYENV, built and installed by
#      scripts/python-tests.sh) and padocc 1.5.1 (/tmp/refenv). Fresh interpreters,
#      run from $BENCH_DIR (no source tree on the path); the import alone is timed
#      in-process with perf_counter; best of $IMPORT_REPS (5). The whole process
#      (interpreter start + import) is timed too, best of 5.
#   2. `GroupOperation(G, workdir).summarise_status()` on $STATUS_N (10 000) projects:
#      the workdir is generated directly (groups/G/proj_codes/main.txt,
#      groups/G/datasets.csv, in_progress/G/<code>/{base-cfg.json,status_log.csv},
#      1-5 status rows per project, 15 % failures, no journal). Constructor +
#      summarise_status timed in-process (output to a file), ours best of 3 in fresh
#      processes, then padocc 1.5.1 once (timeout 600 s) on the same workdir; the
#      per-phase/per-status counts of the two outputs are compared.
#   3. `GroupOperation.run('compute')` on CMIP-like files: 100 small netCDF4 files made
#      by ../shared/tools/make_bench_data.py --variant cmip (tas(time=30, lat=18, lon=36),
#      deflate, time_bnds...), 10 projects of 10 files. For each tool, in its own fresh
#      workdir: init + scan untimed in one process, then `g.run('compute')` timed in a
#      fresh process (in-process time of the call and the process wall). The product
#      of every project is opened (ours' xarray) and the sizes compared.
#   Writes $BENCH_DIR/python-results.json and prints a table. About 3-6 minutes.
#
# Usage (from the repository root, after `bash scripts/python-tests.sh` and
# `bash scripts/refenv.sh`):
#   bash bench/bench_python.sh
# Environment: PADOCC_PYENV [/tmp/padocc-pyenv], REFENV [/tmp/refenv],
#   BENCH_DIR [/tmp/padocc-bench/python], STATUS_N [10000], IMPORT_REPS [5].
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${PADOCC_PYENV:-/tmp/padocc-pyenv}
REFENV=${REFENV:-/tmp/refenv}
BENCH_DIR=${BENCH_DIR:-/tmp/padocc-bench/python}
STATUS_N=${STATUS_N:-10000}
IMPORT_REPS=${IMPORT_REPS:-5}
OURS="$VENV/bin/python"
REF="$REFENV/bin/python"

"$OURS" -c 'import padocc, padocc._padocc' 2>/dev/null ||
  { echo "bench_python: no installed package in $VENV: run scripts/python-tests.sh first" >&2; exit 1; }
"$REF" -c 'import padocc' 2>/dev/null ||
  { echo "bench_python: padocc 1.5.1 not importable in $REFENV: run scripts/refenv.sh" >&2; exit 1; }
mkdir -p "$BENCH_DIR"
cd "$BENCH_DIR"
echo "bench_python: load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores" >&2

# ---------------------------------------------------------------- 1. import
import_times() {  # $1 = interpreter; prints "import_s process_s" (best of IMPORT_REPS)
  "$OURS" - "$1" "$IMPORT_REPS" <<'EOF'
import subprocess, sys, time
py, reps = sys.argv[1], int(sys.argv[2])
imp, proc = [], []
for _ in range(reps):
    t0 = time.perf_counter()
    r = subprocess.run([py, '-c', 'import time; t = time.perf_counter(); import padocc; print(time.perf_counter() - t)'],
                       capture_output=True, text=True, check=True)
    proc.append(time.perf_counter() - t0)
    imp.append(float(r.stdout.split()[-1]))
print(min(imp), min(proc))
EOF
}
echo "bench_python: import padocc (best of $IMPORT_REPS)" >&2
read -r IMP_OURS PROC_OURS < <(import_times "$OURS")
read -r IMP_REF PROC_REF < <(import_times "$REF")

# ---------------------------------------------------------------- 2. summarise_status
G=s$STATUS_N
WD="$BENCH_DIR/status-wd"
echo "bench_python: generating $STATUS_N projects in $WD" >&2
rm -rf "$WD"
"$OURS" - "$WD" "$G" "$STATUS_N" <<'EOF'
import json, os, random, sys
wd, g, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(42)
codes = [f'proj{i:06d}' for i in range(n)]
gdir = os.path.join(wd, 'groups', g)
os.makedirs(os.path.join(gdir, 'proj_codes'))
with open(os.path.join(gdir, 'proj_codes', 'main.txt'), 'w') as f:
    f.write('\n'.join(codes))
with open(os.path.join(gdir, 'datasets.csv'), 'w') as f:
    f.write(''.join(f'{c},/data/{c}/*.nc,,\n' for c in codes))
fails = ['Fatal-ValueError', 'Failed-MemoryError', 'Fatal-KeyError', 'Warning']
for i, c in enumerate(codes):
    d = os.path.join(wd, 'in_progress', g, c)
    os.makedirs(d)
    base = {'proj_code': c, 'pattern': f'/data/{c}/*.nc', 'updates': None, 'removals': None,
            'version_no': '1.0', 'override': {}, 'last_run': [None, None], 'remote': False,
            'disable_CFA': False, 'keep_vars': 'all'}
    with open(os.path.join(d, 'base-cfg.json'), 'w') as f:
        json.dump(base, f)
    rows = ['init,Success,10:00 01/12/26,']
    for phase in ('scan', 'compute', 'validate'):
        if rnd.random() < 0.2:
            break
        st = rnd.choice(fails) if rnd.random() < 0.15 else 'Success'
        rows.append(f'{phase},{st},10:{len(rows):02d} 01/12/26,{i}')
        if st != 'Success' and st != 'Warning':
            break
    with open(os.path.join(d, 'status_log.csv'), 'w') as f:
        f.write('\n'.join(rows))
EOF
SUMMARISE='
import sys, time, contextlib
t0 = time.perf_counter()
from padocc import GroupOperation
t1 = time.perf_counter()
with open(sys.argv[3], "w") as f, contextlib.redirect_stdout(f):
    g = GroupOperation(sys.argv[2], workdir=sys.argv[1], verbose=0)
    g.summarise_status()
t2 = time.perf_counter()
print(t2 - t1, t2 - t0)
'
echo "bench_python: summarise_status, ours (best of 3)" >&2
ST_OURS=
for _ in 1 2 3; do
  read -r s _all < <("$OURS" -c "$SUMMARISE" "$WD" "$G" "$BENCH_DIR/status-ours.txt")
  ST_OURS=$("$OURS" -c "print(min(float(x) for x in '$ST_OURS $s'.split()))")
done
echo "bench_python: summarise_status, padocc 1.5.1 (once)" >&2
ST_REF=$(timeout 600 "$REF" -c "$SUMMARISE" "$WD" "$G" "$BENCH_DIR/status-ref.txt" 2>/dev/null | awk '{print $1}') || ST_REF=timeout
# The counts of both outputs (lines "phase : n" and "- status : n", IDs dropped).
counts() { sed -E 's/ *\(IDs = .*\)//; s/ *\(Variety.*//; s/\[.*\]//; s/ +/ /g' "$1" | grep -E ': [0-9]+ *$' | sed 's/ *$//'; }
if diff <(counts "$BENCH_DIR/status-ours.txt") <(counts "$BENCH_DIR/status-ref.txt") >/dev/null; then
  ST_MATCH=match
else
  ST_MATCH=DIFFER; diff <(counts "$BENCH_DIR/status-ours.txt") <(counts "$BENCH_DIR/status-ref.txt") >&2 || true
fi

# ---------------------------------------------------------------- 3. compute
# The collection's shape (CMIP_* to change it): defaults are 100 small files as
# 10 projects of 10; e.g. CMIP_NTIME=120 CMIP_NLAT=90 CMIP_NLON=180 CMIP_PER_PROJECT=100
# gives one project of 100 files of 7.8 MB (uncompressed) each.
CMIP_NTIME=${CMIP_NTIME:-30}
CMIP_NLAT=${CMIP_NLAT:-18}
CMIP_NLON=${CMIP_NLON:-36}
CMIP_PER_PROJECT=${CMIP_PER_PROJECT:-10}
DATA="$BENCH_DIR/cmip-data-t${CMIP_NTIME}-${CMIP_NLAT}x${CMIP_NLON}-per${CMIP_PER_PROJECT}"
if [ ! -f "$DATA/BENCH_INFO.json" ]; then
  echo "bench_python: making 100 small CMIP-like files in $DATA" >&2
  rm -rf "$DATA"
  "$REF" "$REPO/../shared/tools/make_bench_data.py" --variant cmip --out "$DATA.tmp" --files 100 \
    --ntime "$CMIP_NTIME" --nlat "$CMIP_NLAT" --nlon "$CMIP_NLON" --jobs 2 >"$BENCH_DIR/make_bench_data.log" 2>&1
  # 10 projects of 10 consecutive files.
  "$OURS" - "$DATA.tmp" "$CMIP_PER_PROJECT" <<'EOF'
import os, sys
d = sys.argv[1]
per = int(sys.argv[2])
files = [l for l in open(os.path.join(d, 'files.txt')).read().split('\n') if l]
for i, p in enumerate(files):
    sub = os.path.join(d, f'p{i // per:02d}')
    os.makedirs(sub, exist_ok=True)
    os.rename(p, os.path.join(sub, os.path.basename(p)))
EOF
  mv "$DATA.tmp" "$DATA"
fi
NPROJ=$(( (100 + CMIP_PER_PROJECT - 1) / CMIP_PER_PROJECT ))
printf '' >"$BENCH_DIR/cmip.csv"
for p in "$DATA"/p*; do echo "cmip_$(basename "$p"),$p/*.nc,," >>"$BENCH_DIR/cmip.csv"; done
PREPARE='
import sys
from padocc import GroupOperation
g = GroupOperation("cmip", workdir=sys.argv[1], verbose=0)
g.init_from_file(sys.argv[2])
r = g.run("scan")
assert r == {"Success": int(sys.argv[3])}, r
'
COMPUTE='
import json, sys, time
t0 = time.perf_counter()
from padocc import GroupOperation
g = GroupOperation("cmip", workdir=sys.argv[1], verbose=0)
t1 = time.perf_counter()
r = g.run("compute")
t2 = time.perf_counter()
print(json.dumps({"run_s": t2 - t1, "result": r}))
'
compute_one() {  # $1 = interpreter, $2 = workdir; prints "run_s process_s result"
  rm -rf "$2"
  "$1" -c "$PREPARE" "$2" "$BENCH_DIR/cmip.csv" "$NPROJ" >/dev/null 2>&1
  local t0 t1 out
  t0=$(date +%s.%N)
  out=$("$1" -c "$COMPUTE" "$2" 2>/dev/null | tail -1)
  t1=$(date +%s.%N)
  echo "$out" | "$OURS" -c "import json,sys; d=json.load(sys.stdin); print(d['run_s'], $t1-$t0, json.dumps(d['result']).replace(' ',''))"
}
echo "bench_python: run('compute'), ours" >&2
read -r CO_OURS CP_OURS CR_OURS < <(compute_one "$OURS" "$BENCH_DIR/cmip-wd-ours")
echo "bench_python: run('compute'), padocc 1.5.1" >&2
read -r CO_REF CP_REF CR_REF < <(compute_one "$REF" "$BENCH_DIR/cmip-wd-ref")
# Open every project's product from both workdirs (ours' xarray) and compare sizes.
CO_MATCH=$("$OURS" - "$BENCH_DIR" "$NPROJ" "$CMIP_NTIME" "$CMIP_PER_PROJECT" <<'EOF'
import sys
from padocc import ProjectOperation
b = sys.argv[1]
nproj, ntime, per = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
bad = []
for i in range(nproj):
    code = f'cmip_p{i:02d}'
    sizes = [dict(ProjectOperation(code, workdir=f'{b}/cmip-wd-{w}', groupID='cmip').kfile.open_dataset().sizes)
             for w in ('ours', 'ref')]
    if sizes[0] != sizes[1] or sizes[0].get('time') != ntime * per:
        bad.append((code, sizes))
print('match' if not bad else f'DIFFER {bad}')
EOF
)

# ---------------------------------------------------------------- report
"$OURS" - "$BENCH_DIR/python-results.json" <<EOF
import json, sys
r = {
  'load': open('/proc/loadavg').read().split()[:3],
  'import_s': {'ours': $IMP_OURS, 'padocc_1_5_1': $IMP_REF},
  'import_process_s': {'ours': $PROC_OURS, 'padocc_1_5_1': $PROC_REF},
  'summarise_status_s': {'projects': $STATUS_N, 'ours': $ST_OURS, 'padocc_1_5_1': '$ST_REF', 'counts': '$ST_MATCH'},
  'compute': {'files': 100, 'projects': $NPROJ, 'shape': [$CMIP_NTIME, $CMIP_NLAT, $CMIP_NLON],
              'ours': {'run_s': $CO_OURS, 'process_s': $CP_OURS, 'result': $CR_OURS},
              'padocc_1_5_1': {'run_s': $CO_REF, 'process_s': $CP_REF, 'result': $CR_REF},
              'products': '$CO_MATCH'},
}
json.dump(r, open(sys.argv[1], 'w'), indent=1)
def ratio(a, b):
    try: return f'{float(b) / float(a):.0f}x'
    except Exception: return '-'
print(f"{'':34} {'ours':>10} {'padocc 1.5.1':>13} {'ratio':>8}")
for name, a, b in [('import padocc (in-process)', $IMP_OURS, $IMP_REF),
                   ('import padocc (whole process)', $PROC_OURS, $PROC_REF),
                   ('summarise_status, $STATUS_N projects', $ST_OURS, '$ST_REF'),
                   ("run('compute'), $NPROJ x $CMIP_PER_PROJECT files", $CO_OURS, $CO_REF),
                   ("  same, whole process", $CP_OURS, $CP_REF)]:
    try: b = f'{float(b):.3f}'
    except ValueError: pass
    print(f'{name:34} {float(a):10.3f} {b:>13} {ratio(a, b):>8}')
cr_ours, cr_ref = $CR_OURS, $CR_REF
print(f"summarise_status counts: $ST_MATCH; compute results: ours {cr_ours}, 1.5.1 {cr_ref}; products: $CO_MATCH")
EOF
