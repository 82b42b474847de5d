#!/usr/bin/env python3
"""Helper of bench/bench_read.sh: read-time benchmark of padocc's kerchunk products.

Rule measured: opening a product and reading all of it with xarray takes no more than
2x reading the sources with xarray's netCDF4 engine.

Subcommands (all paths absolute or relative to the current directory):
  gen DATA_DIR
      write the two generated series (met-station, leap-year) with netCDF4-python
      into DATA_DIR/<name>/ unless DATA_DIR/<name>/GEN_INFO.json says they are there.
  cases TESTDATA DATA_DIR CASES_DIR [NAME...]
      write CASES_DIR/<case>.json (sources, how to open them, `padocc refs` flags)
      for every series of TESTDATA/MANIFEST.json and both generated series (or just
      the NAMEs), and print the case names, one a line.
  time CASE_JSON PRODUCTS_TSV OUT_JSON REPS
      PRODUCTS_TSV: lines "kind<TAB>threshold<TAB>path". One warm-up read of the
      sources and of every product (untimed; also a light same-data check), then REPS
      rounds, each: sources, then every product, each opened fresh and .load()ed.
  report BENCH_DIR RES_DIR
      gather RES_DIR/<case>/read.json + build.tsv into BENCH_DIR/read-results.json and
      print the table (also BENCH_DIR/read-results.txt).

Sources are opened exactly as ../shared/tools/check_refs.py builds its expectation
(decoded mode): open_mfdataset(engine="netcdf4", data_vars/coords="minimal",
compat/combine_attrs="override", join="outer", chunks={}, combine nested along the
concat dim or by_coords; --dedupe keeps one step per distinct time value, sorted).
Products are opened as check_refs.py's "url" method: xr.open_dataset("reference://",
engine="zarr", consolidated=False, chunks=None, zarr_format=2 (zarr-python 3),
storage_options={"fo": <json file or parquet directory>, "remote_protocol": "file"});
fsspec picks the lazy parquet reader itself when fo is a directory. Here
storage_options also carries skip_instance_cache=True so that every timed open parses
the references again (fsspec 2025.12's ReferenceFileSystem is not cachable anyway; this
keeps it so should that change).
"""
from __future__ import annotations

import gc
import glob
import json
import os
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore")

GEN_VERSION = 1


# ------------------------------------------------------------------------ gen
def gen(data_dir: str) -> None:
    import numpy as np
    import netCDF4

    rng = np.random.default_rng(20261206)

    # a. met-station: netCDF-3 classic, UNLIMITED time, 1440 one-minute records per
    #    daily file, 45 float32 (time,) variables, time units per file.
    d = os.path.join(data_dir, "met-station")
    info = {"v": GEN_VERSION, "files": 7, "records": 1440, "variables": 45}
    if not _gen_present(d, info):
        os.makedirs(d, exist_ok=True)
        for i in range(info["files"]):
            day = f"2024-03-{i + 1:02d}"
            path = os.path.join(d, f"met-station_{day.replace('-', '')}.nc")
            with netCDF4.Dataset(path + ".tmp", "w", format="NETCDF3_CLASSIC") as nc:
                nc.title = "synthetic met-station day file"
                nc.Conventions = "CF-1.8"
                nc.createDimension("time", None)
                t = nc.createVariable("time", "f8", ("time",))
                t.units = f"minutes since {day} 00:00"
                t.standard_name = "time"
                t.calendar = "standard"
                t[:] = np.arange(info["records"], dtype="f8")
                for k in range(info["variables"]):
                    v = nc.createVariable(f"var{k:02d}", "f4", ("time",))
                    v.units = "1"
                    v.long_name = f"station variable {k}"
                    v[:] = rng.standard_normal(info["records"]).astype("f4") + k
            os.replace(path + ".tmp", path)
        _gen_done(d, info)

    # b. leap-year: netCDF-4, fixed time dim, contiguous v(time, y, x) float32,
    #    6x6 (144 bytes a step), years of 366, 365, 365 days.
    d = os.path.join(data_dir, "leap-year")
    years = [(2024, 366), (2025, 365), (2026, 365)]
    info = {"v": GEN_VERSION, "years": years, "ny": 6, "nx": 6}
    if not _gen_present(d, info):
        os.makedirs(d, exist_ok=True)
        for year, n in years:
            path = os.path.join(d, f"leap-year_{year}.nc")
            with netCDF4.Dataset(path + ".tmp", "w", format="NETCDF4") as nc:
                nc.title = "synthetic daily field, one file a year"
                nc.Conventions = "CF-1.8"
                nc.createDimension("time", n)
                nc.createDimension("y", info["ny"])
                nc.createDimension("x", info["nx"])
                t = nc.createVariable("time", "f8", ("time",), contiguous=True)
                t.units = f"days since {year}-01-01"
                t.standard_name = "time"
                t.calendar = "standard"
                t[:] = np.arange(n, dtype="f8")
                for name, size in (("y", info["ny"]), ("x", info["nx"])):
                    c = nc.createVariable(name, "f8", (name,), contiguous=True)
                    c.units = "km"
                    c[:] = np.arange(size, dtype="f8") * 10.0
                v = nc.createVariable("v", "f4", ("time", "y", "x"), contiguous=True)
                v.units = "K"
                v.long_name = "synthetic daily field"
                v[:] = (rng.standard_normal((n, info["ny"], info["nx"])) + 280).astype("f4")
            os.replace(path + ".tmp", path)
        _gen_done(d, info)


def _gen_present(d, info) -> bool:
    p = os.path.join(d, "GEN_INFO.json")
    try:
        return json.load(open(p)) == json.loads(json.dumps(info))
    except Exception:
        return False


def _gen_done(d, info) -> None:
    with open(os.path.join(d, "GEN_INFO.json"), "w") as f:
        json.dump(info, f)


# ------------------------------------------------------------------------ cases
def _checker_opts(cargs: list[str]) -> dict:
    """The source-opening options of check_refs.py present in a checker_args list."""
    o = {"dedupe": "none", "no_decode_coords": False, "no_decode_times": False,
         "no_mask": False, "engine": "netcdf4"}
    i = 0
    while i < len(cargs):
        a = cargs[i]
        if a == "--dedupe":
            o["dedupe"] = cargs[i + 1]; i += 1
        elif a == "--engine":
            o["engine"] = cargs[i + 1]; i += 1
        elif a in ("--no-decode-coords", "--no-decode-times", "--no-mask"):
            o[a[2:].replace("-", "_")] = True
        i += 1
    return o


def cases(testdata: str, data_dir: str, cases_dir: str, only: list[str]) -> None:
    os.makedirs(cases_dir, exist_ok=True)
    out = []
    m = json.load(open(os.path.join(testdata, "MANIFEST.json")))
    for s in m["series"]:
        files = [os.path.abspath(os.path.join(testdata, f["file"])) for f in s["files"]]
        cargs = list(s.get("checker_args", []))
        # as ../shared/tools/accept.py: --concat-dim <kerchunk_concat_dims>, --dedupe X
        concat = ",".join(s.get("kerchunk_concat_dims") or [s.get("concat_dim", "time")])
        refs_args = ["--concat-dim", concat] if len(files) > 1 else []
        if "--dedupe" in cargs:
            refs_args += ["--dedupe", cargs[cargs.index("--dedupe") + 1]]
        out.append({"name": s["name"], "origin": "testdata", "files": files,
                    "combine": s.get("combine", "nested"),
                    "concat_dim": s.get("concat_dim", "time"),
                    "checker_args": cargs, "open": _checker_opts(cargs),
                    "refs_args": refs_args})
    for name, what in (("met-station", "generated: netCDF-3 classic, UNLIMITED time, 7 days x "
                        "1440 records, 45 float32 (time,) variables, per-file time units"),
                       ("leap-year", "generated: netCDF-4 contiguous v(time,6,6) float32, "
                        "fixed time dim, 366+365+365 days, per-file time units")):
        files = sorted(glob.glob(os.path.join(os.path.abspath(data_dir), name, "*.nc")))
        if not files:
            raise SystemExit(f"no generated files in {data_dir}/{name}: run 'gen' first")
        out.append({"name": name, "origin": what, "files": files, "combine": "nested",
                    "concat_dim": "time", "checker_args": [], "open": _checker_opts([]),
                    "refs_args": ["--concat-dim", "time"]})
    for c in out:
        if only and c["name"] not in only:
            continue
        with open(os.path.join(cases_dir, c["name"] + ".json"), "w") as f:
            json.dump(c, f, indent=1)
        print(c["name"])


# ------------------------------------------------------------------------ time
def _cf_kwargs(o: dict) -> dict:  # check_refs.py _cf_kwargs(raw=False, ...)
    return {"mask_and_scale": not o["no_mask"], "decode_times": not o["no_decode_times"],
            "decode_timedelta": False, "decode_coords": not o["no_decode_coords"]}


def open_sources(case: dict):  # check_refs.py open_expected(..., raw=False)
    import numpy as np
    import xarray as xr
    o = case["open"]
    kw = _cf_kwargs(o)
    kw["engine"] = o["engine"]
    src = case["files"]
    if len(src) == 1:
        return xr.open_dataset(src[0], chunks=None, **kw)
    common = dict(data_vars="minimal", coords="minimal", compat="override",
                  combine_attrs="override", parallel=False, chunks={})
    if case["combine"] == "by_coords":
        return xr.open_mfdataset(src, combine="by_coords", join="outer", **common, **kw)
    cd = case["concat_dim"]
    ds = xr.open_mfdataset(src, combine="nested", concat_dim=cd, join="outer", **common, **kw)
    if o["dedupe"] != "none" and cd in ds.indexes:
        idx = ds.indexes[cd]
        keep = np.flatnonzero(~idx.duplicated(keep=o["dedupe"]))
        order = keep[np.argsort(np.asarray(idx[keep]), kind="stable")]
        ds = ds.isel({cd: order})
    return ds


def open_product(path: str, case: dict):  # check_refs.py open_product(method="url")
    import xarray as xr
    import zarr
    so = {"fo": os.path.abspath(path), "remote_protocol": "file", "remote_options": {},
          "skip_instance_cache": True}
    zkw = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}
    return xr.open_dataset("reference://", engine="zarr", consolidated=False, chunks=None,
                           storage_options=so, **zkw, **_cf_kwargs(case["open"]))


def _same(a, b) -> str:
    """Light check that the product reads the same data as the sources."""
    import numpy as np
    va, vb = set(a.variables), set(b.variables)
    if va != vb:
        return f"variables differ: sources-only {sorted(va - vb)} product-only {sorted(vb - va)}"
    if dict(a.sizes) != dict(b.sizes):
        return f"sizes differ: {dict(a.sizes)} vs {dict(b.sizes)}"
    bad = []
    for k in sorted(va):
        x, y = a[k].values, b[k].values
        if x.shape != y.shape:
            bad.append(f"{k} shape"); continue
        try:
            eq = np.array_equal(x, y, equal_nan=x.dtype.kind in "fcmM")
        except TypeError:
            eq = np.array_equal(x, y)
        if not eq:
            bad.append(k)
    return "ok" if not bad else f"values differ: {bad[:8]}"


def _timed(fn):
    gc.collect()
    t0 = time.perf_counter()
    r = fn()
    return time.perf_counter() - t0, r


def time_case(case_json: str, products_tsv: str, out_json: str, reps: int) -> None:
    t_imp = time.perf_counter()
    import numpy as np  # noqa: F401
    import xarray as xr
    import zarr
    import fsspec
    import netCDF4
    import dask
    sched = os.environ.get("READ_DASK_SCHEDULER", "")
    if sched:  # default: dask's own default (threads), what a user of open_mfdataset gets
        dask.config.set(scheduler=sched)
    t_imp = time.perf_counter() - t_imp
    case = json.load(open(case_json))
    products = []
    for line in open(products_tsv):
        if line.strip():
            kind, thr, path = line.rstrip("\n").split("\t")
            products.append({"kind": kind, "threshold": int(thr), "path": path})

    def read_sources(keep=False):
        ds = open_sources(case)
        ds.load()
        if keep:
            return ds
        ds.close()

    def read_product(p, keep=False):
        ds = open_product(p["path"], case)
        ds.load()
        if keep:
            return ds
        ds.close()

    res = {"case": case["name"], "files": len(case["files"]),
           "source_bytes": sum(os.path.getsize(f) for f in case["files"]),
           "reps": reps, "import_s": round(t_imp, 3),
           "versions": {"python": sys.version.split()[0], "xarray": xr.__version__,
                        "zarr": zarr.__version__, "fsspec": fsspec.__version__,
                        "netCDF4": netCDF4.__version__, "netcdf_c": netCDF4.__netcdf4libversion__,
                        "dask": dask.__version__},
           "dask_scheduler": os.environ.get("READ_DASK_SCHEDULER") or "dask default (threads)",
           "note": "sources: open_mfdataset (dask, chunks={}); products: chunks=None"}
    # warm-up (imports inside xarray/zarr, page cache) + same-data check
    try:
        t, exp = _timed(lambda: read_sources(keep=True))
        res["sources_warmup_s"] = round(t, 4)
        res["nbytes"] = int(exp.nbytes)
    except Exception as e:
        res["sources_error"] = f"{type(e).__name__}: {e}"
        exp = None
    for p in products:
        try:
            t, got = _timed(lambda: read_product(p, keep=True))
            p["warmup_s"] = round(t, 4)
            p["check"] = _same(exp, got) if exp is not None else "sources unreadable"
            got.close()
        except Exception as e:
            p["error"] = f"{type(e).__name__}: {e}"
    if exp is not None:
        exp.close()
        del exp
    src_t = []
    for p in products:
        p["times_s"] = []
    for _ in range(reps if "sources_error" not in res else 0):
        src_t.append(_timed(read_sources)[0])
        for p in products:
            if "error" not in p:
                p["times_s"].append(_timed(lambda: read_product(p))[0])
    res["sources_times_s"] = [round(x, 5) for x in src_t]
    res["sources_s"] = round(statistics.median(src_t), 5) if src_t else None
    for p in products:
        p["times_s"] = [round(x, 5) for x in p["times_s"]]
        p["product_s"] = round(statistics.median(p["times_s"]), 5) if p["times_s"] else None
        if p["product_s"] and res["sources_s"]:
            p["ratio"] = round(p["product_s"] / res["sources_s"], 3)
            p["meets_2x"] = p["ratio"] <= 2.0
        p.update(count_refs(p["path"], p["kind"]))
    res["products"] = products
    with open(out_json, "w") as f:
        json.dump(res, f, indent=1)
    print(f"{case['name']}: sources {res['sources_s']}s; " + "; ".join(
        f"{p['kind']}@{p['threshold']} {p.get('product_s')}s x{p.get('ratio')}"
        + (f" ERROR {p['error'][:120]}" if "error" in p else "")
        + ("" if p.get("check", "ok") == "ok" else f" CHECK {p['check'][:120]}")
        for p in products))


def _du(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


META = (".zarray", ".zattrs", ".zgroup", ".zmetadata", "zarr.json")


def count_refs(path: str, kind: str) -> dict:
    """refs: chunk keys (JSON) / non-empty rows (parquet); inlined: of which data is in
    the product; metadata keys counted apart."""
    out = {"size_bytes": _du(path)}
    try:
        if kind == "json":
            d = json.load(open(path))
            refs = d.get("refs", d)
            meta = [k for k in refs if k.rsplit("/", 1)[-1] in META]
            chunks = [v for k, v in refs.items() if k.rsplit("/", 1)[-1] not in META]
            out.update(refs=len(chunks), inlined=sum(1 for v in chunks if isinstance(v, str)),
                       meta_keys=len(meta))
        else:
            import pyarrow.parquet as pq
            rows = nonempty = inlined = 0
            for f in glob.glob(os.path.join(path, "**", "refs.*.parq"), recursive=True):
                t = pq.read_table(f)
                rows += t.num_rows
                cols = t.column_names
                pth = t.column("path").to_pylist() if "path" in cols else [None] * t.num_rows
                raw = t.column("raw").to_pylist() if "raw" in cols else [None] * t.num_rows
                for a, b in zip(pth, raw):
                    if a is not None or b is not None:
                        nonempty += 1
                        inlined += b is not None and a is None
            meta = json.load(open(os.path.join(path, ".zmetadata")))
            out.update(refs=nonempty, inlined=inlined, parquet_rows=rows,
                       meta_keys=len(meta.get("metadata", {})))
    except Exception as e:
        out["count_error"] = f"{type(e).__name__}: {e}"
    return out


# ------------------------------------------------------------------------ report
def report(bench_dir: str, res_dir: str) -> None:
    rows, out = [], {"host": {"nproc": os.cpu_count()}, "cases": []}
    lt = os.path.join(res_dir, "load.tsv")
    if os.path.exists(lt):
        out["host"]["load"] = [l.rstrip("\n").split("\t") for l in open(lt)]
    binf = os.path.join(res_dir, "binary.txt")
    if os.path.exists(binf):
        out["binary"] = open(binf).read().strip()
    for cj in sorted(glob.glob(os.path.join(res_dir, "*", "read.json"))):
        r = json.load(open(cj))
        build = {}
        bt = os.path.join(os.path.dirname(cj), "build.tsv")
        if os.path.exists(bt):
            for line in open(bt):
                kind, thr, rep, rc, wall = line.rstrip("\n").split("\t")
                if rc == "0":
                    build.setdefault((kind, int(thr)), []).append(float(wall))
        for p in r.get("products", []):
            w = build.get((p["kind"], p["threshold"]))
            p["build_s"] = round(statistics.median(w), 4) if w else None
            p["build_times_s"] = w or []
        out["cases"].append(r)
    f3 = lambda x, fm="{:.3f}": "-" if x is None else fm.format(x)
    hdr = ("case", "kind", "thr", "refs", "inlined", "size", "build s", "sources s",
           "product s", "ratio", "<= 2x", "check")
    fmt = "{:<26} {:<7} {:>5} {:>8} {:>8} {:>9} {:>8} {:>9} {:>9} {:>7} {:>5}  {}"
    lines = [fmt.format(*hdr), "-" * 120]
    for r in out["cases"]:
        if "sources_error" in r:
            lines.append(f"{r['case']:<26} sources unreadable: {r['sources_error'][:80]}")
        for p in r.get("products", []):
            sz = p.get("size_bytes")
            size = "-" if sz is None else (f"{sz / 1e6:.2f}M" if sz >= 1e5 else f"{sz / 1e3:.1f}k")
            ok = "-" if "ratio" not in p else ("yes" if p["meets_2x"] else "NO")
            chk = p.get("error", p.get("check", "-"))
            lines.append(fmt.format(r["case"], p["kind"], p["threshold"], f3(p.get("refs"), "{}"),
                                    f3(p.get("inlined"), "{}"), size, f3(p.get("build_s")),
                                    f3(r.get("sources_s")), f3(p.get("product_s")),
                                    f3(p.get("ratio"), "{:.2f}"), ok, str(chk)[:60]))
    allp = [p for r in out["cases"] for p in r.get("products", [])]
    n_ok = sum(1 for p in allp if p.get("meets_2x"))
    out["summary"] = {"products": len(allp), "meet_2x": n_ok,
                      "failing": [f"{r['case']}/{p['kind']}@{p['threshold']}"
                                  for r in out["cases"] for p in r.get("products", [])
                                  if not p.get("meets_2x")]}
    lines.append("")
    lines.append(f"{n_ok}/{len(allp)} products read in <= 2x the sources' time")
    json.dump(out, open(os.path.join(bench_dir, "read-results.json"), "w"), indent=1)
    text = "\n".join(lines)
    print(text)
    open(os.path.join(bench_dir, "read-results.txt"), "w").write(text + "\n")
    print(f"\nresults: {os.path.join(bench_dir, 'read-results.json')}")


def main(argv):
    if not argv:
        raise SystemExit(__doc__)
    cmd, a = argv[0], argv[1:]
    if cmd == "gen":
        gen(a[0])
    elif cmd == "cases":
        cases(a[0], a[1], a[2], a[3:])
    elif cmd == "time":
        time_case(a[0], a[1], a[2], int(a[3]))
    elif cmd == "report":
        report(a[0], a[1])
    else:
        raise SystemExit(f"unknown subcommand {cmd}\n\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv[1:])
