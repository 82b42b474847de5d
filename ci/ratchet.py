#!/usr/bin/env python3
"""Acceptance ratchet: fail when a case listed as passing no longer passes.

  ratchet.py LISTED RESULTS

LISTED has one '<kind> <case>' per line ('#' comments allowed); RESULTS has
'PASS <kind> <case>' lines from scripts/acceptance.sh. Cases that pass but are
not listed are printed so they can be added: the list only grows.
"""
import sys


def read_listed(path):
    out = set()
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line:
            out.add(tuple(line.split(None, 1)))
    return out


def main():
    listed = read_listed(sys.argv[1])
    passed = set()
    for line in open(sys.argv[2]):
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] == "PASS":
            passed.add((parts[1], parts[2].strip()))
    lost = sorted(listed - passed)
    new = sorted(passed - listed)
    for kind in sorted({k for k, _ in listed | passed}):
        n_pass = sum(1 for k, _ in passed if k == kind)
        print(f"ratchet: {kind}: {n_pass} passing, {sum(1 for k, _ in listed if k == kind)} required")
    for k, c in new:
        print(f"ratchet: newly passing, add to {sys.argv[1]}: {k} {c}")
    for k, c in lost:
        print(f"ratchet: REGRESSION: {k} {c} is listed as passing but did not pass")
    print(f"{len(passed & listed)} passed, {len(lost)} failed")
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()
