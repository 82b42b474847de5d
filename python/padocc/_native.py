"""padocc._native: the only door to the Rust engine (``padocc._padocc``).

Everything the Python layer cannot do by reading and writing padocc's
JSON/CSV/txt files goes through the functions below: running phases,
creating projects (file lists, checks), recording status rows (the project's
``status_log.csv`` *and* the group's status index, which padocc-rs's
``status`` reads), moving projects between groups, and editing attributes of
``.nca`` files.

The extension is imported on first use, so ``import padocc`` works (and
stays light) without it; a call without it raises ImportError with what to do.

Conventions for every function here:

* arguments and return values are plain JSON-able Python values (str, int,
  float, bool, None, list, dict); paths are strings and are made absolute
  here (padocc accepts a workdir relative to the current directory);
* a failure of the call as a whole raises a ``padocc.core.errors.EngineError``
  subclass (also a ``ValueError``/``FileNotFoundError``/``OSError``...); a
  failure of one project in a phase run is not an exception but that
  project's outcome (``status``, ``ok``, ``message``);
* ``run_phase`` and ``submit`` release the GIL; Ctrl-C during ``run_phase``
  asks the engine to stop (projects in flight stop at their next safe point
  and are recorded ``Interrupted``), then KeyboardInterrupt is raised.

Run options (``run_phase``), all optional:

=================  ======================================================
force              bool: redo where the result exists (``-f``/``-T``)
new_version        bool: compute a new minor version beside it (``-n``)
cloud_format       ``kerchunk`` | ``zarr`` | ``CFA`` (``-C``; recorded in base-cfg
                   ``override`` as the CLI does; Python has usually recorded it already)
mem_allowed        int bytes: zarr conversion buffers (``--mem-allowed``)
concat_dims        list[str]: override scan's (a leading ``'+'`` adds to them)
dedupe             ``error`` | ``keep`` | ``first`` | ``last``
sample             int: validate N blocks per variable (0 = every value)
bypass             dict: validation bypass (padocc's ``-i`` file content)
completion_dir     str: complete: destination
sub, replace       str: complete: rewrite source paths (remote copies)
version_separator  str: complete: default ``_``
delete             bool: complete: delete the project directory afterwards
indices            list[int]: positions of ``codes`` in their repeat id
                   (the jobid of each status row; default 0..n-1)
jobid              str: jobid for every status row instead of the index
jobs               int: projects at once (default: all cores)
dryrun             bool: report what would run, write nothing
quiet              bool: nothing on stderr (default True here)
=================  ======================================================
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import Any, Optional

_EXT = None


def _ext():
    """The PyO3 extension, imported on first use."""
    global _EXT
    if _EXT is None:
        try:
            _EXT = importlib.import_module('padocc._padocc')
        except ImportError as err:
            raise ImportError(
                "padocc's engine (the compiled module padocc._padocc) is not available: "
                'install a padocc wheel for this platform, or build it from the '
                'padocc-rs sources with `maturin develop --release`'
            ) from err
    return _EXT


def available() -> bool:
    """True when the engine can be loaded."""
    try:
        _ext()
    except ImportError:
        return False
    return True


def _convert(err: BaseException) -> BaseException:
    from .core.errors import engine_error
    return engine_error(
        str(getattr(err, 'message', None) or err),
        kind=getattr(err, 'kind', 'internal'),
        exit_code=getattr(err, 'exit_code', 1),
        path=getattr(err, 'path', None),
    )


def _call(name: str, *args):
    ext = _ext()
    try:
        return getattr(ext, name)(*args)
    except ext.EngineError as err:
        raise _convert(err) from None


def _call_interruptible(name: str, *args):
    """Run a long native call in a thread, so Ctrl-C reaches Python and can
    ask the engine to stop."""
    ext = _ext()
    box: dict = {}

    def target():
        try:
            box['value'] = getattr(ext, name)(*args)
        except BaseException as err:  # re-raised in the caller's thread
            box['error'] = err

    worker = threading.Thread(target=target, name=f'padocc-{name}', daemon=True)
    worker.start()
    interrupted = False
    while worker.is_alive():
        try:
            worker.join(0.2)
        except KeyboardInterrupt:
            if interrupted:
                raise  # second Ctrl-C: leave now (writes are atomic)
            interrupted = True
            ext.interrupt()
    if 'error' in box:
        err = box['error']
        if isinstance(err, ext.EngineError):
            raise _convert(err) from None
        raise err
    if interrupted:
        raise KeyboardInterrupt('interrupted: projects in flight were stopped and recorded as Interrupted')
    return box.get('value')


def _abs(path: str) -> str:
    return os.path.abspath(path)


# -- the native functions ------------------------------------------------------

def engine_version() -> str:
    """Version of the padocc-rs engine (``padocc --version``)."""
    return _call('engine_version')


def init_projects(workdir: str, group: str, rows: list[dict], options: Optional[dict] = None) -> dict:
    """
    Create or update projects of ``group`` (the group directory is created
    when missing).

    ``rows``: one dict per project::

        {"proj_code": str,
         "pattern": str | list[str],   # glob, .txt list file, or explicit file list
         "update": str | dict,         # stored as base-cfg "update" (CSV column 3)
         "remove": str | dict,         # stored as base-cfg "remove" (CSV column 4)
         "keep_vars": list[str],       # [] = all variables
         "substitutions": dict | None, # padocc's {"datasets": {old: new}, ...}: "datasets"
                                       # applies to every path as globbed/listed (before it
                                       # is made absolute); the dict is stored in base-cfg
         "line": str | None,           # the datasets.csv line for this project
         "base_cfg": dict}             # other base-cfg keys, stored as given (remote_s3...)

    ``options``: ``update_existing`` (bool, default True: re-init updates,
    never duplicates), ``add_to_main`` (default True), ``skip_filechecks``
    (bypass ``f``: no existence/extension checks), ``dryrun``.

    Every row is checked before anything is written. Each new or changed
    project gets base-cfg, detail-cfg (``num_files``), allfiles (absolute
    paths) and the status row ``init,Success``.

    Returns ``{"created": [codes], "updated": [codes], "unchanged": [codes]}``.
    """
    return _call('init_projects', _abs(workdir), group, rows, options or {})


def run_phase(workdir: str, group: str, phase: str, codes: list[str], options: Optional[dict] = None) -> dict:
    """
    Run ``phase`` (``scan``, ``compute``, ``validate`` or ``complete``) for
    ``codes`` of ``group``, in this process (projects in parallel), recording
    each project's status row and phase-log line. Options: see the module
    docstring.

    Returns::

        {"group": str, "phase": str, "seconds": float, "interrupted": bool,
         "results": [{"index": int, "code": str, "phase": str,
                      "status": str,      # as recorded, e.g. "Success", "Warn-...",
                                          # "Fatal-size_errors", "SourceNotFoundError"
                      "ok": bool, "skipped": bool,
                      "message": str | None, "seconds": float}, ...]}

    With ``dryrun``: ``{"dry_run": True, "projects": [{"index", "code",
    "status", "would_run", "why_not"}]}`` and nothing written.
    """
    opts = dict(options or {})
    for key in ('completion_dir',):
        if opts.get(key):
            opts[key] = _abs(opts[key])
    return _call_interruptible('run_phase', _abs(workdir), group, phase, list(codes), opts)


def current_statuses(workdir: str, group: str, codes: list[str]) -> dict:
    """
    The current (newest) status row of each of ``codes`` that has one:
    ``{code: {"phase": str, "status": str, "time": str, "jobid": str}}``,
    from the group's status index, else the project's ``status_log.csv``.
    """
    return _call('current_statuses', _abs(workdir), group, list(codes))


def record_status(workdir: str, group: str, code: str, phase: str, status: str, jobid: str = '') -> None:
    """
    Append ``phase,status,<HH:MM dd/mm/yy>,jobid`` to the project's
    ``status_log.csv`` (one append; ``,`` and newlines become ``.``) and to
    the group's status index.
    """
    return _call('record_status', _abs(workdir), group, code, phase, status, jobid)


def transfer_projects(workdir: str, group: str, new_group: str, codes: list[str]) -> int:
    """
    Move projects to ``new_group`` (created when missing): directories, their
    codes (removed from every subset of ``group``, appended to the new
    group's ``main``), their ``datasets.csv`` lines and current status.
    Raises EngineUsageError when a code is not in ``group`` or already in
    ``new_group``. Returns the number moved.
    """
    return _call('transfer_projects', _abs(workdir), group, new_group, list(codes))


def nca_meta(path: str) -> dict:
    """Global attributes of a netCDF/CFA file, as JSON values (arrays as lists)."""
    return _call('nca_meta', _abs(path))


def set_nca_meta(path: str, attrs: dict, remove: Optional[list] = None) -> None:
    """
    Set (``attrs``) and delete (``remove``) global attributes of a
    netCDF/CFA file, in place; nothing else in the file changes.
    """
    return _call('set_nca_meta', _abs(path), attrs, list(remove or []))


def rewrite_nca_uris(path: str, sub: str, replace: str) -> int:
    """
    In a CFA file, rewrite every fragment URI starting with ``sub`` to start
    with ``replace`` (in place). Returns the number of URIs rewritten.
    """
    return _call('rewrite_nca_uris', _abs(path), sub, replace)


def submit(workdir: str, group: str, phase: str, codes: list[str],
           options: Optional[dict] = None, scheduler: Optional[dict] = None) -> dict:
    """
    Submit ``phase`` for ``codes`` as job arrays (padocc's ``--parallel``).

    ``options``: as ``run_phase``. ``scheduler``: ``{"name": "slurm" | "lsf" |
    "pbs" | "local", "config": path, "time": "MM:SS", "memory": "2G",
    "per_task": int, "dry_run": bool}`` (all optional).

    Returns ``{"scheduler": str, "dry_run": bool, "submissions": [{"job_id":
    str | None, "projects": int, "tasks": int, "time_s": int, "mem_mb": int,
    "script": str}]}``.
    """
    return _call_interruptible('submit', _abs(workdir), group, phase, list(codes),
                               dict(options or {}), dict(scheduler or {}))


def interrupt() -> None:
    """Ask a running ``run_phase`` to stop (as a first Ctrl-C does in the CLI)."""
    return _call('interrupt')


__all__ = [
    'available', 'engine_version', 'init_projects', 'run_phase', 'current_statuses',
    'record_status', 'transfer_projects', 'nca_meta', 'set_nca_meta',
    'rewrite_nca_uris', 'submit', 'interrupt',
]
