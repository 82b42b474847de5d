#!/usr/bin/env python3
"""accept.py for cloud products: every case of a test-data set (MANIFEST.json)
through the product command, each product checked by ci/check_cloud.py (the
shared check_refs.py rules) under the cloud environment (/tmp/cloudenv).

  accept_cloud.py SETDIR --kind icechunk|s3zarr [--bin PATH] [--keep DIR] [--bucket B]

icechunk: `padocc refs FILES -o DIR/NAME.icechunk`; s3zarr: `padocc zarr FILES -o
s3://BUCKET/accept/NAME.zarr` (AWS_ENDPOINT_URL and credentials from the
environment). Prints PASS/FAIL per case and 'N/M pass (kind)'.
"""
import argparse, json, os, shlex, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CLOUDENV = os.environ.get("CLOUDENV", "/tmp/cloudenv")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("setdir")
    p.add_argument("--kind", required=True, choices=["icechunk", "s3zarr"])
    p.add_argument("--bin", default=os.environ.get("PADOCC_BIN", "target/release/padocc"))
    p.add_argument("--keep", default=None)
    p.add_argument("--bucket", default=os.environ.get("PADOCC_TEST_BUCKET", "padocc-accept"))
    p.add_argument("--timeout", type=int, default=300)
    a = p.parse_args()
    m = json.load(open(os.path.join(a.setdir, "MANIFEST.json")))
    out_dir = a.keep or tempfile.mkdtemp(prefix="accept-cloud-")
    os.makedirs(out_dir, exist_ok=True)
    cases = []
    for s in m["series"]:
        files = [os.path.join(a.setdir, f["file"]) for f in s["files"]]
        cargs = list(s.get("checker_args", []))
        if s.get("combine", "nested") != "nested":
            cargs += ["--combine", s["combine"]]
        else:
            cargs += ["--concat-dim", s.get("concat_dim", "time")]
        cases.append((s["name"], files, cargs, ",".join(s.get("kerchunk_concat_dims") or [s.get("concat_dim", "time")])))
    for s in m["singles"]:
        cases.append((os.path.basename(s["file"]), [os.path.join(a.setdir, s["file"])], s.get("checker_args", []), None))
    ok = 0
    for name, files, cargs, concat in cases:
        concat_flag = f"--concat-dim {concat}" if (concat and len(files) > 1) else ""
        if "--dedupe" in cargs:
            concat_flag += " --dedupe " + cargs[cargs.index("--dedupe") + 1]
        qfiles = " ".join(shlex.quote(f) for f in files)
        if a.kind == "icechunk":
            out = os.path.join(out_dir, name + ".icechunk")
            subprocess.run(["rm", "-rf", out])
            cmd = f"{a.bin} refs {qfiles} -o {shlex.quote(out)} {concat_flag} -q"
        else:
            out = f"s3://{a.bucket}/accept/{name}.zarr"
            cmd = f"{a.bin} zarr {qfiles} -o {shlex.quote(out)} {concat_flag} --stage {shlex.quote(os.path.join(out_dir, 'stage'))} -q"
        try:
            r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=a.timeout)
        except subprocess.TimeoutExpired:
            print(f"FAIL {name}: product command timed out"); continue
        if r.returncode != 0:
            msg = (r.stderr or r.stdout).strip().splitlines()
            print(f"FAIL {name}: product command exit {r.returncode}: {msg[-1][:200] if msg else ''}"); continue
        chk = [f"{CLOUDENV}/bin/python", os.path.join(HERE, "check_cloud.py"), out, *files, *cargs, "--kind", "zarr"]
        try:
            c = subprocess.run(chk, capture_output=True, text=True, timeout=a.timeout)
        except subprocess.TimeoutExpired:
            print(f"FAIL {name}: check timed out"); continue
        with open(os.path.join(out_dir, name + ".check.log"), "w") as f:
            f.write(c.stdout + c.stderr)
        if c.returncode == 0:
            ok += 1; print(f"PASS {name}")
        else:
            lines = [l for l in c.stdout.splitlines() if "FAIL" in l or "ERROR" in l] or c.stdout.splitlines()[-1:] or c.stderr.splitlines()[-1:]
            print(f"FAIL {name}: {lines[0][:200] if lines else 'exit %d' % c.returncode}")
    print(f"{ok}/{len(cases)} pass ({a.kind})")
    sys.exit(0 if ok == len(cases) else 1)


if __name__ == "__main__":
    main()
