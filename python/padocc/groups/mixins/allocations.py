__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

import os
from typing import Callable, Union

from padocc.core.project import native_phase_options
from padocc.core.utils import BypassSwitch, parallel_modes, times


class AllocationsMixin:
    """
    Parallel deployment (padocc's ``--parallel``) through the engine's
    scheduler layer: SLURM, LSF, PBS or a local pool, with task packing,
    per-task manifests and status reconciliation (see padocc-rs
    docs/scheduler.md). Job scripts re-enter the ``padocc`` binary, so no
    virtual environment (``source``) is needed.

    Use case: GroupOperation [ONLY]
    """

    @classmethod
    def help(cls, func: Callable = print):
        func('Allocations:')
        func(' > group.create_allocations() - Create a set of allocations, returns a binned list of bands')
        func(' > group.deploy_parallel() - Create sbatch script for submitting to slurm.')

    def create_allocations(
            self,
            phase       : str,
            repeat_id   : str,
            band_increase : Union[str,None] = None,
            binpack     : bool = None,
            **kwargs,
        ) -> list:
        """
        The array plan for ``phase`` over ``repeat_id``, as padocc 1.5.1's
        ``(label, time, number_of_projects)`` tuples, from a dry-run
        submission (padocc-rs always packs projects into tasks).
        """
        plan = self._submit(phase, list(self.proj_codes[repeat_id]), {}, {'dry_run': True})
        allocs = []
        for i, s in enumerate(plan.get('submissions', [])):
            minutes = int(s.get('time_s', 0)) // 60
            allocs.append((f'allocation_{i}', f'{minutes}:00', int(s.get('projects', 0))))
        return allocs

    def deploy_parallel_project(self, project, source=None, repeat_id: str = 'main', **kwargs) -> None:
        """
        padocc 1.5.1 split a project of 1000+ files over an array; padocc-rs
        computes one project on all the cores of its task instead.
        """
        raise NotImplementedError(
            'Per-project arrays are not needed: padocc-rs computes a project in parallel '
            'within one task (use deploy_parallel)'
        )

    def deploy_parallel(
            self,
            phase           : str,
            source          : Union[str,None] = None,
            proj_code       : Union[str,None] = None,
            verbose         : int = 0,
            joblabel        : str = 'PADOCC',
            repeat_id       : str = 'main',
            mode            : str = 'kerchunk',
            wait            : bool = False,
            func            : Callable = print,
            bypass          : BypassSwitch = BypassSwitch(),
            inter_parallel_limit: int = 1000,
            band_increase   : Union[str,None] = None,
            forceful        : Union[bool,None] = None,
            dryrun          : Union[bool,None] = None,
            thorough        : Union[bool,None] = None,
            binpack         : Union[bool,None] = None,
            time_allowed    : Union[str,None] = None,
            memory          : Union[str,None] = None,
            subset          : Union[int,None] = None,
            new_version     : Union[str,None] = None,
            xarray_kwargs   : Union[dict,None] = None,
            run_kwargs      : Union[dict,None] = None,
            completion_dir  : Union[str,None] = None,
            version_separator: Union[str,None] = None,
            final_delete: bool = False,
            scheduler: Union[str, None] = None,
            **kwargs
        ) -> dict:
        """
        Submit ``phase`` for the projects of ``repeat_id`` (or ``proj_code``)
        as job arrays. ``time_allowed`` (``MM:SS``) and ``memory`` (``2G``)
        are the least each task asks for, ``subset`` the most projects per
        task. ``source``, ``joblabel``, ``binpack``, ``band_increase``,
        ``inter_parallel_limit`` and ``wait`` are accepted and not needed.

        Returns the engine's submission record (job ids, tasks, resources).
        """
        if phase not in parallel_modes:
            raise ValueError(
                f'"{phase}" not recognised, please select from {parallel_modes}'
            )

        codes = self.assemble_codeset(proj_code, None, repeat_id=repeat_id)

        options = native_phase_options(phase, self.logger, **(run_kwargs or {}))
        options['force'] = bool(forceful or thorough or self._forceful or self._thorough)
        options['new_version'] = bool(new_version or self.allow_new_version)
        if mode and phase in ('scan', 'compute'):
            options['cloud_format'] = mode
        if phase == 'complete':
            if completion_dir is None:
                raise ValueError('complete needs completion_dir')
            options['completion_dir'] = os.path.abspath(completion_dir)
            options['version_separator'] = version_separator or '_'
            options['delete'] = bool(final_delete)

        sched = {
            'time': time_allowed or times[phase],
            'memory': memory or '2G',
            'dry_run': bool(dryrun or self._dryrun),
        }
        if subset:
            sched['per_task'] = int(subset)
        if scheduler:
            sched['name'] = scheduler

        record = self._submit(phase, codes, options, sched)
        for s in record.get('submissions', []):
            func(
                f'{self.groupID} {phase}: {s.get("projects")} project(s) in {s.get("tasks")} task(s) '
                f'-> {s.get("job_id") or "(dry run)"}'
            )
        return record

    def _submit(self, phase: str, codes: list, options: dict, sched: dict) -> dict:
        from padocc import _native
        return _native.submit(self.workdir, self.groupID, phase, codes, options, sched)
