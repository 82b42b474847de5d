"""padocc.phases.compute: the compute phase classes (run by the engine).

``phase_map['compute']`` chooses the class by cloud format: ``KerchunkDS``
(kerchunk references, ``k<v>a.json``/``k<v>a.parquet``), ``ZarrDS`` (a Zarr
v3 store ``zr<v>a.zarr``), ``ComputeOperation`` (CFA only: ``<proj>.nca``)
and ``IcechunkDS`` (not made by padocc-rs). Every mode also writes the CFA
aggregation file beside the product unless CFA is disabled for the project.

Differences from padocc 1.5.1 (spec §4.3, §8):

* Nothing is decided in the constructor. An existing product is checked when
  ``run`` is called: without ``forceful``/``thorough``/``new_version`` the
  project is left as it is and ``run`` returns ``'Success'`` (logged as
  skipped); 1.5.1 raised ``ValueError('Output product already exists...')``
  from the constructor (and ``UnboundLocalError`` for zarr stores).
* ``run()`` without ``mode`` makes the class's product and records that format
  as the project's cloud format, as ``g.run('compute', mode=...)`` does
  (1.5.1 ran the class's code under whatever format was stored).
* ``ComputeOperation.run`` (CFA mode) returns ``'Success'``, not the tuple
  ``('Success', True)``.
* There is one aggregator: ``aggregator='P'|'V'|'K'``, ``b64vars``,
  ``identical_dims`` and the per-project subset options are accepted and
  not needed.
"""

__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

from typing import Callable, Union

from padocc.core import ProjectOperation
from padocc.core.utils import print_fmt_str


class ComputeOperation(ProjectOperation):
    """
    PADOCC Dataset Processor Class, capable of processing a single
    dataset's worth of input files into a single aggregated file/store.

    As a class of its own it makes the CFA aggregation file only (``CFA``
    cloud format).

    ``run(mode=None, forceful=None, thorough=None, new_version=None,
    concat_dims=None, dedupe=None, mem_allowed=None, bypass=None,
    dryrun=None, **accepted)``.
    """

    _format = 'CFA'

    def __init__(
            self,
            proj_code : str,
            workdir   : str,
            groupID   : str = None,
            stage     : str = 'in_progress',
            thorough    : bool = None,
            concat_msg  : dict = None,
            limiter     : int = None,
            skip_concat : bool = False,
            label : str = 'compute',
            is_trial: bool = False,
            **kwargs
        ) -> None:
        """
        :param proj_code:       (str) The project code in string format (DOI)

        :param workdir:         (str) Path to the current working directory.

        :param groupID:         (str) GroupID of the parent group.

        :param thorough:        (bool) Redo from scratch (as forceful).

        :param concat_msg, limiter, skip_concat, is_trial, stage: accepted for
            compatibility with padocc 1.5.1 (its trial and subset machinery);
            not needed by the engine.
        """
        self.phase = 'compute'

        super().__init__(
            proj_code,
            workdir,
            groupID=groupID,
            thorough=thorough,
            label=label,
            **kwargs)

        self.stage = stage
        self.concat_msg = concat_msg or {}
        self.limiter = limiter
        self.skip_concat = skip_concat
        self._is_trial = False
        if is_trial:
            self.logger.info('Trial products are not made by padocc-rs (scan measures instead)')

    @classmethod
    def help(cls, func: Callable = print_fmt_str, fn: Callable = None):
        func = fn or func
        super().help(func=func)
        func('')
        func('Compute Options:')
        func(' > project.run() - Run compute for this project')

    def _default_mode(self):
        return self._format

    @property
    def combine_kwargs(self) -> dict:
        """``detail-cfg`` ``kwargs.combine_kwargs`` (concat/identical dims...)."""
        return (self.detail_cfg.get('kwargs', {}) or {}).get('combine_kwargs', {}) or {}

    @property
    def create_kwargs(self) -> dict:
        return (self.detail_cfg.get('kwargs', {}) or {}).get('create_kwargs', {}) or {'inline_threshold': 0}

    @property
    def keep_vars(self):
        kv = self.base_cfg.get('keep_vars', None)
        return 'all' if kv in (None, [], ['']) else kv


class KerchunkDS(ComputeOperation):
    """Compute kerchunk references (``k<v>a.json``, or ``.parquet`` for file type ``parq``)."""

    _format = 'kerchunk'

    def __init__(
            self,
            proj_code,
            workdir,
            stage = 'in_progress',
            **kwargs):

        super().__init__(proj_code, workdir, stage=stage, **kwargs)


class ZarrDS(ComputeOperation):
    """Compute a Zarr v3 store (``zr<v>a.zarr``)."""

    _format = 'zarr'

    def __init__(
            self,
            proj_code,
            workdir,
            groupID: Union[str,None] = None,
            stage : str = 'in_progress',
            mem_allowed : str = '100MB',
            preferences = None,
            **kwargs,
        ) -> None:

        super().__init__(proj_code, workdir, groupID=groupID, stage=stage, **kwargs)
        self.mem_allowed = mem_allowed
        self.preferences = preferences


class IcechunkDS(ComputeOperation):
    """Icechunk products (a stub in padocc 1.5.1 too)."""

    _format = 'icechunk'

    def run(self, *args, **kwargs):
        raise NotImplementedError(
            'Icechunk products are not made by padocc-rs (padocc 1.5.1 only had a stub)'
        )


class KerchunkConverter:
    """padocc 1.5.1's per-file kerchunk driver cascade; the engine converts files itself."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            'KerchunkConverter is internal to padocc 1.5.1; padocc-rs reads files natively '
            '(use `padocc refs FILE -o out.json` for one file)'
        )
