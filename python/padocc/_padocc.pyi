"""Type stubs for ``padocc._padocc``, the PyO3 extension (padocc-rs engine).

Only ``padocc._native`` imports this module; see its docstrings for the
meaning of every field. All arguments and return values are plain JSON-able
Python values (dicts/lists converted with serde, e.g. via ``pythonize``).
Paths arrive absolute. ``run_phase`` and ``submit`` must release the GIL
(``py.allow_threads``) and reset the interrupt flag when they start.
"""

from typing import Any, Callable, Optional, TypedDict

JSON = Any

class EngineError(Exception):
    """Raised when a call fails as a whole (never for one project's failure)."""
    message: str
    kind: str          # usage | missing | unreadable | corrupt | unknown_format |
                       # incompatible | unsupported | output | resources | scheduler |
                       # interrupted | internal
    exit_code: int     # the CLI's exit code for this kind (docs/exit-codes.md)
    path: Optional[str]

class InitRow(TypedDict, total=False):
    proj_code: str
    pattern: str | list[str]
    update: str | dict
    remove: str | dict
    keep_vars: list[str]
    substitutions: Optional[dict]
    line: Optional[str]
    base_cfg: dict

class InitOptions(TypedDict, total=False):
    update_existing: bool   # default True
    add_to_main: bool       # default True
    skip_filechecks: bool   # default False
    dryrun: bool            # default False

class InitSummary(TypedDict):
    created: list[str]
    updated: list[str]
    unchanged: list[str]

class RunOptions(TypedDict, total=False):
    force: bool
    new_version: bool
    cloud_format: str            # kerchunk | zarr | CFA
    mem_allowed: int             # bytes
    concat_dims: list[str]       # a leading "+" adds to the recorded dims
    dedupe: str                  # error | keep | first | last
    sample: int
    bypass: dict                 # validation bypass (report-shaped)
    completion_dir: str
    sub: str
    replace: str
    version_separator: str
    delete: bool
    indices: list[int]
    jobid: str
    jobs: int
    dryrun: bool
    quiet: bool

class Outcome(TypedDict):
    index: int
    code: str
    phase: str
    status: str
    ok: bool
    skipped: bool
    message: Optional[str]
    seconds: float

class RunResult(TypedDict, total=False):
    group: str
    phase: str
    seconds: float
    interrupted: bool
    results: list[Outcome]
    # dry run only:
    dry_run: bool
    projects: list[dict]    # {index, code, status, would_run, why_not}

class StatusRow(TypedDict):
    phase: str
    status: str
    time: str
    jobid: str

class SchedulerOptions(TypedDict, total=False):
    name: str               # slurm | lsf | pbs | local
    config: str             # padocc.toml
    time: str               # MM:SS, H:MM:SS or minutes
    memory: str             # 2G, 4000M...
    per_task: int
    dry_run: bool

class Submission(TypedDict, total=False):
    job_id: Optional[str]
    projects: int
    tasks: int
    time_s: int
    mem_mb: int
    script: str

class SubmitResult(TypedDict, total=False):
    scheduler: str
    dry_run: bool
    submissions: list[Submission]

def engine_version() -> str: ...

def init_projects(workdir: str, group: str, rows: list[InitRow], options: InitOptions) -> InitSummary: ...

def run_phase(workdir: str, group: str, phase: str, codes: list[str], options: RunOptions,
              progress: Optional[Callable[[str, int, int], Any]] = None) -> RunResult:
    """``progress(label, done, total)`` is called at most ten times a second;
    an exception from it stops the run as ``interrupt()`` does."""

def current_statuses(workdir: str, group: str, codes: list[str]) -> dict[str, StatusRow]: ...

def record_status(workdir: str, group: str, code: str, phase: str, status: str, jobid: str) -> None: ...

def transfer_projects(workdir: str, group: str, new_group: str, codes: list[str]) -> int: ...

def nca_meta(path: str) -> dict[str, JSON]: ...

def set_nca_meta(path: str, attrs: dict[str, JSON], remove: list[str]) -> None: ...

def rewrite_nca_uris(path: str, sub: str, replace: str) -> int: ...

def submit(workdir: str, group: str, phase: str, codes: list[str],
           options: RunOptions, scheduler: SchedulerOptions) -> SubmitResult: ...

def interrupt() -> None: ...

def cli_main(argv: list[str]) -> int:
    """The ``padocc`` command line (``argv[0]`` is the program name); returns the exit code."""
