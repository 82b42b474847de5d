#!/usr/bin/env bash
# bench/bench_packing.sh -- a phase over a group of many tiny projects on the real
# local SLURM: projects packed into few tasks (padocc-rs's plan) against one project
# per task (how padocc 1.5.1's --parallel runs them), in the same run.
#
# What it does:
#   1. Data: PACK_N (10 000) copies of samples/padocc-1DAgg/file0.nc (11 kB) at
#      distinct paths, and a datasets.csv with one project per file (kept between runs).
#   2. Starts the local SLURM (slurm/start-local-slurm.sh; idempotent).
#   3. For each mode, on a fresh working directory: `init`, then
#      `scan -G g --parallel --scheduler slurm --config <mode>.toml --format json`;
#      the wall time runs from just before that submission until `squeue` lists none
#      of its jobs. Then `status --format json` must show PACK_N projects at
#      scan Success, else the mode is marked failed.
#        packed        the default plan: scan's 5 s estimate per project packed into
#                      tasks of pack_seconds = 600 (120 projects a task: 84 tasks)
#        one-per-task  pack_seconds = 0.0001: PACK_N tasks of one project each
#      Both ask for floor_mem_mb = 100, so the node's memory does not limit how many
#      tasks run at once (its CPUs do: 1 CPU a task).
#   4. Writes $BENCH_DIR/packing-results.json and a table: tasks, wall, projects/s,
#      and the ratio one-per-task / packed (target >= 50x, with <= 100 tasks).
#
# Usage (from the repository root):
#   bash bench/bench_packing.sh                        # 10 000 projects (~40 min: the
#                                                      #  one-per-task mode is most of it)
#   PACK_N=500 bash bench/bench_packing.sh             # quick smoke test
#   PACK_MODES=packed bash bench/bench_packing.sh      # one mode only
#
# Environment (all optional):
#   BENCH_DIR   results root                                  [/tmp/padocc-bench]
#   PACK_DIR    data + working directories                    [$BENCH_DIR/packing]
#   PACK_N      projects                                      [10000]
#   PACK_MODES  modes to run, in order                        ["packed one-per-task"]
#   PACK_ONE_N  projects of the one-per-task mode (the first ones of the group);
#               below PACK_N its wall is extrapolated linearly to PACK_N and the
#               report says so                                  [PACK_N]
#   PADOCC_BIN  binary under test          [<repo>/target/release/padocc]
#
# Notes:
#   * The local SLURM runs 2 to 4 one-project tasks a second on this 2-core machine
#     (0.49 s a task over 200 tasks, 0.24 s over 1000), so 10 000 take 40 to 80 min;
#     PACK_ONE_N=1000 measures the rate on 1000 tasks and extrapolates linearly.
#   * Needs root (the local SLURM runs as root here) and runs no cargo.
#   * The tiny files are in the page cache after the first mode: this measures the
#     scheduler and per-task costs, not I/O. The one-per-task mode runs our worker
#     (about 2 ms to start); padocc 1.5.1 also pays ~1.5 s of imports per task, so
#     against padocc itself the ratio would be larger.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/padocc-bench}
PACK_DIR=${PACK_DIR:-$BENCH_DIR/packing}
PACK_N=${PACK_N:-10000}
PACK_MODES=${PACK_MODES:-packed one-per-task}
PACK_ONE_N=${PACK_ONE_N:-$PACK_N}
PADOCC_BIN=${PADOCC_BIN:-$REPO/target/release/padocc}
SAMPLE=$REPO/samples/padocc-1DAgg/file0.nc
RES=$PACK_DIR/results

log() { printf '[bench_packing %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'bench_packing.sh: error: %s\n' "$*" >&2; exit 1; }

[[ -x "$PADOCC_BIN" ]] || die "binary not found: $PADOCC_BIN (cargo build --release first; this script never builds)"
[[ -f "$SAMPLE" ]] || die "sample missing: $SAMPLE"
[[ "$PACK_N" =~ ^[1-9][0-9]*$ ]] || die "PACK_N must be a positive integer"
mkdir -p "$PACK_DIR/data" "$RES"

make_data() {
    local csv=$PACK_DIR/datasets-$PACK_N.csv i f
    if [[ ! -s $csv ]]; then
        log "making $PACK_N tiny projects in $PACK_DIR/data"
        for (( i = 0; i < PACK_N; i++ )); do
            f=$(printf '%s/data/f%05d.nc' "$PACK_DIR" "$i")
            [[ -f $f ]] || cp "$SAMPLE" "$f"
            printf 'p%05d,%s,,\n' "$i" "$f"
        done > "$csv.tmp"
        mv "$csv.tmp" "$csv"
    fi
    echo "$csv"
}

run_mode() {   # run_mode MODE CSV -> appends one JSON line to $RES/modes.jsonl
    local mode=$1 csv=$2 wd=$PACK_DIR/wd-$1 cfg=$PACK_DIR/$1.toml t0 t1 jobs n_tasks left n=$PACK_N
    if [[ $mode == one-per-task && $PACK_ONE_N -lt $PACK_N ]]; then
        n=$PACK_ONE_N
        head -n "$n" "$csv" > "$PACK_DIR/datasets-first-$n.csv"
        csv=$PACK_DIR/datasets-first-$n.csv
    fi
    case $mode in
        packed) printf '[resources]\nfloor_mem_mb = 100\n' > "$cfg" ;;
        one-per-task) printf '[resources]\nfloor_mem_mb = 100\npack_seconds = 0.0001\n' > "$cfg" ;;
        *) die "unknown mode $mode" ;;
    esac
    rm -rf -- "$wd"
    "$PADOCC_BIN" -w "$wd" init -G g -i "$csv" -q
    t0=$EPOCHREALTIME
    "$PADOCC_BIN" -w "$wd" scan -G g --parallel --scheduler slurm --config "$cfg" --format json > "$RES/$mode-submit.json"
    jobs=$(python3 -c 'import json,sys; print(",".join(s["job_id"] for s in json.load(open(sys.argv[1]))["submissions"]))' "$RES/$mode-submit.json")
    n_tasks=$(python3 -c 'import json,sys; print(sum(s["tasks"] for s in json.load(open(sys.argv[1]))["submissions"]))' "$RES/$mode-submit.json")
    log "$mode: submitted $n_tasks task(s) as job(s) $jobs"
    while :; do
        left=$(squeue -h -r -j "$jobs" 2>/dev/null | wc -l)
        [[ $left -eq 0 ]] && break
        sleep 1
    done
    t1=$EPOCHREALTIME
    "$PADOCC_BIN" -w "$wd" status -G g --format json > "$RES/$mode-status.json"
    python3 - "$mode" "$t0" "$t1" "$n_tasks" "$jobs" "$n" "$RES/$mode-status.json" >> "$RES/modes.jsonl" <<'PY'
import json, sys
mode, t0, t1, tasks, jobs, n, st = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), sys.argv[7]
s = json.load(open(st))
ok = len(s.get("phases", {}).get("scan", {}).get("Success", []))
print(json.dumps({"mode": mode, "projects": n, "tasks": tasks, "jobs": jobs, "wall_s": round(t1 - t0, 2), "scan_success": ok, "all_done": ok == n}))
PY
    log "$mode: $(tail -n1 "$RES/modes.jsonl")"
}

main() {
    local csv
    csv=$(make_data)
    log "starting the local SLURM"
    bash "$REPO/slurm/start-local-slurm.sh" >&2
    : > "$RES/modes.jsonl"
    for m in $PACK_MODES; do run_mode "$m" "$csv"; done
    python3 - "$RES/modes.jsonl" "$BENCH_DIR/packing-results.json" "$PACK_N" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[3])
by = {r["mode"]: r for r in rows}
out = {"modes": rows, "projects": n}
lines = ["{:<13} {:>8} {:>7} {:>9} {:>10} {}".format("mode", "projects", "tasks", "wall s", "proj/s", "all Success")]
for r in rows:
    lines.append("{:<13} {:>8} {:>7} {:>9.2f} {:>10.1f} {}".format(r["mode"], r["projects"], r["tasks"], r["wall_s"], r["projects"] / r["wall_s"], r["all_done"]))
if "packed" in by and "one-per-task" in by:
    one = by["one-per-task"]
    one_wall = one["wall_s"] * n / one["projects"]
    if one["projects"] != n:
        out["one_per_task_extrapolated_s"] = round(one_wall, 1)
        lines.append(f"one-per-task extrapolated to {n} projects at {one['wall_s'] / one['projects']:.3f} s a task: {one_wall:.0f} s")
    ratio = one_wall / by["packed"]["wall_s"]
    out["ratio"] = round(ratio, 1)
    out["meets_target"] = ratio >= 50 and by["packed"]["tasks"] <= 100 and all(r["all_done"] for r in rows)
    lines.append(f"ratio one-per-task / packed ({n} projects{', extrapolated' if one['projects'] != n else ''}): {ratio:.1f}x (target >= 50x with <= 100 tasks: {'met' if out['meets_target'] else 'MISSED'})")
json.dump(out, open(sys.argv[2], "w"), indent=1)
print("\n".join(lines))
PY
}

main "$@"
