"""Run ../shared/tools/check_refs.py over many products in one interpreter
(xarray's import is paid once). Input: a JSON file holding a list of argument
lists, each `[product, source, ...]` plus check_refs options. Prints each
failure's report; exits 1 if any product differs from its sources."""

import importlib.util
import json
import sys

spec = importlib.util.spec_from_file_location("check_refs", sys.argv[1])
check_refs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_refs)

failed = 0
cases = json.load(open(sys.argv[2]))
for argv in cases:
    rc = check_refs.main(argv)
    if rc:
        failed += 1
        print(f"FAILED: {argv[0]} (rc {rc})", flush=True)
print(f"{len(cases) - failed}/{len(cases)} products equal their sources")
sys.exit(1 if failed else 0)
