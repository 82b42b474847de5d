__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

import glob
from typing import Callable, Union

from padocc.core.filehandlers import JSONFileHandler


class StatusMixin:
    """
    Methods relating to the ProjectOperation class, in terms
    of determining the status of previous runs.

    Status rows are recorded through the engine (``_native.record_status``),
    which appends the row to ``status_log.csv`` in one write and to the
    group's status index, so ``padocc status`` and ``get_codes_by_status``
    see it.

    Use case: ProjectOperation [ONLY]
    """

    @classmethod
    def help(cls, func: Callable = print):
        """
        Helper function displays basic functions for use.

        :param func:        (Callable) provide an alternative to 'print' function
            for displaying help information.
        """
        func('Status Options:')
        func(' > project.get_last_run() - Get the last performed phase and time it occurred')
        func(' > project.get_last_status() - Get the status of the previous core operation.')
        func(' > project.get_log_contents() - Get the log contents of a previous core operation')

    def is_subset_complete(self, thorough: Union[bool,None] = None) -> bool:
        """
        Determine if compute subsets have all completed for this project.

        padocc-rs has no per-project subset deployment (compute is parallel
        within a project), so a project is never waiting on subsets unless a
        padocc 1.5.1 run left ``SubsetDeployed``.
        """

        if self._thorough or thorough:
            self.logger.warning(
                "Using thorough option negates existing subsetting"
            )
            return False

        last_status = (self.get_last_status() or ',').split(',')
        if last_status[1] != 'SubsetDeployed':
            return False

        num_files    = self.detail_cfg.get('num_files')
        if num_files is None:
            raise ValueError(
                'Unknown number of native files'
            )

        if self.cfa_enabled:
            missing = self.get_cfa_cache_files(get_missing=True)
            if len(missing) > 0:
                self.logger.error(f'CFA File missing - expected {",".join(missing)}')
                return False

        num_caches = len(glob.glob(f'{self.dir}/cache/*.json'))
        if num_caches < num_files+1:
            # Accounts for temp_zattrs.json file
            self.logger.error(f'Kerchunk Files missing - expected {num_files+1}, got {num_caches}')
            return False

        return True

    def update_status(
            self,
            phase : str,
            status: str,
            jobid : str = ''
        ) -> None:
        """
        Update the status of a project (recorded at once).

        :param phase:   (str) Phased operation being performed.

        :param status:  (str) Status of phased operation outcome

        :param jobid:   (str) ID of SLURM job in which this operation has taken place.
        """
        if self._dryrun:
            self.logger.info(f'DRYRUN: Skipped recording status {phase},{status}')
            return
        # In-memory edits of the status log go first (the row is appended after them).
        self.status_log.save()
        from ... import _native
        _native.record_status(
            self.workdir, self.groupID, self.proj_code,
            phase, status, '' if jobid is None else str(jobid))
        self.logger.info(f'Updated new status: {phase} - {status}')

    def set_last_run(self, phase: str, time : str) -> None:
        """
        Set the phase and time of the last run for this project.

        :param phase:   (str) Phased operation of last run.

        :param time:    (str) Timestamp for operation.
        """
        self.base_cfg['last_run'] = [phase, time]

    def get_last_run(self) -> list:
        """
        Get the value for this projects last run (``[phase, time]``)."""
        return self.base_cfg['last_run']

    def get_last_status(self) -> str:
        """
        Gets the last line of the correct log file
        """
        try:
            return self.status_log[-1]
        except IndexError:
            return None

    def get_log_contents(self, phase: str) -> str:
        """
        Get the contents of the log file as a string

        :param phase:   (str) Phased operation from which to pull logs.
        """

        if phase in self.phase_logs:
            return str(self.phase_logs[phase])
        self.logger.warning(f'Phase "{phase}" not recognised - no log file retrieved.')
        return ''

    def show_log_contents(self, phase: str, halt : bool = False, func: Callable = print):
        """
        Format the contents of the log file to print.

        :param phase:   (str) Phased operation to pull log data from.

        :param halt:    (bool) Stop and display log data, wait for input before
            continuing.

        :param func:        (Callable) provide an alternative to 'print' function
            for displaying help information.
        """

        logfh = self.get_log_contents(phase=phase)
        status = (self.get_last_status() or '').split(',')
        func(logfh)

        func(f'Project Code: {self.proj_code}')
        func(f'Status: {status}')

        func(self._rerun_command())

        if halt:
            paused = input('Type "E" to exit assessment:')
            if paused == 'E':
                raise KeyboardInterrupt

    def _rerun_command(self):
        """
        Setup for running this specific component interactively.
        """
        return f'padocc <operation> -G {self.groupID} -p {self.proj_code} -vv'

    def get_report(self) -> dict:
        """
        Get the validation report if present for this project.
        """

        full_report = {'data':None, 'metadata':None}

        meta_fh = JSONFileHandler(self.dir, 'metadata_report',logger=self.logger, **self.fh_kwargs)
        data_fh = JSONFileHandler(self.dir, 'data_report',logger=self.logger, **self.fh_kwargs)

        if meta_fh.file_exists():
            full_report['metadata'] = meta_fh.get()
        if data_fh.file_exists():
            full_report['data'] = data_fh.get()

        return full_report
