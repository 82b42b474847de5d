"""padocc.groups.group: ``GroupOperation``, a group of projects.

Group files (``proj_codes/*.txt``, ``datasets.csv``, ``faultlist.csv``) are
read and written here; phases run in the engine (``padocc._native``), one
call for the whole codeset, projects in parallel.

Differences from padocc 1.5.1 (spec §3, §8), on purpose:

* ``run`` runs every selected project even when some fail (1.5.1 stopped at
  the first exception unless the bypass had ``S``, and an existing product
  stopped it even with ``S``). Failures are logged with their message and
  counted as ``'Fatal'`` in the returned ``{status: count}``; keys are
  always strings (also in CFA mode).
* Top-level ``error_bypass=``, ``input_file=``, ``aggregator=``,
  ``concat_dims=``... (documented, but ``TypeError`` in 1.5.1) are taken as
  run options; ``proj_code`` may be an int; ``proj_subset`` works.
* ``g[code]`` still returns the same object each time, but its files read
  through, so it sees what a run wrote and never writes stale values back;
  unsaved edits on it are saved before a run that includes it.
* ``complete_group`` goes on after a failed project (logged, as 1.5.1 did
  only with bypass ``S``) and writes the reports to ``report_location`` when
  one is given (1.5.1 ignored it).
"""

from __future__ import annotations

__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

import glob
import logging
import os
import shutil
from typing import Callable, Optional, Union

from padocc.core import BypassSwitch, FalseLogger, ProjectOperation
from padocc.core.errors import MissingVariableError, is_error_status
from padocc.core.filehandlers import CSVFileHandler, ListFileHandler, _yaml_dump
from padocc.core.mixins import DirectoryMixin
from padocc.core.project import native_phase_options, phase_return_value
from padocc.core.utils import format_str, print_fmt_str
from padocc.phases import KNOWN_PHASES, phase_map

from .mixins import (AllocationsMixin, EvaluationsMixin, InitialisationMixin,
                     ModifiersMixin)

COMPUTE = phase_map['compute']

# Keyword arguments of padocc 1.5.1's phase-class constructors that ``run``
# passes on (``g.run('compute', new_version=True)``).
CONSTRUCTOR_KWARGS = {
    'new_version', 'mem_allowed', 'xarray_kwargs', 'diagnostic', 'remote_s3',
    'limiter', 'skip_concat', 'concat_msg', 'is_trial', 'stage', 'preferences',
}


class GroupOperation(
        AllocationsMixin,
        DirectoryMixin,
        InitialisationMixin,
        EvaluationsMixin,
        ModifiersMixin
    ):

    def __init__(
            self,
            groupID : str,
            workdir : str = None,
            forceful : bool = None,
            dryrun   : bool = None,
            thorough : bool = None,
            logger   : logging.Logger | FalseLogger = None,
            bypass   : BypassSwitch = BypassSwitch(),
            label    : str = None,
            fh       : str = None,
            logid    : str = None,
            verbose  : int = 0,
            xarray_kwargs: dict = None,
            new_version: bool = False,
        ) -> None:
        """
        Initialisation for a GroupOperation object to handle all interactions
        with all projects within a group. The group's directories are
        created when missing (as in padocc 1.5.1).

        :param groupID:         (str) Name of current dataset group.

        :param workdir:         (str) Path to the current working directory (default ``$WORKDIR``).

        :param forceful:        (bool) Continue with processing even if final output file
            already exists.

        :param dryrun:          (bool) If True will prevent output files being generated
            or updated and instead will demonstrate commands that would otherwise happen.

        :param thorough:        (bool) From args.quality - if True will create all files
            from scratch, otherwise saved refs from previous runs will be loaded.

        :param logger:          (logging.Logger | FalseLogger) An existing logger object.

        :param bypass:              (BypassSwitch) instance of BypassSwitch class containing multiple
                                    bypass/skip options for specific events. See utils.BypassSwitch.

        :param label:       (str) The label to apply to the logger object.

        :param fh:          (str) Path to logfile for logger object generated in this specific process.

        :param logid:       (str) ID of the process within a subset, which is then added to the name
            of the logger - prevents multiple processes with different logfiles getting loggers confused.

        :param verbose:         (int) Level of verbosity for log messages (see core.init_logger).

        :returns: None

        """

        self.allow_new_version = new_version

        if label is None:
            label = 'group-operation'

        if workdir is None:
            workdir = os.environ.get('WORKDIR')

        if workdir is None:
            raise MissingVariableError('$WORKDIR')

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

        self.__ongoing_projects = {}

        self._setup_directories()

        self.proj_codes      = {}
        self.faultlist = CSVFileHandler(
            self.groupdir,
            'faultlist',
            logger=self.logger,
            dryrun=self._dryrun,
            forceful=self._forceful,
        )

        self.datasets = CSVFileHandler(
            self.groupdir,
            'datasets',
            logger=self.logger,
            dryrun=self._dryrun,
            forceful=self._forceful,
        )

        self._xarray_kwargs = xarray_kwargs or None

        self._load_proj_codes()

    def __str__(self):
        return f'<PADOCC Group: {self.groupID}>'

    def __repr__(self):
        return _yaml_dump(self.info())

    def __len__(self):
        """
        Shorthand for length of the list-like group.
        """
        return len(self.proj_codes['main'])

    def __iter__(self, repeat_id: str = 'main'):
        """
        Iterable group for each project (of ``repeat_id`` when called as
        ``g.__iter__(repeat_id)``; 1.5.1 ignored it).
        """
        for proj_code in list(self.proj_codes[repeat_id]):
            yield self[proj_code]

    def __getitem__(self, index: Union[int,str]) -> ProjectOperation:
        """
        Indexable group allows access to individual projects
        """
        return self.get_project(index)

    def get_project(self, index: int | str, repeat_id: str = 'main', **kwargs):
        """
        The project at position ``index`` of ``repeat_id`` (an int or a
        numeric string, negative allowed), or the project with code ``index``
        (which must be in ``main``).
        """
        if isinstance(index, int):
            proj_code = self.proj_codes[repeat_id][index]
        elif index.lstrip('-').isnumeric():
            proj_code = self.proj_codes[repeat_id][int(index)]
        else:
            proj_code = index

        return self._get_project(proj_code, **kwargs)

    def _get_project(self, proj_code: str, **kwargs):
        """
        Get a project operation from this group

        Works on string codes only. The object is cached (``g[c] is g[c]``);
        keyword arguments that differ from the cached object's make a new one.
        """

        if not isinstance(proj_code, str):
            raise ValueError(
                f'GetProject function takes string as input, not {type(proj_code)}'
            )

        if proj_code not in self.proj_codes['main']:
            raise ValueError('Action not supported for a new project')

        fh_kwargs = self.fh_kwargs | kwargs

        cached = self.__ongoing_projects.get(proj_code)
        if cached is None or (kwargs and kwargs != getattr(cached, '_group_kwargs', {})):
            cached = ProjectOperation(
                proj_code,
                self.workdir,
                groupID=self.groupID,
                logger=self.logger,
                xarray_kwargs=self._xarray_kwargs,
                new_version=self.allow_new_version,
                verbose=self._verbose,
                **fh_kwargs
            )
            cached._group_kwargs = dict(kwargs)
            self.__ongoing_projects[proj_code] = cached

        return cached

    def _forget_projects(self, codes: Optional[list] = None) -> None:
        """Drop cached project objects (all, or those of ``codes``)."""
        if codes is None:
            self.__ongoing_projects.clear()
            return
        for c in codes:
            self.__ongoing_projects.pop(c, None)

    def _cached_projects(self, codes: list) -> list:
        return [self.__ongoing_projects[c] for c in codes if c in self.__ongoing_projects]

    def complete_group(
            self,
            move_to: str,
            thorough: bool = False,
            repeat_id: str = 'main',
            report_location: Union[str,None] = None,
            version_separator: Union[str,None] = None,
            final_delete: bool = False,
            **kwargs
        ):
        """
        Complete all projects for a group: copy each validated product (and
        CFA file) to ``move_to/data`` and its report to ``move_to/reports``,
        then record ``complete,Success``.

        Projects already complete are skipped unless the group is
        ``thorough``; ``thorough=True`` here publishes remote copies
        (``sub``/``replace`` keyword arguments, default ``/`` ->
        ``https://dap.ceda.ac.uk/``); ``final_delete`` deletes each completed
        project's directory.
        """

        if report_location is None:
            report_location = os.path.join(move_to, 'reports')

        self.logger.info("Verifying completion directory exists")
        for d in (move_to, report_location):
            if not os.path.isdir(d):
                os.makedirs(d, exist_ok=True)
            if not os.access(d, os.W_OK):
                raise OSError(
                    f'Directory {d} is not writable'
                )

        if repeat_id not in self.proj_codes:
            raise ValueError(
                f'"{repeat_id}" Unrecognised - must '
                f'be one of {self.proj_codes.keys()}'
            )

        proj_list = list(self.proj_codes[repeat_id].get())
        self.logger.info(
            f"Completing {len(proj_list)}/{len(self)} "
            f"projects for {self.groupID}"
        )

        options = {
            'completion_dir': os.path.abspath(move_to),
            'version_separator': version_separator or '_',
            'delete': bool(final_delete),
            'force': bool(self._thorough),
        }
        if thorough:
            options['sub'] = kwargs.get('sub', '/')
            options['replace'] = kwargs.get('replace', 'https://dap.ceda.ac.uk/')

        self._save_cached(proj_list)
        custom_reports = os.path.abspath(report_location) != os.path.abspath(os.path.join(move_to, 'reports'))
        if custom_reports:
            # Before completion: final_delete removes the project directories.
            for proj in proj_list:
                try:
                    self[proj]._write_report(report_location)
                except ValueError as err:
                    self.logger.warning(f'{proj}: no report exported - {err}')
        outcomes = self._run_native('complete', proj_list, list(range(len(proj_list))), options)
        for o in outcomes:
            if o.get('skipped'):
                self.logger.info(f'{o["code"]}: Skipped - {o.get("message")}')
            elif is_error_status(o.get('status')):
                self.logger.warning(f'{o["code"]}: Failed - {o.get("status")}: {o.get("message")}')
            else:
                self.logger.info(f'{o["code"]}: OK')


    def get_stac_representation(
            self,
            stac_mapping: dict,
            repeat_id: str = 'main'
        ) -> list:
        """
        Obtain all records for all projects in this group.
        """
        record_set = []
        proj_list = self.proj_codes[repeat_id].get()

        for proj in proj_list:
            proj_op = self[proj]
            record_set.append(
                proj_op.get_stac_representation(stac_mapping)
            )
        return record_set

    @property
    def proj_codes_dir(self):
        return f'{self.groupdir}/proj_codes'

    def info(self) -> dict:
        """
        Obtain a dictionary of key values for this object.
        """
        values = {
            'workdir': self.workdir,
            'groupdir': self.groupdir,
            'projects': len(self.proj_codes['main']),
            'logID': self._logid,
        }

        return {
            self.groupID: values
        }

    @classmethod
    def help(cls, func: Callable = print_fmt_str):
        func('Group Operator')
        func(
            ' > group.get_stac_representation() - Provide a mapper and obtain values '
            'in the form of STAC records for all projects'
        )
        func(' > group.info() - Obtain a dictionary of key values')
        func(' > group.run() - Run a specific operation across part of the group.')
        func(' > group.save_files() - Save any changes to any files in the group as part of an operation')
        func(' > group.check_writable() - Check if all directories are writable for this group.')

        for base in GroupOperation.__bases__:
            base.help(func)

    def run(
            self,
            phase: str,
            mode: Union[str,None] = None,
            repeat_id: str = 'main',
            proj_code: Optional[Union[str, int]] = None,
            proj_subset: Optional[int] = None,
            bypass: Union[BypassSwitch, None] = None,
            forceful: Optional[bool] = None,
            thorough: Optional[bool] = None,
            dryrun: Optional[bool] = None,
            run_kwargs: Union[dict,None] = None,
            **kwargs,
        ) -> dict[str, int]:
        """
        Run ``phase`` (``scan``, ``compute`` or ``validate``) for the projects
        of ``repeat_id`` (or those ``proj_code`` selects: a code, an index, or
        a comma list of indices), in the engine, and return ``{status:
        count}`` of padocc's return values (``'Success'``, ``'Warning'``,
        ``'Fatal'``).

        ``mode`` switches (and records) the cloud format of every selected
        project. ``forceful``/``thorough``/``dryrun`` are kept on the group
        for later runs, as in 1.5.1 (an explicit False resets them).
        Phase options go in ``run_kwargs`` (or, new, as keyword arguments):
        ``new_version``, ``mem_allowed``, ``concat_dims``, ``dedupe``,
        ``sample`` (validate), ``error_bypass``/``input_file`` (validate).
        """

        bypass = bypass or self._bypass
        run_kwargs = dict(run_kwargs or {})

        self._set_fh_kwargs(forceful=forceful, dryrun=dryrun, thorough=thorough)

        if phase not in ('scan', 'compute', 'validate'):
            self.logger.error(f'Unrecognised phase "{phase}" - choose from {["scan", "compute", "validate"]}')
            return

        jobid = None
        if os.getenv('SLURM_ARRAY_JOB_ID'):
            jobid = f"{os.getenv('SLURM_ARRAY_JOB_ID')}-{os.getenv('SLURM_ARRAY_TASK_ID')}"

        kwargs.pop('verbose', None)
        ctor = {k: kwargs.pop(k) for k in list(kwargs) if k in CONSTRUCTOR_KWARGS}
        run_kwargs.update(kwargs)   # error_bypass=, aggregator=... (TypeError in 1.5.1)
        if 'new_version' in ctor:
            run_kwargs.setdefault('new_version', ctor.pop('new_version'))
        if 'mem_allowed' in ctor:
            run_kwargs.setdefault('mem_allowed', ctor.pop('mem_allowed'))
        for k in ctor:
            self.logger.debug(f'"{k}" is accepted for compatibility; padocc-rs does not need it')

        options = native_phase_options(phase, self.logger, **run_kwargs)
        options.setdefault('new_version', bool(self.allow_new_version))
        options['force'] = bool(self._forceful or self._thorough)
        options['dryrun'] = bool(self._dryrun)
        if jobid is not None:
            options['jobid'] = jobid

        # Select set of datasets from repeat_id
        codeset = self.assemble_codeset(proj_code, proj_subset, repeat_id=repeat_id)
        positions = self.proj_codes[repeat_id].get()
        indices = [positions.index(c) if c in positions else i for i, c in enumerate(codeset)]

        if mode is not None:
            if phase == 'compute' and mode not in COMPUTE:
                raise ValueError(
                    f'Format "{mode}" not recognised, must be one of '
                    f'"{list(COMPUTE.keys())}"'
                )
            options['cloud_format'] = mode
            if not self._dryrun:
                self._switch_format(codeset, mode)

        self._save_cached(codeset)

        self.logger.info(f'Starting operation: {phase} for {len(codeset)} project(s)')
        if options.get('dryrun'):
            from padocc import _native
            plan = _native.run_phase(self.workdir, self.groupID, phase, codeset, dict(options, indices=indices))
            results = {}
            for p in plan.get('projects', []):
                verb = 'would run' if p.get('would_run') else f'would be left: {p.get("why_not")}'
                self.logger.info(f'DRYRUN: {p.get("code")} [{p.get("index")}] {p.get("status")}: {verb}')
                key = 'DryRun' if p.get('would_run') else 'Skipped'
                results[key] = results.get(key, 0) + 1
            return results

        outcomes = self._run_native(phase, codeset, indices, options)

        results: dict = {}
        failed = 0
        for o in outcomes:
            status = o.get('status', '')
            code = o.get('code')
            if is_error_status(status):
                failed += 1
                self.logger.error(f'{code} [{o.get("index")}]: {phase} {status} - {o.get("message")}')
                value = 'Fatal'
            else:
                if o.get('skipped'):
                    self.logger.info(f'{code}: {phase} skipped - {o.get("message")}')
                value = phase_return_value(phase, status)
            results[value] = results.get(value, 0) + 1

        self.logger.info("Pipeline execution finished")
        for r in results.keys():
            self.logger.info(f'{r}: {results[r]}')
        if failed and not bypass.skip_subsets:
            self.logger.error(
                f'{failed} project(s) failed (padocc 1.5.1 would have stopped at the first); '
                f'see g.summarise_status() or the phase logs'
            )

        # DO NOT SAVE GROUP FILES IN A RUN OPERATION
        return results

    def _switch_format(self, codeset: list, mode: str) -> None:
        """Record ``mode`` as the cloud format of each project (as 1.5.1's run did)."""
        for code in codeset:
            try:
                proj = self[code]
            except ValueError:
                continue
            if proj.cloud_format != mode:
                self.logger.info(f'{code}: switching cloud format to {mode}')
                proj.cloud_format = mode
                proj.base_cfg.save()

    def _save_cached(self, codes: list) -> None:
        """Unsaved edits on cached projects go to disk before the engine reads them."""
        for proj in self._cached_projects(codes):
            if proj.base_cfg._dirty() or proj.detail_cfg._dirty() or proj.allfiles._dirty():
                self.logger.warning(f'{proj.proj_code}: saving unsaved changes before the run')
                proj.save_files()

    def _run_native(self, phase: str, codes: list, indices: list, options: dict) -> list:
        from padocc import _native
        if not codes:
            return []
        opts = dict(options)
        opts['indices'] = indices
        opts.setdefault('quiet', True)
        result = _native.run_phase(self.workdir, self.groupID, phase, list(codes), opts)
        for proj in self._cached_projects(codes):
            proj._disconnect_ds_filehandlers()
        if result.get('interrupted'):
            self.logger.warning(f'{phase} interrupted: {len(result.get("results", []))} project(s) finished')
        return result.get('results', [])

    def assemble_codeset(
            self,
            proj_code: Union[str,int,None] = None,
            proj_subset: Union[int,None] = None,
            repeat_id: str = 'main',
        ):
        """
        Assemble the current working codeset for this iteration.

        By default this will return the full project code list from
        the `main` set for this group i.e All project codes. ``proj_code``
        may be a code of the codeset, an index (int or numeric string,
        negative allowed) or a comma list of codes or indices. With
        ``proj_subset=N``, ``proj_code`` is the number of a slice of N codes.
        """
        if repeat_id not in self.proj_codes:
            raise ValueError(
                f'Subset "{repeat_id}" not found - Group contains {list(self.proj_codes.keys())}'
            )
        codeset = list(self.proj_codes[repeat_id].get())
        if proj_subset is not None:
            codeset = self._configure_subset(codeset, int(proj_subset), int(proj_code or 0))
            return codeset

        if proj_code is None:
            return codeset

        if isinstance(proj_code, int):
            proj_code = str(proj_code)

        if proj_code in codeset:
            self.logger.info(f'Project code: {proj_code}')
            return [proj_code]

        def by_index(part: str) -> str:
            try:
                i = int(part)
            except ValueError:
                raise ValueError(f'Unknown proj_code: {part} for group {self.groupID}')
            if i >= len(codeset) or i < -len(codeset):
                raise ValueError(
                    'Invalid project code specfied. If indexing, '
                    f'must be less than {len(codeset)}'
                )
            return codeset[i]

        if ',' in proj_code:
            return [p if p in codeset else by_index(p) for p in proj_code.split(',') if p.strip()]
        return [by_index(proj_code)]

    def _save_proj_codes(self):
        for pc in self.proj_codes.keys():
            self.proj_codes[pc].save()

    def save_files(self):
        """
        Save all files associated with this group.
        """
        self.faultlist.save()
        self.datasets.save()
        self._save_proj_codes()

    def _add_proj_codeset(self, name : str, newcodes : list, overwrite: bool = False):

        if name in self.proj_codes:
            if overwrite:
                self.logger.warning(f'Overwriting codeset: {name}')
                self.proj_codes[name].set(newcodes)
            else:
                self.logger.warning(f'Appending to existing codeset: {name}')
                self.proj_codes[name].set(self.proj_codes[name].get() + list(newcodes))
        else:
            self.proj_codes[name] = ListFileHandler(
                self.proj_codes_dir,
                name,
                init_value=list(newcodes),
                logger=self.logger,
                dryrun=self._dryrun,
                forceful=self._forceful
            )

        self.proj_codes[name].save()

    def _delete_proj_codeset(self, name: str):
        """
        Delete a project codeset
        """

        if name == 'main':
            self.logger.debug(
                'Removing the main codeset '
                'cannot be achieved using this function - skipped.'
            )
            return

        if name not in self.proj_codes:
            self.logger.warning(
                f'Subset ID "{name}" could not be deleted - no matching subset.'
            )
            return

        self.proj_codes[name].remove_file()
        self.proj_codes.pop(name)

    def delete_all_repeat_ids(self):
        """
        Delete all project repeat IDs for this group
        """
        old_repeats = list(self.proj_codes.keys())
        for repeat_id in old_repeats:
            if repeat_id != 'main':
                self._delete_proj_codeset(repeat_id)

    def delete_logs(self):
        """
        Delete all log files and sbatch sections."""
        if self._dryrun:
            self.logger.info('DRYRUN: Skipped deleting job files')
            return
        for sub in ('errs', 'outs', 'sbatch'):
            d = f'{self.groupdir}/{sub}'
            if not os.path.isdir(d):
                continue
            for entry in os.listdir(d):
                path = os.path.join(d, entry)
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.remove(path)

    def clear_logs_statuses(self):
        self.delete_all_repeat_ids()
        self.delete_logs()

    def add_repeat_by_id(self, repeat_id: str, idset: list[int]):
        """
        Add a new repeat ID by the IDs of the projects.
        """
        codeset = []
        for id in idset:
            codeset.append(self.proj_codes['main'][id])
        self._add_proj_codeset(repeat_id, codeset)

    def check_writable(self):
        if not os.access(self.workdir, os.W_OK):
            self.logger.error('Workdir provided is not writable')
            raise IOError("Workdir not writable")

        if not os.access(self.groupdir, os.W_OK):
            self.logger.error('Groupdir provided is not writable')
            raise IOError("Groupdir not writable")

    def _load_proj_codes(self):
        """
        Load all current project code files for this group
        into Filehandler objects (an empty in-memory ``main`` when there
        are none; nothing is written).
        """
        names = sorted(
            os.path.basename(g)[:-len('.txt')]
            for g in glob.glob(f'{self.proj_codes_dir}/*.txt')
        )
        loaded = {}
        for p in names:
            self.logger.debug(f'proj_code file: {p}')
            loaded[p] = self.proj_codes.get(p) or ListFileHandler(
                self.proj_codes_dir,
                p,
                logger=self.logger,
                dryrun=self._dryrun,
                forceful=self._forceful,
            )
        if 'main' not in loaded:
            loaded['main'] = self.proj_codes.get('main') or ListFileHandler(
                self.proj_codes_dir,
                'main',
                logger=self.logger,
                dryrun=self._dryrun,
                forceful=self._forceful,
            )
        self.proj_codes = loaded

    def _setup_groupdir(self):
        super()._setup_groupdir()

        # Create proj-codes folder
        codes_dir = f'{self.groupdir}/proj_codes'
        if not os.path.isdir(codes_dir):
            if self._dryrun:
                self.logger.debug(f'DRYRUN: Skip making codes-dir for {self.groupID}')
            else:
                os.makedirs(codes_dir, exist_ok=True)

    def _configure_subset(self, main_set, subset_size: int, subset_id: int):
        # Configure subset controls

        start = subset_size * subset_id
        if start < 0 or subset_size < 1:
            raise ValueError(
                f'Improperly configured subset size: "{subset_size}" (1+)'
                f' or id: "{subset_id}" (0+)'
            )

        end = subset_size * (subset_id + 1)
        if end > len(main_set):
            end = len(main_set)

        if end < start:
            raise ValueError(
                f'Improperly configured subset size: "{subset_size}" (1+)'
                f' or id: "{subset_id}" (0+)'
            )

        return main_set[start:end]
