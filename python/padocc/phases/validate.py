"""padocc.phases.validate: ``ValidateOperation`` (run by the engine).

The engine reads the product as a client would and compares every value of
every variable with the sources (``sample=N`` compares N blocks per variable
instead), plus dimensions, dtypes and attributes, and writes padocc's
``data_report.json``/``metadata_report.json``. The status is
``Success``/``Warn-...``/``Fatal-...`` as in padocc 1.5.1; attributes padocc
adds itself (``aggregation_date``) are not reported as missing, so a clean
product validates as ``Success`` without a bypass file.
"""

__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

from typing import Callable

from padocc.core import ProjectOperation
from padocc.core.errors import worst_error
from padocc.core.utils import print_fmt_str


class ValidateOperation(ProjectOperation):
    """
    Validate phase for one project.

    ``run(mode=None, error_bypass=None, sample=None, forceful=None,
    bypass=None, dryrun=None, dim_mid=None)``: ``error_bypass`` is padocc's
    bypass file (a dict or a JSON path); ``mode`` validates another product
    format of the project; ``dim_mid`` is accepted and not needed.
    Returns ``'Success'``, ``'Warning'`` or ``'Fatal'``.
    """
    def __init__(
            self,
            proj_code,
            workdir,
            **kwargs):
        """
        No current validate-specific parameters
        """

        self.phase = 'validate'
        super().__init__(proj_code, workdir, **kwargs)

    @classmethod
    def help(cls, func: Callable = print_fmt_str, fn: Callable = None):
        func = fn or func
        super().help(func=func)
        func('')
        func('Validate Options:')
        func(' > project.run() - Run validation for this project')


class ValidateDatasets:
    """padocc 1.5.1's in-Python comparison of two xarray datasets; the engine validates natively."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            'ValidateDatasets is internal to padocc 1.5.1; use ValidateOperation.run, '
            'or `padocc verify PRODUCT FILES...` for a product outside a working directory'
        )


class PresliceSet:
    """padocc 1.5.1 internal (aligning one source file with the aggregate); not needed."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError('PresliceSet is internal to padocc 1.5.1')


class Report:
    """
    A validation report: ``{'data': {...}, 'metadata': {...}}`` with the
    bypass applied by ``worst_error``.
    """

    def __init__(self, fh=None, bypass: dict = None):
        if fh is None:
            value = {}
        elif isinstance(fh, dict):
            value = fh
        else:
            value = fh.get()
        self._value = dict(value)
        self._bypass = bypass or {}

    def __setitem__(self, index, value):
        self._value[index] = value

    def __getitem__(self, index):
        return self._value[index]

    @property
    def value(self):
        return self._value

    def worst_error(self):
        return worst_error(self._value, self._bypass)[0]

    def export(self):
        return dict(self._value)

    def __bool__(self):
        return bool(self._value)

    def __repr__(self):
        return repr(self._value)

    def __str__(self):
        return str(self._value)
