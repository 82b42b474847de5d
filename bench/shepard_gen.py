#!/usr/bin/env python3
"""Synthesise a SHEPARD flock_dir for bench/bench_shepard.sh.

    python3 bench/shepard_gen.py OUT --flocks 100 --projects 1000 [--layout ours|padocc] [--seed N] [--force]
    python3 bench/shepard_gen.py --restore SRC COPY   # COPY := SRC (cp -a once, then only what differs)

OUT becomes a padocc working directory (the flock_dir) holding FLOCKS groups
("flocks") of PROJECTS projects each:

    OUT/groups/<G>/proj_codes/main.txt        codes, one per line, no trailing newline (padocc)
    OUT/groups/<G>/datasets.csv               code,pattern,, (as init leaves it)
    OUT/groups/<G>/{sbatch,outs,errs}/        empty (padocc 1.5.1 makes them on --parallel)
    OUT/in_progress/<G>/<code>/base-cfg.json  padocc's keys (spec 3.3)
    OUT/in_progress/<G>/<code>/detail-cfg.json padocc's defaults with num_files (init writes it)
    OUT/in_progress/<G>/<code>/status_log.csv history: phase,status,%H:%M %d/%m/%y,jobid
  --layout ours (padocc-rs) adds
    OUT/groups/<G>/status/bench-1-0.jnl       every status row again (ns, code, phase, status,
                                              time, jobid; tab-separated, in time order); each
                                              status_log.csv gets an mtime 1 s before its
                                              project's newest journal row, so readers trust
                                              the journal and need not open the file
    OUT/groups/<G>/jobs/<phase>-<ms>-1-0/job.json  the submission record of every job id the
                                              rows name (scheduler slurm), so `status` and
                                              `shepard` ask the scheduler about Pending rows
  --layout padocc (1.5.1): no journal, no jobs/; status_log.csv has no trailing newline.
and
    OUT/conf.yaml          SHEPARD config (padocc 1.5.1 keys); complete/sweep/cache dirs inside OUT
    OUT/common_valid.json  a validation bypass file (spec 4.4.6)
    OUT/expected.json      per flock: phase -> status -> count of the newest row per project,
                           and the SHEPARD class counts (advance/pending/failed/complete)
    OUT/BENCH_INFO.json    the settings, written last; a rerun with the same settings is a no-op

Histories are anchored at generation time: results 10 min to 4 days ago, Pending rows
mostly within the last 20 h (10 % of them 26-40 h old: stale under padocc's 24 h rule).
Regenerate (--force) when the data is older than a day if that matters.

--restore: a pass of `shepard batch` changes its flock_dir, so the benchmark runs it on a
copy. The first restore is `cp -a`; later ones compare the trees (type, size, mtime_ns)
and copy back or delete only what the pass changed (~400 000 stats instead of copying
1.7 GB), keeping every mtime; COPY/conf.yaml then points at COPY.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time

VERSION = 3
PHASES = ["init", "scan", "compute", "validate", "complete"]
FINAL_WEIGHTS = [0.06, 0.20, 0.27, 0.25, 0.22]          # where each project's history stops
FAIL = {
    "scan": ["Failed-InputError", "TIMEOUT", "Redo"],
    "compute": ["ConcatFatalError", "OUT_OF_MEMORY", "TIMEOUT", "Failed-InputError", "Redo"],
    "validate": ["(V>K)Fatal-data_errors", "OUT_OF_MEMORY", "TIMEOUT", "Redo"],
    "complete": ["Failed-InputError", "Redo"],
}
DETAIL = {"source_data": None, "cloud_data": None, "scanned_with": None, "num_files": None, "timings": {},
          "chunk_info": {}, "kwargs": {}, "virtual_concat": False}
CONF_KEYS = ["flock_dir", "batch_limit", "complete_dir", "common_valid", "obliterate_quarantine",
             "sweep_dir", "cache_dir", "flock_size_limit", "flock_limit", "deployment_label"]


def hm(ns):
    return time.strftime("%H:%M %d/%m/%y", time.localtime(ns // 10**9))


def success(phase, rng):
    if phase == "validate":
        return "(V>K)Warn-global_aggregation_date_missing" if rng.random() < 0.1 else "(V>K)Success"
    return "Success"


def history(fi, pi, rng):
    """[(phase, status, jobid)] oldest first, and whether the last row is a stale Pending."""
    final = rng.choices(PHASES, FINAL_WEIGHTS)[0]
    seq = [("init", "Success", "")]
    if final == "init":
        return seq
    r = rng.random()
    outcome = "fail" if r < 0.11 else "pending" if r < 0.26 else "ok"
    for k, ph in enumerate(PHASES[1:PHASES.index(final) + 1], start=1):
        last = ph == final
        attempt = 0

        def job():
            # one array job per (flock, phase, attempt); the task index is the project's
            return f"{7_000_000 + fi * 20 + k * 4 + attempt}_{pi}"
        if not last and rng.random() < 0.08:                  # an earlier failure, retried
            j = job() if rng.random() < 0.8 else ""
            if j:
                seq.append((ph, "Pending", j))
            seq.append((ph, rng.choice(FAIL[ph]), j))
            attempt += 1
        parallel = rng.random() < (1.0 if last and outcome == "pending" else 0.6)
        j = job() if parallel else ""
        if parallel:
            seq.append((ph, "Pending", j))
        if last and outcome == "pending":
            break
        if last and outcome == "fail":
            seq.append((ph, rng.choice(FAIL[ph]), j))
        else:
            seq.append((ph, success(ph, rng), j if ph != "complete" else ""))
    return seq


def classify(phase, status):
    core = status.split(")")[-1].split("-")[0].split("_")[0]    # padocc's status_core
    if status == "Pending":
        return "pending"
    if phase == "complete" and core == "Success":
        return "complete"
    if core in ("Success", "Warn"):
        return "advance"
    if core == "Redo":
        return "redo"
    return "failed"


def safe_to_clear(out):
    if not os.path.exists(out):
        return True
    if not os.path.isdir(out):
        return False
    names = os.listdir(out)
    return not names or ".shepard_gen" in names


def _remove(path, is_dir):
    if is_dir:
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _sync(src, dst, n):
    """Make directory dst equal to src: what dst has and src has not goes, what
    differs (type, size, mtime) or is missing is copied with its mtime."""
    s = {e.name: e for e in os.scandir(src)}
    d = {e.name: e for e in os.scandir(dst)}
    for name, de in d.items():
        if name not in s:
            _remove(de.path, de.is_dir(follow_symlinks=False))
            n["removed"] += 1
    for name, se in s.items():
        de = d.get(name)
        target = os.path.join(dst, name)
        if se.is_dir(follow_symlinks=False):
            if de is not None and de.is_dir(follow_symlinks=False):
                _sync(se.path, target, n)
                continue
            if de is not None:
                _remove(target, False)
            shutil.copytree(se.path, target, symlinks=True)
            n["copied"] += 1
            continue
        if de is not None:
            if not de.is_dir(follow_symlinks=False):
                a, b = se.stat(follow_symlinks=False), de.stat(follow_symlinks=False)
                if a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns:
                    continue
            _remove(target, de.is_dir(follow_symlinks=False))
        shutil.copy2(se.path, target, follow_symlinks=False)
        n["copied"] += 1


def restore(src, out):
    """OUT := a copy of the generated flock_dir SRC (cp -a the first time, then only
    what a pass changed), with conf.yaml pointing at OUT."""
    src, out = os.path.abspath(src), os.path.abspath(out)
    if not os.path.exists(os.path.join(src, "BENCH_INFO.json")):
        sys.exit(f"shepard_gen: {src} is not a generated flock_dir (no BENCH_INFO.json)")
    if not safe_to_clear(out):
        sys.exit(f"shepard_gen: {out} exists, is not empty and was not made by shepard_gen.py: refusing to overwrite it")
    t0 = time.time()
    n = {"copied": 0, "removed": 0}
    if not os.path.exists(out):
        subprocess.run(["cp", "-a", "--", src, out], check=True)
        how = "cp -a"
    else:
        _sync(src, out, n)
        how = f"synced: {n['copied']} copied, {n['removed']} removed"
    text = open(os.path.join(src, "conf.yaml")).read()
    lines = []
    for line in text.splitlines():
        k, sep, v = line.partition(": ")
        if sep and (v == src or v.startswith(src + "/")):
            line = f"{k}: {out}{v[len(src):]}"
        lines.append(line)
    with open(os.path.join(out, "conf.yaml"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"shepard_gen: {out} restored from {src} ({how}) in {time.time() - t0:.1f} s", file=sys.stderr)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--restore":
        return restore(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog="Also: shepard_gen.py --restore SRC OUT: make OUT a copy of the generated "
                                        "flock_dir SRC (cp -a the first time, afterwards only what differs), with "
                                        "OUT/conf.yaml pointing at OUT.")
    ap.add_argument("out")
    ap.add_argument("--flocks", type=int, default=100)
    ap.add_argument("--projects", type=int, default=1000, help="projects per flock")
    ap.add_argument("--layout", choices=["ours", "padocc"], default="ours")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-limit", type=int, default=1000)
    ap.add_argument("--force", action="store_true", help="regenerate even when BENCH_INFO.json matches")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    settings = f"layout={a.layout} flocks={a.flocks} projects={a.projects} seed={a.seed} batch_limit={a.batch_limit} v={VERSION}"
    info_path = os.path.join(out, "BENCH_INFO.json")
    if not a.force and os.path.exists(info_path):
        try:
            if json.load(open(info_path)).get("settings") == settings:
                print(f"shepard_gen: {out} present ({settings})", file=sys.stderr)
                return
        except ValueError:
            pass
    if not safe_to_clear(out):
        sys.exit(f"shepard_gen: {out} exists, is not empty and was not made by shepard_gen.py: refusing to clear it")
    t_start = time.time()
    if os.path.exists(out):
        subprocess.run(["rm", "-rf", "--", out], check=True)      # fast for 400 000 entries
    os.makedirs(out)
    open(os.path.join(out, ".shepard_gen"), "w").close()
    for d in ("groups", "in_progress", "complete", "sweep", "cache"):
        os.makedirs(os.path.join(out, d), exist_ok=True)

    ours = a.layout == "ours"
    rng = random.Random(a.seed)
    anchor = time.time_ns() // 10**9 * 10**9 - 600 * 10**9    # 10 min ago, whole second
    S = 10**9
    expected = {"flocks": {}, "totals": {}, "classes": {}, "anchor_ns": anchor}
    n_rows = n_files = jbytes = stale = 0
    wdir = os.path.join(out, "in_progress")
    for fi in range(a.flocks):
        g = f"SHEPARD_bench_f{fi:03d}"
        gdir = os.path.join(out, "groups", g)
        os.makedirs(os.path.join(gdir, "proj_codes"))
        for d in ("sbatch", "outs", "errs"):
            os.makedirs(os.path.join(gdir, d))
        pdir = os.path.join(wdir, g)
        os.makedirs(pdir)
        codes = [f"CMIP6_ScenarioMIP_f{fi:03d}_p{pi:04d}_day_tas_gn" for pi in range(a.projects)]
        with open(os.path.join(gdir, "proj_codes", "main.txt"), "w") as fh:
            fh.write("\n".join(codes))
        with open(os.path.join(gdir, "datasets.csv"), "w") as fh:
            fh.write("".join(f"{c},/badc/cmip6/data/CMIP6/ScenarioMIP/{c}/*.nc,,\n" for c in codes))
        jrows = []
        jobs = {}                                           # job id -> (phase, ns of its first row)
        counts, classes = {}, {}
        for pi, c in enumerate(codes):
            seq = history(fi, pi, rng)
            ph_last, st_last, _ = seq[-1]
            if st_last == "Pending" and rng.random() < 0.1:
                t_last = anchor - rng.randrange(26 * 3600, 40 * 3600) * S
                stale += 1
            elif st_last == "Pending":
                t_last = anchor - rng.randrange(600, 20 * 3600) * S
            else:
                t_last = anchor - rng.randrange(600, 4 * 86400) * S
            t_last += rng.randrange(S)
            # earlier rows: 10 min to 6 h apart, going back
            ts = [t_last]
            for _ in seq[:-1]:
                ts.append(ts[-1] - rng.randrange(600, 6 * 3600) * S - rng.randrange(S))
            ts.reverse()
            rows = [f"{ph},{st},{hm(t)},{j}" for (ph, st, j), t in zip(seq, ts)]
            d = os.path.join(pdir, c)
            os.mkdir(d)
            submitted = any(j for _, _, j in seq)
            base = {"proj_code": c, "pattern": f"/badc/cmip6/data/CMIP6/ScenarioMIP/{c}/*.nc", "updates": None,
                    "removals": None, "version_no": "1.0", "data_properties": {}, "substitutions": {}}
            if submitted:
                base["last_allocation"] = rng.choice(["60:00,2G", "60:00,2G", "120:00,4G", "15:00,2G"])
            with open(os.path.join(d, "base-cfg.json"), "w") as fh:
                fh.write(json.dumps(base))
            with open(os.path.join(d, "detail-cfg.json"), "w") as fh:
                fh.write(json.dumps({**DETAIL, "num_files": rng.randint(1, 400)}))
            log = os.path.join(d, "status_log.csv")
            with open(log, "w") as fh:
                fh.write("\n".join(rows) + ("\n" if ours else ""))   # padocc 1.5.1: no trailing newline
            # ours: the file is written just before the journal row; padocc: at its last row
            m = t_last - S if ours else t_last
            os.utime(log, ns=(m, m))
            n_files += 3
            n_rows += len(rows)
            if ours:
                for (ph, st, j), t, r in zip(seq, ts, rows):
                    jrows.append((t, f"{t}\t{c}\t{ph}\t{st}\t{hm(t)}\t{j}\n"))
                    if j:
                        jid = j.rsplit("_", 1)[0]
                        if jid not in jobs or t < jobs[jid][1]:
                            jobs[jid] = (ph, t)
            counts.setdefault(ph_last, {}).setdefault(st_last, 0)
            counts[ph_last][st_last] += 1
            k = classify(ph_last, st_last)
            classes[k] = classes.get(k, 0) + 1
        if ours:
            sdir = os.path.join(gdir, "status")
            os.makedirs(sdir)
            jrows.sort()
            text = "".join(r for _, r in jrows)
            with open(os.path.join(sdir, "bench-1-0.jnl"), "w") as fh:
                fh.write(text)
            jbytes += len(text)
            for jid, (ph, t) in sorted(jobs.items()):
                jd = os.path.join(gdir, "jobs", f"{ph}-{t // 10**6 - 60_000}-1-{jid}")
                os.makedirs(jd)
                with open(os.path.join(jd, "job.json"), "w") as fh:
                    json.dump({"job_id": jid, "scheduler": "slurm",
                               "submitted": time.strftime("%d/%m/%y %H:%M:%S", time.localtime(t // 10**9 - 60))}, fh)
        expected["flocks"][g] = {"total": len(codes), "phases": counts, "classes": classes}
        for ph, v in counts.items():
            for st, n in v.items():
                expected["totals"].setdefault(ph, {}).setdefault(st, 0)
                expected["totals"][ph][st] += n
        for k, n in classes.items():
            expected["classes"][k] = expected["classes"].get(k, 0) + n

    conf = {
        "flock_dir": out,
        "batch_limit": a.batch_limit,
        "complete_dir": os.path.join(out, "complete"),
        "common_valid": os.path.join(out, "common_valid.json"),
        "obliterate_quarantine": "false",
        "sweep_dir": os.path.join(out, "sweep"),
        "cache_dir": os.path.join(out, "cache"),
        "flock_size_limit": a.projects,
        "flock_limit": max(200, 2 * a.flocks),          # no new flocks are made
        "deployment_label": "SHEPARD",
    }
    with open(os.path.join(out, "conf.yaml"), "w") as fh:
        fh.write("# SHEPARD config (padocc 1.5.1 keys), written by bench/shepard_gen.py\n")
        fh.write("".join(f"{k}: {conf[k]}\n" for k in CONF_KEYS))
    with open(os.path.join(out, "common_valid.json"), "w") as fh:
        json.dump({"metadata": {"attributes": {"global": {"aggregation_date": {"type": "missing"}}}}}, fh)
    json.dump(expected, open(os.path.join(out, "expected.json"), "w"), indent=1, sort_keys=True)
    info = {"settings": settings, "layout": a.layout, "flocks": a.flocks, "projects_per_flock": a.projects,
            "projects": a.flocks * a.projects, "status_rows": n_rows,
            "rows_per_project": round(n_rows / max(1, a.flocks * a.projects), 3),
            "project_files": n_files, "journal_bytes": jbytes, "stale_pending": stale,
            "classes": expected["classes"], "generated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "generation_s": round(time.time() - t_start, 2)}
    with open(info_path, "w") as fh:
        json.dump(info, fh, indent=1)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
