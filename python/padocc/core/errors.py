"""padocc.core.errors: padocc 1.5.1's exceptions, ``error_handler`` and
``worst_error``, plus the errors of the padocc-rs engine.

The exception classes, their messages and ``get_str()`` status tokens (the
class name, from ``KerchunkException``) are padocc 1.5.1's
(``ExpectMemoryError.get_str`` now returns its own name).
New here:

* ``EngineError`` and its subclasses, raised by ``padocc._native`` when a
  native call fails as a whole (bad group, unknown project, unwritable
  directory...). Each also derives from the builtin exception padocc 1.5.1
  raised in the same situation (``ValueError``, ``FileNotFoundError``,
  ``OSError``), so ``except ValueError`` keeps working.
* ``exception_for_status``: the padocc exception for a status token the
  engine recorded for one project (``SourceNotFoundError``,
  ``ConcatFatalError``, ``Failed-InputError``...), used by the phase classes
  when the bypass switch has no ``S``.
"""

from __future__ import annotations

__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

import logging
import traceback
from typing import Optional, Union

FATAL_ERRORS = [
    'ConcatFatalError'
]

def error_handler(
        err : Exception,
        logger: logging.Logger,
        phase: str,
        subset_bypass: bool = False,
        jobid: Optional[str] = None,
        status_fh: Optional[object] = None,
        agg_shorthand: str = '',
    ) -> str:

    """
    This function should be used at top-level loops over project codes ONLY -
    not within the main body of the package.

    1. Single slurm job failed - raise Error
    2. Single serial job failed - raise Error
    3. One of a set of tasks failed - print error for that dataset as traceback.

    :param err:     (Exception) Error raised within some part of the pipeline.

    :param logger:  (logging.Logger) Logging operator for any messages.

    :param subset_bypass:   (bool) Skip raising an error if this operation
        is part of a sequence.

    :param jobid:   (str) The ID of the SLURM job if present.

    :param status_fh:   (object) Padocc Filehandler to update status, or any
        object with ``update_status(phase, status, jobid=...)`` (a
        ``ProjectOperation`` records through the engine).
    """

    def get_status(tb: list) -> str:
        status = 'Failed-NoLogGiven'
        for j in range(1, len(tb)):
            index = (j*-1)
            if tb[index]:
                status = 'Failed-' + tb[index].split(':')[0]
                break
        return status

    tb = traceback.format_exception(type(err), err, err.__traceback__)
    tb = ''.join(tb).split('\n')

    if hasattr(err, 'get_str'):
        status = err.get_str()
    else:
        status = get_status(tb)

    # Quick aggregation shorthand
    status = agg_shorthand + status

    if status_fh is not None:
        status_fh.update_status(phase, status, jobid=jobid or '')
        if hasattr(status_fh, 'save'):
            status_fh.save()

    logger.error('\n'.join(tb))
    if subset_bypass:
        return 'Fatal'
    else:
        raise err

def worst_error(report: dict, bypass: dict = None) -> tuple:
    """
    Determine the worst error level of a validation report.

    Returns ``(error or None, report)`` with bypassed entries marked ``SKIP``.
    Fixed from padocc 1.5.1: metadata variable findings are read from
    ``data_vars`` (the key the reports use; 1.5.1 looked for ``variables``
    and so never counted them), and a report without metadata returns the
    data error instead of an unbound name.
    """

    error = None

    bypass = bypass or {}

    if 'report' in report:
        report = report['report']

    priority = {
        'size_errors':'Fatal',
        'dim_size_errors':"Fatal",
        'data_errors':"Fatal",
        'dim_errors':"Fatal",
        'growbox':"Warn",
        'bypassed':"Warn",
        'dtype/precision':"Warn"
    }

    def _bypassed(path: list) -> bool:
        node = bypass
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return True

    def _mark(node: dict, key: str) -> None:
        if isinstance(node[key], dict):
            node[key]['SKIP'] = True
        else:
            node[key] = f'{node[key]}_SKIP'

    # Check all data issues that would be fatal.
    if 'data' in report:
        section = report['data'] or {}
        for err, result in priority.items():
            for part in ('variables', 'dimensions'):
                entries = section.get(part, {}).get(err, {})
                for v in list(entries.keys()):
                    if _bypassed(['data', part, err, v]):
                        _mark(entries, v)
                    else:
                        error = error or f'{result}-{err}'

    metadata = report.get('metadata') or {}

    for section in ('data_vars', 'variables'):
        vars = metadata.get(section) or {}
        for etype in ['missing','order']:
            for k, v in vars.items():
                if not isinstance(v, dict) or v.get('type') != etype:
                    continue
                allowed = (bypass.get('metadata', {}).get(section, {}).get(k, {}).get('type') == etype)
                if allowed:
                    v['SKIP'] = True
                else:
                    error = error or f'Warn-{k}_{etype}'

    dims = metadata.get('dims') or {}
    for k, v in dims.items():
        if not isinstance(v, dict) or v.get('type') != 'order':
            continue
        if bypass.get('metadata', {}).get('dims', {}).get(k, {}).get('type') == 'order':
            v['SKIP'] = True
        else:
            error = error or f'Warn-{k}_order'

    attrs = metadata.get('attributes') or {}
    for attr_parent, attrset in attrs.items():
        parent_bypass = bypass.get('metadata', {}).get('attributes', {}).get(attr_parent, {})
        for title, issue in attrset.items():
            if not isinstance(issue, dict):
                continue
            etype = issue.get('type')
            if parent_bypass.get('skip_all', False) or parent_bypass.get(title, {}).get('type', '') == etype:
                issue['SKIP'] = True
            else:
                error = error or f'Warn-{attr_parent}_{title}_{etype}'
    return error, report

class KerchunkException(Exception):
    """
    General Exception type.
    """
    def __init__(self, proj_code: Union[str,None], groupdir: Union[str,None], verbose: int = 1) -> None:
        self.proj_code = proj_code
        self.groupdir  = groupdir
        msg = getattr(self, 'message', None) or self.__class__.__doc__ or ''
        super().__init__(msg)
        # As padocc 1.5.1: quiet errors print without their module path.
        if verbose < 1:
            self.__class__.__module__ = 'builtins'

    def get_str(self):
        """The status token: the class name (padocc 1.5.1's ExpectMemoryError
        returned 'ExpectTimeoutError')."""
        return type(self).__name__

class PartialDriverError(KerchunkException): # Keep
    """All drivers failed (NetCDF3/Hdf5/Tiff) for one or more files within the list"""
    def __init__(
            self,
            filenums: Union[int,None] = None, 
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:
        self.message = f"All drivers failed when performing conversion for files {filenums}"
        super().__init__(proj_code, groupdir, verbose)
    
class MissingDataError(KerchunkException): # Keep
    """Data missing from kerchunk product"""
    def __init__(
            self,
            reason,
            followup: str = 'Kerchunk product incomplete',
            verbose: int = 0,
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:
        self.message = f'Data missing: {reason} - {followup}'
        super().__init__(proj_code, groupdir, verbose)

class AggregationError(KerchunkException): # Keep
    """Aggregation dimension(s) are not properly arranged"""
    def __init__(
            self,
            agg_dims,
            verbose: int = 0,
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:
        self.message = f'Aggregation is incorrectly ordered for dimension(s): {agg_dims}'
        super().__init__(proj_code, groupdir, verbose)

class KerchunkDriverFatalError(KerchunkException): # Keep
    """All drivers failed (NetCDF3/Hdf5/Tiff) - run without driver bypass to assess the issue with each driver type."""
    def __init__(
            self,
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:
        self.message = "All drivers failed when performing conversion"
        super().__init__(proj_code, groupdir, verbose)

class MissingVariableError(KerchunkException): # Keep
    """A variable is missing from the environment or set of arguments."""
    def __init__(
            self,
            vtype: str = "$",
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:
        self.message = f'Missing variable: {vtype}'
        super().__init__(proj_code, groupdir, verbose)

class ExpectTimeoutError(KerchunkException):
    """The process is expected to time out given timing estimates."""
    def __init__(
            self,
            required: int = 0,
            current: str = '',
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:
        self.message = f'Scan requires minimum {required} - current {current}'
        super().__init__(proj_code, groupdir, verbose)
    
class ExpectMemoryError(KerchunkException):
    """The process is expected to run out of memory given size estimates."""
    def __init__(
            self,
            required: int = 0,
            current: str = '',
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:
        self.message = f'Scan requires minimum {required} - current {current}'
        super().__init__(proj_code, groupdir, verbose)

class ChunkDataError(KerchunkException): # Keep
    """Overflow Error from pandas during decoding of chunk information, most likely caused by bad data retrieval."""
    def __init__(
            self,
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:
        self.message = 'Decoding resulted in overflow - received chunk data contains junk (attempted 3 times)'
        super().__init__(proj_code, groupdir, verbose)

class NoValidTimeSlicesError(KerchunkException):
    """Unable to find any time slices to test within the object."""
    def __init__(
            self,
            message: str = 'kerchunk',
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:
        self.message = f'No valid timeslices found for {message}'
        super().__init__(proj_code, groupdir, verbose)

class NoOverwriteError(KerchunkException):
    """Output file already exists and the process does not have forceful overwrite (-f) set."""
    def __init__(
            self,
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:

        self.message = 'Output file already exists and forceful overwrite not set.'
        super().__init__(proj_code, groupdir, verbose)

class MissingKerchunkError(KerchunkException): # Keep
    """Kerchunk file not found."""
    def __init__(
            self, 
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:
        self.message = "No suitable kerchunk file found."
        super().__init__(proj_code, groupdir, verbose)

class ValidationError(KerchunkException):
    """One or more checks within validation have failed - most likely elementwise comparison of data."""
    def __init__(
            self,
            report_err: Union[str,None] = None,
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:

        self.err_msg = report_err

        self.message = self.err_msg
        super().__init__(proj_code, groupdir, verbose)
    
class ComputeError(KerchunkException): # Keep
    """Compute stage failed - likely due to invalid config/use of the classes"""
    def __init__(
            self,
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:
        self.message = "Invalid configuration for the Compute stage"
        super().__init__(proj_code, groupdir, verbose)
    
class ConcatenationError(KerchunkException):
    """Variables could not be concatenated over time and are not duplicates - no known solution"""
    def __init__(
            self,
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:

        self.message = "Variables could not be concatenated over time and are not duplicates - no known solution"
        super().__init__(proj_code, groupdir, verbose)
    
class ConcatFatalError(KerchunkException): # Keep
    """Chunk sizes differ between refs - files cannot be concatenated"""
    def __init__(
            self, 
            var: Union[str,None] = None, 
            chunk1: Union[int,None] = None, 
            chunk2: Union[int,None] = None, 
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:

        self.message = f"Chunk sizes differ between refs for {var}"
        if chunk1 is not None: 
            self.message += f" {chunk1} vs {chunk2}"
        self.message += " - files cannot be concatenated"
        super().__init__(proj_code, groupdir, verbose)
    
class SourceNotFoundError(KerchunkException): # Keep
    """Source File could not be located."""
    def __init__(
            self,
            sfile: Union[str, None],
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:

        self.message = f"Source file could not be located: {sfile}"
        super().__init__(proj_code, groupdir, verbose)
    
# Potentially useful but currently unused.
class ArchiveConnectError(KerchunkException):
    """Connection to the CEDA Archive could not be established"""
    def __init__(
            self,
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:

        self.message = f"Connection verification to the CEDA archive failed - {proj_code}"
        super().__init__(proj_code, groupdir, verbose)

class KerchunkDecodeError(KerchunkException): # Keep
    """Decoding of Kerchunk file failed - likely a time array issue."""
    def __init__(
            self,
            verbose: int = 0, 
            proj_code: Union[str,None] = None, 
            groupdir: Union[str,None] = None
        ) -> None:

        self.message = f"Decoding of Kerchunk file failed - likely a time array issue."
        super().__init__(proj_code, groupdir, verbose)


# ---------------------------------------------------------------------------
# padocc-rs additions
# ---------------------------------------------------------------------------

class EngineError(Exception):
    """
    A native (padocc-rs engine) call failed as a whole.

    ``kind`` is the engine's error class: ``usage``, ``missing``,
    ``unreadable``, ``corrupt``, ``unknown_format``, ``incompatible``,
    ``unsupported``, ``output``, ``interrupted`` or ``internal``;
    ``exit_code`` the CLI's exit code for it (docs/exit-codes.md); ``path``
    the file concerned, when there is one.
    """
    def __init__(self, message: str, kind: str = 'internal', exit_code: int = 1, path: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.exit_code = exit_code
        self.path = path

    def get_str(self):
        return ENGINE_STATUS.get(self.kind, 'Failed-InternalError')

class EngineUsageError(EngineError, ValueError):
    """Bad request: unknown group/project/index, a phase run out of order..."""

class EngineInputError(EngineError, FileNotFoundError):
    """An input file is missing, unreadable, corrupt or not netCDF/HDF5 (exit 3)."""

class EngineIncompatibleError(EngineError, ValueError):
    """The files cannot be combined as asked (exit 4)."""

class EngineUnsupportedError(EngineError, NotImplementedError):
    """A feature references cannot express (exit 5)."""

class EngineOutputError(EngineError, OSError):
    """An output cannot be written (exit 6)."""

class EngineResourcesError(EngineError, MemoryError):
    """Memory (or another resource of the machine) ran out; the data is not blamed (exit 8)."""

class EngineSchedulerError(EngineError, RuntimeError):
    """The job scheduler (sbatch, bsub, qsub...) could not be run or refused (exit 7)."""

class EngineInternalError(EngineError, RuntimeError):
    """A bug in padocc-rs (exit 1)."""

ENGINE_ERRORS = {
    'usage': EngineUsageError,
    'missing': EngineInputError,
    'unreadable': EngineInputError,
    'corrupt': EngineInputError,
    'unknown_format': EngineInputError,
    'incompatible': EngineIncompatibleError,
    'unsupported': EngineUnsupportedError,
    'output': EngineOutputError,
    'resources': EngineResourcesError,
    'scheduler': EngineSchedulerError,
    'internal': EngineInternalError,
}

# Status token the engine records for each error kind (pipeline::error_status).
ENGINE_STATUS = {
    'missing': 'SourceNotFoundError',
    'incompatible': 'ConcatFatalError',
    'unreadable': 'Failed-InputError',
    'corrupt': 'Failed-InputError',
    'unknown_format': 'Failed-InputError',
    'unsupported': 'Failed-Unsupported',
    'output': 'Failed-OutputError',
    'usage': 'Failed-UsageError',
    'scheduler': 'Failed-SchedulerError',
    'resources': 'Failed-MemoryError',
    'interrupted': 'Interrupted',
    'internal': 'Failed-InternalError',
}

def engine_error(message: str, kind: str = 'internal', exit_code: int = 1, path: Optional[str] = None) -> Exception:
    """The Python exception for a failed native call."""
    if kind == 'interrupted':
        return KeyboardInterrupt(message)
    return ENGINE_ERRORS.get(kind, EngineInternalError)(message, kind=kind, exit_code=exit_code, path=path)

class ProjectFailedError(KerchunkException):
    """A phase failed for a project with a status padocc has no exception for."""
    def __init__(
            self,
            status: str = 'Failed',
            reason: Union[str, None] = None,
            verbose: int = 0,
            proj_code: Union[str,None] = None,
            groupdir: Union[str,None] = None
        ) -> None:
        self.status = status
        self.message = f'{status}: {reason}' if reason else status
        super().__init__(proj_code, groupdir)
    def get_str(self):
        return self.status

def _strip_shorthand(status: str) -> str:
    """``(V>K)Failed-ValueError`` -> ``Failed-ValueError``."""
    if status.startswith('(') and ')' in status:
        return status.split(')', 1)[1]
    return status

def is_error_status(status: Union[str, None]) -> bool:
    """
    True for statuses that record an exception (``Failed-*``, ``*Error``,
    ``Interrupted``), False for ``Success``, ``Pending``, validate's
    ``Warn-*``/``Fatal-*`` findings and the like.
    """
    if not status:
        return False
    core = _strip_shorthand(status)
    return core.startswith('Failed') or core.endswith('Error') or core == 'Interrupted' or core == 'ValueError'

def exception_for_status(
        status: str,
        message: Union[str, None] = None,
        proj_code: Union[str, None] = None,
        groupdir: Union[str, None] = None,
    ) -> Exception:
    """
    The padocc 1.5.1 exception for an error status the engine recorded, with
    the engine's message (``str(err)`` is the message, ``err.get_str()`` the
    status token without the aggregation shorthand).
    """
    core = _strip_shorthand(status)
    reason = message or core
    if core == 'SourceNotFoundError':
        err = SourceNotFoundError(reason, proj_code=proj_code, groupdir=groupdir)
    elif core == 'ConcatFatalError':
        err = ConcatFatalError(proj_code=proj_code, groupdir=groupdir)
    elif core == 'MissingDataError':
        err = MissingDataError(reason, proj_code=proj_code, groupdir=groupdir)
    elif core == 'AggregationError':
        err = AggregationError(reason, proj_code=proj_code, groupdir=groupdir)
    elif core == 'ValidationError':
        err = ValidationError(reason, proj_code=proj_code, groupdir=groupdir)
    elif core == 'Interrupted':
        return KeyboardInterrupt(reason)
    else:
        err = ProjectFailedError(core, message, proj_code=proj_code, groupdir=groupdir)
    if message:
        err.args = (message,)
        err.message = message
    return err
