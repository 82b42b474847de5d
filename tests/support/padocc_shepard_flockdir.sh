#!/usr/bin/env bash
# Build a SHEPARD flock_dir written by the reference padocc 1.5.1 (`shepard batch`,
# serial mode), for tests that check we read (and continue) padocc's own flocks.
#
#   tests/support/padocc_shepard_flockdir.sh DEST
#
# DEST must be absent or empty, and its path must contain no whitespace
# (padocc shells out to `mv`/`rm` with unquoted paths).  Result:
#
#   DEST/conf.yaml             the SHEPARD config (flock_dir, complete_dir, sweep_dir, cache_dir, ...)
#   DEST/flock/                the flock_dir after passes 1-3: one flock SHEPARD_<d>_<m>_<Y>_<H><M><S>
#                              (unpadded, e.g. SHEPARD_6_12_2026_4334) with projects agg1d, rain1, rain2,
#                              each at validate,(V>K)Warn-...; plus rejected/ (empty) and shp_logs/ (--autolog)
#   DEST/snapshots/pass1/      copy of the flock_dir after pass 1 (manifests ingested: init + scan, Success)
#   DEST/snapshots/pass2/      ... after pass 2 (compute,Success)
#   DEST/snapshots/pass3/      ... after pass 3 (validate, same as DEST/flock)
#   DEST/completed/            pass 4 (validate -> complete) run on a copy of DEST/flock: padocc completes the
#                              flock and DELETES it, so completed/flock has empty groups/ and in_progress/, and
#                              completed/complete/{data,reports,summaries} holds padocc's products.
#   DEST/passes.txt            one line per pass: pass=N rc=R secs=S <proj>=<last status row phase,status> ...
#   DEST/shepard.log           everything shepard printed
#
# The order of codes in proj_codes/main.txt is padocc's glob order of cache_dir (file-system
# dependent), and the status_log jobid column is the index in that order; the group name and the
# timestamps come from the clock.  Everything else is deterministic.
#
# Environment: PADOCC_REFENV (default /tmp/refenv, made by ../shared/tools/refenv-setup.sh),
#              PADOCC_SHEPARD_TIMEOUT (seconds per pass, default 300; a pass takes ~2-4 s).
# Exit: 0 ok (one summary line on stdout); 1 padocc's shepard did not create a flock with
#       projects (details on stderr); 2 usage / bad DEST / missing test data; 3 reference env missing.
set -u -o pipefail

die() { code=$1; shift; echo "padocc_shepard_flockdir: $*" >&2; exit "$code"; }

[ $# -eq 1 ] || die 2 "usage: $0 DEST"
DEST=$1
case $DEST in *[[:space:]]*) die 2 "DEST must not contain whitespace: '$DEST'";; esac
mkdir -p "$DEST" || die 2 "cannot create $DEST"
DEST=$(cd "$DEST" && pwd) || die 2 "cannot enter $DEST"
[ -z "$(ls -A "$DEST")" ] || die 2 "DEST $DEST is not empty"

SHARED=$(cd "$(dirname "$0")/../../../shared" 2>/dev/null && pwd) \
    || die 2 "shared directory not found at $(dirname "$0")/../../../shared"
SERIES=$SHARED/testdata/series

REFENV=${PADOCC_REFENV:-/tmp/refenv}
SHEPARD=$REFENV/bin/shepard
TIMEOUT=${PADOCC_SHEPARD_TIMEOUT:-300}
[ -x "$SHEPARD" ] || die 3 "$SHEPARD not found; run: bash $SHARED/tools/refenv-setup.sh"
ver=$("$REFENV/bin/python" -c 'import importlib.metadata as m; print(m.version("padocc"))' 2>/dev/null) \
    || die 3 "padocc is not importable in $REFENV"
[ "$ver" = "1.5.1" ] || die 3 "expected padocc 1.5.1 in $REFENV, found $ver"

# Keep padocc serial and local whatever the caller's environment holds.
unset SLURM_ARRAY_JOB_ID SLURM_ARRAY_TASK_ID SLURM_JOB_ID LOTUS_CFG WORKDIR
export VIRTUAL_ENV=$REFENV PYTHONDONTWRITEBYTECODE=1

mkdir -p "$DEST"/{flock,sweep,cache,complete,snapshots}
LOG=$DEST/shepard.log
PASSES=$DEST/passes.txt
: >"$LOG"; : >"$PASSES"

write_conf() { # $1 = base dir holding flock/ sweep/ cache/ complete/
    cat >"$1/conf.yaml" <<EOF
flock_dir: $1/flock
batch_limit: 100
complete_dir: $1/complete
obliterate_quarantine: false
sweep_dir: $1/sweep
cache_dir: $1/cache
flock_size_limit: 100
flock_limit: 20
deployment_label: SHEPARD
EOF
}
# common_valid is left out on purpose: padocc applies the bypass file only to the FIRST project
# of a serial group run (group.py pops run_kwargs['input_file'] inside the per-project loop),
# which would make the validate statuses depend on the glob order.
write_conf "$DEST"

# Manifests: <proj>.txt = absolute paths of one series, one per line.
mk_manifest() { # proj, glob...
    local proj=$1; shift
    local f
    for f in "$@"; do [ -f "$f" ] || die 2 "test data missing: $f"; done
    printf '%s\n' "$@" | LC_ALL=C sort >"$DEST/sweep/$proj.txt"
}
mk_manifest rain1 "$SERIES"/padocc-rain/example1.*.nc
mk_manifest rain2 "$SERIES"/padocc-rain/example2.*.nc
mk_manifest agg1d "$SERIES"/padocc-1DAgg/file*.nc

last_rows() { # flock_dir -> "proj=phase,status ..." for every project of every flock
    local fd=$1 st proj
    for st in "$fd"/in_progress/*/*/status_log.csv; do
        [ -f "$st" ] || continue
        proj=$(basename "$(dirname "$st")")
        printf ' %s=%s' "$proj" "$(tail -n 1 "$st" | cut -d, -f1,2)"
    done
}

run_pass() { # n base_dir
    local n=$1 base=$2 rc t0 t1 secs
    echo "===== pass $n: shepard batch --conf $base/conf.yaml --autolog -v" >>"$LOG"
    t0=$(date +%s.%N)
    (cd "$base" && timeout --kill-after=10 "$TIMEOUT" "$SHEPARD" batch --conf "$base/conf.yaml" --autolog -v) >>"$LOG" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
    [ $rc -eq 124 ] && echo "===== pass $n TIMED OUT after ${TIMEOUT}s" >>"$LOG"
    echo "pass=$n rc=$rc secs=$secs$(last_rows "$base/flock")" >>"$PASSES"
    PASS_RC[$n]=$rc
    PASS_SECS[$n]=$secs
    return $rc
}

declare -a PASS_RC PASS_SECS
ok=0
# Pass 1 ingests the manifests (init) and scans; 2 computes; 3 validates.
for n in 1 2 3; do
    run_pass "$n" "$DEST" && ok=$((ok + 1))
    cp -a "$DEST/flock" "$DEST/snapshots/pass$n"
    [ "${PASS_RC[$n]}" -eq 0 ] || break
done

# The check: at least one flock (groups/<G>/proj_codes/main.txt) listing projects that have a status_log.
group="" nproj=0
for main in "$DEST"/flock/groups/*/proj_codes/main.txt; do
    [ -s "$main" ] || continue
    g=$(basename "$(dirname "$(dirname "$main")")")
    case $g in shp_sideline|shp_quarantine) continue;; esac
    n=0
    while IFS= read -r code || [ -n "$code" ]; do
        [ -n "$code" ] && [ -f "$DEST/flock/in_progress/$g/$code/status_log.csv" ] && n=$((n + 1))
    done <"$main"
    if [ "$n" -gt 0 ]; then group=$g nproj=$n; break; fi
done
if [ -z "$group" ]; then
    {
        echo "padocc_shepard_flockdir: padocc 1.5.1 shepard did not create a flock with projects in $DEST/flock"
        echo "--- passes:"; cat "$PASSES"
        echo "--- last 40 lines of $LOG:"; tail -n 40 "$LOG"
    } >&2
    exit 1
fi

# Pass 4 (validate -> complete) on a copy, because padocc deletes a flock once it is complete.
if [ "$ok" -eq 3 ]; then
    C=$DEST/completed
    mkdir -p "$C"/{sweep,cache,complete}
    cp -a "$DEST/flock" "$C/flock"
    write_conf "$C"
    run_pass 4 "$C" && ok=$((ok + 1))
fi

npass=$(wc -l <"$PASSES")
if [ "$ok" -ne "$npass" ]; then
    echo "padocc_shepard_flockdir: warning: a shepard pass failed, see $PASSES and $LOG" >&2
fi
echo "padocc shepard flock_dir: $DEST/flock group=$group projects=$nproj passes_ok=$ok/$npass secs=$(IFS=,; echo "${PASS_SECS[*]}")$(last_rows "$DEST/flock")"
