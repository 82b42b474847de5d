"""Tests of the installed Python package (padocc with its compiled module
padocc._padocc). Run by scripts/python-tests.sh in a venv where the wheel
built from python/ is installed; never import from the source tree."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get('PADOCC_TEST_1DAGG', REPO.parent / 'shared' / 'testdata' / 'series' / 'padocc-1DAgg'))


@pytest.fixture
def data_1dagg() -> Path:
    assert DATA.is_dir(), f'test data {DATA} not found (../shared beside the repository, or PADOCC_TEST_1DAGG)'
    return DATA


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    wd = tmp_path / 'wd'
    wd.mkdir()
    return wd


def run_python(code: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter of this venv (outside the source tree)."""
    return subprocess.run([sys.executable, '-c', code], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def padocc_command() -> str:
    exe = shutil.which('padocc', path=os.path.dirname(sys.executable))
    assert exe, 'the padocc console command is not installed beside this interpreter'
    return exe
