#!/usr/bin/env bash
# Build the Python package (python/: padocc's 1.5.1 API over the compiled module
# padocc._padocc) as a wheel, install it in a venv, and run
#   1. our tests (tests/python), then
#   2. padocc 1.5.1's own 30 tests, unchanged, taken from its PyPI wheel (or sdist),
# each from a temporary directory against the installed package.
# Exits non-zero on any failure.
#
# Environment: PADOCC_PYENV (venv, default /tmp/padocc-pyenv, created with
# python3.11 when missing), PYTHON (interpreter for a new venv), and anything
# cargo reads (CARGO_TARGET_DIR...). Needs PyPI (maturin, the runtime
# dependencies, padocc==1.5.1) the first time; pip's cache serves later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=${PADOCC_PYENV:-/tmp/padocc-pyenv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
t0=$SECONDS

# The bundled HDF5 builds with a pip-installed CMake (scripts/setup.sh).
PYBIN=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
export PATH="$PYBIN:$HOME/.local/bin:$PATH"

if [ ! -x "$VENV/bin/python" ]; then
  echo "python-tests: creating $VENV with $PYTHON" >&2
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install 'maturin>=1.8,<2' 'pytest>=8' 'h5py>=3.11' nbclient ipykernel nbformat
# tests/python/test_notebook.py runs docs/notebooks/tour.ipynb in this kernel (the venv's python).
"$VENV/bin/python" -m ipykernel install --sys-prefix --name padocc-pyenv --display-name 'Python (padocc-pyenv)' >/dev/null 2>&1

WORK=$(mktemp -d /tmp/padocc-pytests.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

echo "python-tests: building the wheel (maturin, release, --locked)" >&2
"$VENV/bin/maturin" build --release --locked -m python/Cargo.toml -i "$VENV/bin/python" --out "$WORK/wheels" >&2
WHEEL=$(ls "$WORK"/wheels/padocc-*.whl)
# Dependencies as the wheel declares them, then this build over any earlier one.
"${PIP[@]}" install "$WHEEL[test]"
"${PIP[@]}" install --force-reinstall --no-deps "$WHEEL"

echo "python-tests: fetching padocc 1.5.1's tests" >&2
DL="$WORK/dl"
if ! "${PIP[@]}" download --no-deps --only-binary :all: padocc==1.5.1 -d "$DL" 2>/dev/null; then
  "${PIP[@]}" download --no-deps --no-binary :all: padocc==1.5.1 -d "$DL"
fi
RUN="$WORK/run"
mkdir -p "$RUN"
# padocc/tests (with its data) only: no padocc/__init__.py, so `import padocc`
# is the installed package, never the downloaded one.
"$VENV/bin/python" - "$DL" "$RUN" <<'EOF'
import os, sys, tarfile, zipfile
dl, run = sys.argv[1], sys.argv[2]
(name,) = [n for n in os.listdir(dl) if n.endswith(('.whl', '.tar.gz', '.zip'))]
path = os.path.join(dl, name)
def keep(member):
    parts = member.split('/')
    i = parts.index('padocc') if 'padocc' in parts else -1
    return i >= 0 and parts[i + 1:i + 2] == ['tests'], '/'.join(parts[i:])
if name.endswith('.whl') or name.endswith('.zip'):
    with zipfile.ZipFile(path) as z:
        for m in z.namelist():
            ok, rel = keep(m)
            if ok and not m.endswith('/') and '__pycache__' not in m:
                os.makedirs(os.path.join(run, os.path.dirname(rel)), exist_ok=True)
                with open(os.path.join(run, rel), 'wb') as f:
                    f.write(z.read(m))
else:
    with tarfile.open(path) as t:
        for m in t.getmembers():
            ok, rel = keep(m.name)
            if ok and m.isfile() and '__pycache__' not in m.name:
                os.makedirs(os.path.join(run, os.path.dirname(rel)), exist_ok=True)
                with open(os.path.join(run, rel), 'wb') as f:
                    f.write(t.extractfile(m).read())
EOF
TESTS="$RUN/padocc/tests"
[ -f "$TESTS/conftest.py" ] || { echo "python-tests: no padocc/tests in $(ls "$DL")" >&2; exit 1; }
# The tests read data_creator/Aggs.csv and data_creator/1DAgg/*.nc; the shared
# copy stands in if the download lacks them.
if [ ! -d "$TESTS/data_creator/1DAgg" ]; then
  mkdir -p "$TESTS/data_creator/1DAgg"
  cp "$REPO"/../shared/testdata/series/padocc-1DAgg/*.nc "$TESTS/data_creator/1DAgg/"
fi
if [ ! -f "$TESTS/data_creator/Aggs.csv" ]; then
  printf '%s\n' '1DAgg,/home/users/dwest77/cedadev/padocc/padocc/tests/data_creator/1DAgg/*.nc,,' \
    '1DAgg_z,/home/users/dwest77/cedadev/padocc/padocc/tests/data_creator/1DAgg/*.nc,,' >"$TESTS/data_creator/Aggs.csv"
fi
rm -rf "$TESTS/auto_testdata_dir"

echo "python-tests: our tests (tests/python)" >&2
# Their 8-file series, from the shared test data or else padocc's own copy.
SERIES="$REPO/../shared/testdata/series/padocc-1DAgg"
[ -d "$SERIES" ] || SERIES="$TESTS/data_creator/1DAgg"
mkdir -p "$WORK/ours"
(cd "$WORK/ours" && PADOCC_TEST_1DAGG=${PADOCC_TEST_1DAGG:-$SERIES} "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rs "$REPO/tests/python")

echo "python-tests: padocc 1.5.1's tests" >&2
# All paths in these tests are relative to the directory holding padocc/tests.
(cd "$RUN" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider padocc/tests)

echo "python-tests: all passed in $((SECONDS - t0)) s" >&2
