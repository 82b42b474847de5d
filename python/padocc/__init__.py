"""padocc: Pipeline to Aggregate Data for Optimised Cloud Capabilities.

A drop-in for padocc 1.5.1's Python API (``GroupOperation``,
``ProjectOperation``, the phase classes and filehandlers) over the padocc-rs
engine (the compiled module ``padocc._padocc``, loaded on first use by
``padocc._native``). Importing padocc imports no xarray; product
``open_dataset`` methods do.
"""

__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

# The API version this package reproduces (padocc 1.5.1 had no __version__).
__version__ = '1.5.1'

import os as _os
import sys as _sys

# Job scripts and validation helpers run the padocc program; in this process
# that is the package's `padocc` command beside the interpreter, not Python.
if not _os.environ.get('PADOCC_EXE'):
    _exe = _os.path.join(_os.path.dirname(_sys.executable), 'padocc')
    if _os.path.isfile(_exe):
        _os.environ['PADOCC_EXE'] = _exe

from .core import ProjectOperation
from .groups import GroupOperation
from .phases import phase_map


def __getattr__(name):
    if name == '__engine_version__':
        from . import _native
        return _native.engine_version()
    raise AttributeError(f"module 'padocc' has no attribute '{name}'")


__all__ = ['ProjectOperation', 'GroupOperation', 'phase_map', '__version__']
