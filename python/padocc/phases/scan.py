"""padocc.phases.scan: ``ScanOperation`` (the scan phase, run by the engine).

The engine reads a sample of files spread over the list (padocc 1.5.1 read
the first ``max(2, n/20)``) and records in ``detail-cfg.json`` the driver,
concat dimension(s), identical and aggregated variables, chunks per file and
in total, the product size and so ``type`` (json/parq), and timing/memory
estimates. Unlike 1.5.1, a project with fewer than 3 files is scanned too,
and ``run`` returns ``'Success'`` rather than None for it.
"""

__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

from typing import Callable, Union

from padocc.core import ProjectOperation
from padocc.core.utils import print_fmt_str


class ScanOperation(ProjectOperation):
    """
    Scan phase for one project.

    ``run(mode=None, forceful=None, thorough=None, bypass=None, dryrun=None,
    mem_allowed=None, concat_dims=None, dedupe=None, ctype=None)``:
    ``mode`` (kerchunk/zarr/CFA) switches the project's cloud format;
    ``concat_dims`` overrides the dimensions scan would find; ``ctype``
    (force a kerchunk driver) is accepted and not needed.
    """

    def __init__(
            self,
            proj_code : str,
            workdir   : str,
            groupID   : str = None,
            label     : str = 'scan',

            **kwargs,
        ) -> None:

        self.phase = 'scan'
        if label is None:
            label = 'scan-operation'

        super().__init__(
            proj_code, workdir, groupID=groupID, label=label,**kwargs)

    @classmethod
    def help(cls, func: Callable = print_fmt_str, fn: Callable = None):
        func = fn or func
        super().help(func=func)
        func('')
        func('Scan Options:')
        func(' > project.run() - Run a scan for this project')
