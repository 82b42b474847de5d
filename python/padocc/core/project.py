"""padocc.core.project: ``ProjectOperation``, one project of a group.

The object reads and edits the project's files (``base-cfg.json``,
``detail-cfg.json``, ``allfiles.txt``, ``status_log.csv``, the phase logs and
the products) in pure Python; phases, initialisation and status rows go
through the engine (``padocc._native``).

Differences from padocc 1.5.1 (spec §8), on purpose:

* Handlers read through (see ``filehandlers``): a project object kept across
  a phase run sees what the run wrote, and saving it never writes stale
  values back.
* Constructing a project that does not exist no longer creates its
  directory (a typo used to leave an empty project behind).
* ``remote_s3`` may be a path to a JSON file (1.5.1 raised TypeError).
* ``info()['Phase']`` is the furthest phase reached (1.5.1 always said init).
* ``run`` on a phase class does not delete product files when ``mode``
  differs from the stored format; the format is switched and saved.
* ``get_agg_shorthand`` works on an empty status log; ``file_exists`` on an
  unknown name returns False; ``get_version`` exists (``help`` listed it).
"""

from __future__ import annotations

__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

import glob
import json
import logging
import os
import shutil
from typing import Any, Callable, Union

from .errors import (FATAL_ERRORS, exception_for_status, is_error_status)
from .filehandlers import (CSVFileHandler, JSONFileHandler, ListFileHandler,
                           LogFileHandler, _yaml_dump)
from .mixins import (DatasetHandlerMixin, DirectoryMixin, PropertiesMixin,
                     StatusMixin)
from .utils import (BypassSwitch, extract_json, file_configs, parse_bytes,
                    phases, print_fmt_str, valid_project_code)

# Keyword arguments of padocc 1.5.1's phase ``_run`` methods that padocc-rs
# accepts and has no use for (one aggregator, no per-project subsets, all
# variables without the concat dimension come from the first file...).
IGNORED_RUN_KWARGS = {
    'aggregator', 'b64vars', 'identical_dims', 'ctype', 'check_dimensions',
    'compute_subset', 'compute_total', 'lim0', 'lim1', 'output', 'dim_mid',
    'parallel', 'verbose', 'file_limit',
}


def load_bypass(value: Union[dict, str, None]) -> Union[dict, None]:
    """A validation bypass given as a dict or a path to a JSON file."""
    if value is None or isinstance(value, dict):
        return value
    return extract_json(value)


def native_phase_options(phase: str, logger: Union[logging.Logger, None] = None, **kwargs) -> dict:
    """
    Map padocc 1.5.1's ``run``/``_run`` keyword arguments of a phase to the
    engine's ``run_phase`` options. Unknown names raise TypeError, as
    calling padocc's ``_run`` with them did.
    """
    opts: dict = {}
    for key, value in kwargs.items():
        if value is None:
            continue
        if key in ('mode', 'cloud_format'):
            opts['cloud_format'] = value
        elif key == 'mem_allowed':
            opts['mem_allowed'] = parse_bytes(value)
        elif key == 'concat_dims':
            opts['concat_dims'] = [value] if isinstance(value, str) else list(value)
        elif key == 'dedupe':
            opts['dedupe'] = str(value)
        elif key == 'sample':
            opts['sample'] = int(value)
        elif key in ('error_bypass', 'input_file'):
            if phase != 'validate':
                raise TypeError(f"'{key}' is an option of the validate phase, not {phase}")
            opts['bypass'] = load_bypass(value)
        elif key == 'new_version':
            opts['new_version'] = bool(value)
        elif key in IGNORED_RUN_KWARGS:
            if logger is not None and key not in ('parallel', 'verbose'):
                logger.info(f'"{key}" is accepted for compatibility; padocc-rs does not need it')
        else:
            raise TypeError(f"{phase} got an unexpected keyword argument '{key}'")
    return opts


def phase_return_value(phase: str, status: str) -> str:
    """
    What padocc 1.5.1's phase ``run`` returned for a recorded status:
    validate ``Success``/``Warning``/``Fatal``, other phases ``Success``.
    """
    if phase == 'validate':
        if 'Fatal' in status:
            return 'Fatal'
        if 'Warn' in status:
            return 'Warning'
        return 'Success'
    if status.endswith('Success') or status == 'Skipped':
        return 'Success'
    return status


def native_row(proj_code: str, config: dict, line: Union[str, None] = None) -> dict:
    """
    One project for ``_native.init_projects`` from a padocc base-cfg-like
    dict (``proj_code``, ``pattern``, ``updates``/``update``,
    ``removals``/``remove``, ``substitutions``, ``keep_vars``, and any other
    base-cfg keys, which are stored as they are).
    """
    config = dict(config or {})
    pattern = config.pop('pattern', None)
    update = config.pop('update', None)
    remove = config.pop('remove', None)
    updates = config.pop('updates', None)
    removals = config.pop('removals', None)
    keep_vars = config.pop('keep_vars', None)
    substitutions = config.pop('substitutions', None)
    config.pop('proj_code', None)
    # BASE_CFG defaults are the engine's defaults too: send only real values.
    extras = {k: v for k, v in config.items()
              if k not in file_configs['base_cfg'] or v != file_configs['base_cfg'][k]}
    if keep_vars in (None, 'all', [], ['']):
        keep_vars = []
    if isinstance(pattern, str) and line is None:
        line = f'{proj_code},{pattern},,'
    return {
        'proj_code': proj_code,
        'pattern': pattern,
        'update': update if update is not None else (updates or ''),
        'remove': remove if remove is not None else (removals or ''),
        'keep_vars': list(keep_vars),
        'substitutions': substitutions,
        'line': line,
        'base_cfg': extras,
    }


class ProjectOperation(
    DirectoryMixin,
    DatasetHandlerMixin,
    StatusMixin,
    PropertiesMixin):
    """
    PADOCC Project Operation class.

    Able to access project files
    and perform some simple functions. Single-project operations
    always inherit from this class (e.g. Scan, Compute, Validate)
    """

    def __init__(
            self,
            proj_code : str,
            workdir   : str,
            groupID   : str = None,
            first_time : bool = None,
            ft_kwargs  : dict = None,
            logger     : logging.Logger = None,
            bypass     : BypassSwitch = BypassSwitch(),
            label      : str = None,
            fh         : str = None,
            logid      : str = None,
            verbose    : int = 0,
            forceful   : bool = None,
            dryrun     : bool = None,
            thorough   : bool = None,
            diagnostic : bool = False,
            mem_allowed: Union[str,None] = None,
            remote_s3  : Union[dict, str, None] = None,
            xarray_kwargs: dict = None,
            new_version: bool = False,
        ) -> None:
        """
        Initialisation for a ProjectOperation object to handle all interactions
        with a single project.

        :param proj_code:       (str) The project code in string format (DOI)

        :param workdir:         (str) Path to the current working directory.

        :param groupID:         (str) Name of current dataset group.

        :param first_time:      (bool) Create the project (its directory, configs, file list
            and ``init,Success`` status) from ``ft_kwargs``; done by the engine.

        :param ft_kwargs:       (dict) Arguments provided on first time setup of the new project, stored
            in the project base config (``pattern``, ``updates``, ``removals``, ``substitutions``...).

        :param logger:              (logging.Logger) Logger supplied to this Operation.

        :param bypass:              (BypassSwitch) instance of BypassSwitch class containing multiple
            bypass/skip options for specific events. See utils.BypassSwitch.

        :param label:               (str) The label to apply to the logger object.

        :param fh:                  (str) Path to logfile for logger object generated in this specific process.

        :param logid:               (str) ID of the process within a subset, which is then added to the name
            of the logger - prevents multiple processes with different logfiles getting
            loggers confused.

        :param verbose:         (int) Level of verbosity for log messages (see core.init_logger).

        :param forceful:        (bool) Continue with processing even if final output file
            already exists.

        :param dryrun:          (bool) If True will prevent output files being generated
            or updated and instead will demonstrate commands that would otherwise happen.

        :param thorough:        (bool) From args.quality - if True will create all files
            from scratch, otherwise saved refs from previous runs will be loaded.

        :param remote_s3:       (dict | str) Path to config file or dict containing remote s3
            configurations.

        :returns: None

        """

        self.proj_code = proj_code

        self.mem_allowed = mem_allowed
        self._allow_new_version = new_version

        if label is None:
            label = 'project-operation'

        super().__init__(
            workdir,
            groupID=groupID,
            forceful=forceful,
            dryrun=dryrun,
            thorough=thorough,
            logger=logger,
            bypass=bypass,
            label=label,
            fh=fh,
            logid=logid,
            verbose=verbose)

        if not os.path.isdir(self.groupdir):
            raise ValueError(
                f'The group "{groupID}" has not been initialised - not present in the working directory'
            )

        if fh is not None:
            self.logger.info('Filesystem Logging: Enabled')

        self._kfile  = None
        self._kstore = None
        self._zstore = None
        self._cfa_dataset = None
        self._remote = None

        self._diagnostic = diagnostic

        self._is_trial = False

        self.stage = None

        # Used for all phases, apply at runtime.
        self._xarray_kwargs = xarray_kwargs or {}

        if first_time:
            self._init_native(ft_kwargs or {})
        elif not os.path.isdir(self.dir):
            self.logger.warning(
                f'Project "{self.proj_code}" has no directory in group "{self.groupID}" '
                f'({self.dir}) - has it been initialised?'
            )

        self.logger.debug(f'Creating operator for project {self.proj_code}')
        # Project FileHandlers
        self.base_cfg   = JSONFileHandler(self.dir, 'base-cfg', conf=file_configs['base_cfg'], logger=self.logger, **self.fh_kwargs)
        self.detail_cfg = JSONFileHandler(self.dir, 'detail-cfg', conf=file_configs['detail_cfg'], logger=self.logger, **self.fh_kwargs)
        self.allfiles   = ListFileHandler(self.dir, 'allfiles', logger=self.logger, **self.fh_kwargs)

        # ProjectOperation attributes
        self.status_log = CSVFileHandler(self.dir, 'status_log', logger=self.logger, **self.fh_kwargs)

        self.phase_logs = {}
        for phase in ['scan', 'compute', 'validate']:
            self.phase_logs[phase] = LogFileHandler(
                self.dir,
                phase,
                logger=self.logger,
                extra_path='phase_logs/',
                **self.fh_kwargs
            )

        # Remote s3 direct connection
        if isinstance(remote_s3,str):
            remote_s3 = extract_json(remote_s3)

        if remote_s3 is not None:
            self.base_cfg['remote_s3'] = remote_s3
            self.base_cfg.save()

    def _init_native(self, ft_kwargs: dict) -> None:
        """Create this project through the engine (first-time setup)."""
        from .. import _native
        valid_project_code(self.proj_code)
        row = native_row(self.proj_code, ft_kwargs)
        if row['pattern'] is None:
            raise ValueError('"pattern" attribute missing from base config.')
        _native.init_projects(
            self.workdir, self.groupID, [row],
            {
                'update_existing': True,
                'add_to_main': False,
                'skip_filechecks': bool(self._bypass.skip_filechecks),
                'dryrun': bool(self._dryrun),
            })

    def __str__(self):
        """String representation of project"""
        return f'<PADOCC Project: {self.proj_code} ({self.groupID})>'

    def __repr__(self):
        """Yaml info dump representation"""
        return _yaml_dump(self.info())

    def info(self):
        """
        Display some info about this particular project.
        """
        return {
            self.proj_code: {
                'Group':self.groupID,
                'Phase': self._get_phase(),
                'File count': len(self.allfiles),
                'Revision': self.revision

            }
        }

    @classmethod
    def help(cls, func: Callable = print_fmt_str, fn: Callable = None):
        """
        Public user functions for the project operator.

        :param func:        (Callable) provide an alternative to 'print' function
            for displaying help information (``fn`` is accepted too).
        """
        func = fn or func
        func('Project Operator:')
        func(' > project.info() - Get some information about this project')
        func(' > project.get_version() - Get the version number for the output product')
        func(' > project.save_files() - Save all open files related to this project')

        for base in ProjectOperation.__bases__:
            base.help(func)

    # -- running phases through the engine ------------------------------------

    def run(
            self,
            mode: str = None,
            bypass: Union[BypassSwitch,None] = None,
            forceful : bool = None,
            thorough : bool = None,
            verbose: bool = None,
            dryrun : bool = None,
            parallel: bool = False,
            **kwargs
        ) -> str:
        """
        Run this object's phase for the project (through the engine).

        Returns what padocc 1.5.1 returned: ``'Success'`` for scan and
        compute, ``'Success'``/``'Warning'``/``'Fatal'`` for validate. When
        the phase fails with an error, the padocc exception for the recorded
        status is raised (``SourceNotFoundError``, ``ConcatFatalError``...),
        unless the bypass switch has ``S``, which returns ``'Fatal'``.

        :param mode:            (str) Cloud format to use for any operations. Default value is
            'kerchunk' and any changes via the 'cloud_format' parameter to this project are taken
            into account. Setting the mode here switches the stored cloud format.

        :param bypass:          (BypassSwitch) instance of BypassSwitch class containing multiple
            bypass/skip options for specific events. See utils.BypassSwitch.

        :param forceful:        (bool) Redo the phase where its result exists.

        :param dryrun:          (bool) Show what would run and write nothing.

        :param thorough:        (bool) As forceful.

        Phase options (``**kwargs``) are listed on each phase class.
        """
        if not hasattr(self,'phase'):
            raise ValueError(
                '"Run" Operation cannot be performed on the base ProjectOperation class. ',
                'Please use one of the phased operators or the `Group.run` method instead.'
            )

        self._bypass = bypass or self._bypass

        if parallel:
            self.logger.info('Parallel Operation: Enabled')
        else:
            self.logger.info('Parallel Operation: Disabled')

        # Reset flags given specific runs
        if forceful is not None:
            self._forceful = forceful
        if thorough is not None:
            self._thorough = thorough
        if dryrun is not None:
            self._dryrun = dryrun
        if verbose is not None:
            self._verbose = verbose

        mode = mode or self._default_mode()
        if mode is not None and mode != self.cloud_format:
            self.logger.info(f'Switching cloud format to {mode}')
            if not self._dryrun:
                self.cloud_format = mode

        # The engine reads the files: pending edits go first.
        self.save_files()

        options = native_phase_options(self.phase, self.logger, mode=mode, **kwargs)
        outcome = self._run_native(options)
        return self._phase_return(outcome)

    def _default_mode(self) -> Union[str, None]:
        return self.cloud_format

    def _run_native(self, options: dict, phase: Union[str, None] = None) -> Union[dict, None]:
        """One engine run of ``phase`` (default ``self.phase``) for this project."""
        from .. import _native
        phase = phase or self.phase
        opts = dict(options)
        opts.setdefault('force', bool(self._forceful or self._thorough))
        opts.setdefault('new_version', bool(self._allow_new_version))
        opts.setdefault('dryrun', bool(self._dryrun))
        opts.setdefault('jobid', '' if self._logid is None else str(self._logid))
        opts.setdefault('quiet', True)
        if self.mem_allowed is not None and 'mem_allowed' not in opts:
            opts['mem_allowed'] = parse_bytes(self.mem_allowed)

        result = _native.run_phase(self.workdir, self.groupID, phase, [self.proj_code], opts)

        # The run may have made a new version or switched products.
        self._disconnect_ds_filehandlers()

        if result.get('dry_run'):
            for p in result.get('projects', []):
                verb = 'would run' if p.get('would_run') else f'would be left: {p.get("why_not")}'
                self.logger.info(f'DRYRUN: {phase} {p.get("code")} ({p.get("status")}): {verb}')
            return None

        outcomes = result.get('results', [])
        if not outcomes:
            if result.get('interrupted'):
                raise KeyboardInterrupt(f'{phase} of {self.proj_code} interrupted')
            return None
        return outcomes[0]

    def _phase_return(self, outcome: Union[dict, None], phase: Union[str, None] = None) -> Union[str, None]:
        phase = phase or self.phase
        if outcome is None:
            return None
        status = outcome.get('status', '')
        message = outcome.get('message')
        if outcome.get('skipped'):
            self.logger.info(f'{self.proj_code}: {phase} skipped - {message}')
        if is_error_status(status):
            self.logger.error(f'{self.proj_code}: {phase} {status} - {message}')
            if self._bypass.skip_subsets:
                return 'Fatal'
            raise exception_for_status(status, message, proj_code=self.proj_code, groupdir=self.groupdir)
        if message:
            self.logger.debug(f'{self.proj_code}: {message}')
        return phase_return_value(phase, status)

    def _run(self, **kwargs) -> None:
        # Default project operation run.
        self.logger.info("Nothing to run with this setup!")

    @property
    def dir(self):
        """Project directory property, relative to workdir."""
        if self.groupID:
            return f'{self.workdir}/in_progress/{self.groupID}/{self.proj_code}'
        else:
            return f'{self.workdir}/in_progress/general/{self.proj_code}'

    def get_cfa_cache_files(self, get_missing: bool = False):
        """
        Get the correctly ordered set of CFA cache files (padocc 1.5.1's
        per-project parallel compute; padocc-rs makes none).
        """
        subset_total = self.detail_cfg.get('compute_subsets')
        num_files    = self.detail_cfg.get('num_files')

        if subset_total is None:
            raise ValueError(
                'No subset was recorded, unable to continue'
            )

        if num_files is None:
            num_files = len(self.allfiles.get())

        cfafiles = []
        missing = []
        group_size = int(num_files)/int(subset_total)
        for cfa_i in range(0, int(subset_total)):
            path = f'{self.dir}/cfacache/{cfa_i*int(group_size)}.nca'
            if os.path.isfile(path):
                cfafiles.append(path)
            else:
                missing.append(path)

        if get_missing:
            return missing

        return cfafiles

    def get_next_agg(self) -> Union[str, None]:
        next_agg = self.get_agg_shorthand()[1:-1].split('>')[-1][0]
        if next_agg == 'X':
            next_agg = None
        return next_agg

    def get_agg_shorthand(self) -> str:
        """
        Get Aggregation shorthand"""

        status_msg = (self.get_last_status() or ',').split(',')
        if status_msg[0] == 'validate' or (status_msg[0] == 'compute' and status_msg[1] == 'Success'):
            if self.padocc_aggregation:
                return '(P>VK)'
            elif self.virtualizarr:
                return '(V>K)'
            elif self.kerchunk_aggregation:
                return '(K)'
            else:
                return '(X)'
        else:
            for error in FATAL_ERRORS:
                if error in status_msg[1]:
                    return '(X)'
            return '(PVK)'

    def diagnostic(self, message: str):
        """
        Diagnostic mode, enable skipping specific features.
        """

        if not self._diagnostic:
            return False

        ask = input(f'Skip feature: {message}? (Y/N): ')
        return ask == 'Y'

    def file_exists(self, file : str):
        """
        Check if a named file exists (without extension).

        This can be any generic filehandler attached.
        """
        fhandle = getattr(self, file, None)
        if fhandle is None or not hasattr(fhandle, 'file_exists'):
            return False
        return fhandle.file_exists()

    def delete_project(self, ask: bool = True):
        """
        Delete a project

        :param ask: (bool) Will ask an 'are you sure' message if not False.
        """
        if self._dryrun:
            self.logger.info('Skipped Deleting directory in dryrun mode.')
            return
        if ask:
            inp = input(f'Are you sure you want to delete {self.proj_code}? (Y/N) ')
            if inp != 'Y':
                self.logger.warning(f'Skipped Deleting directory (User entered {inp})')
                return

        shutil.rmtree(self.dir, ignore_errors=True)
        self.logger.info(f'All internal files for {self.proj_code} deleted.')

    def switch_local(self):
        """
        Switch back to local version of kerchunk file if it exists.
        """

        if not self.remote:
            self.logger.warning("Project is already/still local - nothing to do")
            return

        self._kfile = None
        self._cfa_dataset = None
        self.remote = False
        self.save_files()

    def switch_remote(
            self,
            sub: str = '/',
            replace: str = 'https://dap.ceda.ac.uk/',
            **kwargs
        ):
        """
        Make remote copies of the products: ``kr<v>a.json`` with source paths
        ``sub...`` rewritten to ``replace...``, and ``cr<v>.nca`` with its
        fragment URIs rewritten (the local products are kept).
        """

        if self.remote and self.cloud_format != 'zarr':
            self.logger.warning("Project has already been switched to remote")
            return

        remotify_kerchunk = (self.cloud_format == 'kerchunk' and self.file_type != 'parq')
        remotify_cfa = (self.cfa_enabled and bool(self.cfa_complete) and self.is_netcdf4_compatible)

        local_k = self.kfile.filepath if remotify_kerchunk else None
        local_c = self.cfa_dataset.filepath if remotify_cfa else None

        self.remote = True
        self._disconnect_ds_filehandlers()

        if self._dryrun:
            self.logger.info('DRYRUN: Skipped making remote copies')
            return

        if remotify_kerchunk:
            new_k = self.kfile.filepath
            if local_k != new_k and (self._thorough or not os.path.isfile(new_k)):
                shutil.copyfile(local_k, new_k)
            self._kfile = None
            self.kfile.make_remote(sub=sub, replace=replace)
            self.kfile.save()
            self.logger.debug('Spawned remote copy of Kerchunk file')

        if remotify_cfa:
            new_c = f'{self.dir}/cr{self.version_no}.nca'
            if local_c != new_c and (self._thorough or not os.path.isfile(new_c)):
                shutil.copyfile(local_c, new_c)
            from .. import _native
            _native.rewrite_nca_uris(new_c, sub, replace)
            self._cfa_dataset = None
            self.logger.debug('Spawned remote copy of CFA NetCDF file')

        self.save_files()

    def complete_project(
            self,
            move_to: str,
            thorough: bool = False,
            version_separator: str = None,
            final_delete: bool = False,
            **kwargs) -> None:
        """
        Copy the product (and CFA file) to ``move_to/data`` under padocc's
        published names, with its report in ``move_to/reports``; record
        ``complete,Success``; with ``final_delete`` delete the project
        directory afterwards.

        ``thorough=True`` publishes remote copies (paths ``sub`` -> ``replace``,
        by default ``/`` -> ``https://dap.ceda.ac.uk/``, as padocc 1.5.1).
        The engine refuses a project whose validation did not pass unless the
        project operation is ``forceful`` (1.5.1 only warned).

        :param move_to:     (str) Path to completeness directory to extract content.
        """

        self.logger.debug(f' > {self.proj_code} [{self.cloud_format}]')

        status = self.get_last_status()

        if status is None:
            self.logger.warning(
                f'Most recent phase for {self.proj_code} is unconfirmed. - '
                'please ensure re-validation of any changes or ensure products are otherwise validated.'
            )
        elif 'validate' not in status and 'complete' not in status:
            self.logger.warning(
                f'Most recent phase for {self.proj_code} is NOT validation/completion - '
                'please ensure re-validation of any changes or ensure products are otherwise validated.'
            )

        self.save_files()

        options = {
            'completion_dir': os.path.abspath(move_to),
            'version_separator': version_separator or '_',
            'delete': bool(final_delete),
        }
        if thorough:
            options['sub'] = kwargs.get('sub', '/')
            options['replace'] = kwargs.get('replace', 'https://dap.ceda.ac.uk/')

        outcome = self._run_native(options, phase='complete')
        self._phase_return(outcome, phase='complete')

    def migrate(cls, newgroupID: str):
        """
        Migrate this project to a new group.

        Moves the whole project directory; the group code lists are not
        touched (use ``GroupOperation.transfer_project`` for that).

        :param newgroupID:  (str) ID of new group to move this project to.
        """
        cls.logger.info(f'Migrating project {cls.proj_code}')

        new_dir = f'{cls.workdir}/in_progress/{newgroupID}/{cls.proj_code}'
        if os.path.exists(new_dir):
            raise ValueError(f'{new_dir} already exists')

        # Save all open files with current content
        cls.save_files()

        os.makedirs(os.path.dirname(new_dir), exist_ok=True)
        shutil.move(cls.dir, new_dir)

        return ProjectOperation(
            cls.proj_code,
            cls.workdir,
            groupID=newgroupID,
            logger=cls.logger,
            **cls.fh_kwargs
        )

    def save_files(self) -> None:
        """
        Save all filehandlers associated with this project (each writes only
        what was edited).
        """
        self.base_cfg.save()
        self.detail_cfg.save()
        self.allfiles.save()
        self.status_log.save()

        # Save dataset filehandlers
        self.save_ds_filehandlers()

    def _get_phase(self) -> str:
        """
        Gets the highest phase this project has reached successfully.
        """

        max_sid = 0
        for row in self.status_log:
            if len(row) < 2:
                continue
            phase, status = row[0], row[1]
            core = status.split(')', 1)[1] if status.startswith('(') and ')' in status else status
            if not (core.startswith('Success') or core.startswith('Warn')):
                continue
            if phase in phases:
                max_sid = max(phases.index(phase), max_sid)
        return phases[max_sid]

    def _dir_exists(
            self,
            checkdir: Union[str,None] = None) -> bool:
        """
        Check a directory exists on the filesystem.

        :param checkdir:    (str) Check this directory exists. Defaults
            to the project directory for this project.
        """
        return os.path.isdir(checkdir or self.dir)

    def export_report(
            self,
            new_location: str
        ):
        """
        Export report to a new location from within the pipeline:
        ``<new_location>/reports/<code>_<revision>_report.json``.
        """
        self._write_report(f'{new_location}/reports')

    def _write_report(self, reports_dir: str) -> None:
        """``<reports_dir>/<code>_<revision>_report.json`` = ``{"data", "metadata"}``
        (the reports that exist; nothing when there are none)."""
        final_report = {}
        for report in ['data_report.json','metadata_report.json']:
            if os.path.isfile(f'{self.dir}/{report}'):

                with open(f'{self.dir}/{report}') as r:
                    rep = json.load(r)

                final_report[report.split('_')[0]] = rep

        if final_report != {} and not self._dryrun:
            from .utils import write_text_atomic
            write_text_atomic(
                f'{reports_dir}/{self.proj_code}_{self.revision}_report.json',
                json.dumps(final_report))

    def aggregation_method(self) -> str:
        """
        Returns the current aggregation method used.
        """

        if self.padocc_aggregation:
            return 'padocc'
        if self.virtualizarr:
            return 'virtualizarr'
        if self.kerchunk_aggregation:
            return 'kerchunk'

        for log in self.status_log.get():
            if 'compute' in log:
                return 'unable'
        return None

    def minor_version_increment(self, addition: Union[str,None] = None):
        """
        Increment the minor x.Y number for the version (``save_files()``
        writes it).

        Use this function for when properties of the cloud file have been changed.

        :param addition:    (str) Reason for version change; recorded in
            ``internal_history`` when given.
        """

        major, minor = self.version_no.split('.')
        if addition:
            history = list(self.base_cfg.get('internal_history', []) or [])
            history.append(f'{self.revision}: {addition}')
            self.base_cfg['internal_history'] = history
        minor = str(int(minor)+1)

        self.base_cfg['version_no'] = f'{major}.{minor}'
        self._disconnect_ds_filehandlers()

    def major_version_increment(self):
        """
        Increment the major X.y part of the version number.

        Use this function for major changes to the cloud file
        - e.g. replacement of source file data.
        """
        raise NotImplementedError
