__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

import glob
from typing import Callable, Union

from padocc.core.utils import CLOUD_FORMATS, is_netcdf4


class PropertiesMixin:
    """
    Properties relating to the ProjectOperation class that
    are stored separately for convenience and easier debugging.

    Differences from padocc 1.5.1: reading ``remote`` or ``cloud_format``
    never writes a file (1.5.1 persisted ``remote: true`` for zarr and copied
    ``scanned_with`` into ``override``); ``remote`` is read from base-cfg
    (1.5.1 ignored the stored value); ``cfa_complete`` is a bool.

    Use case: ProjectOperation [ONLY]
    """

    @classmethod
    def help(cls, func: Callable = print):
        """
        Helper function displays basic functions for use.

        :param func:        (Callable) provide an alternative to 'print' function
            for displaying help information.
        """
        func('Extra Properties:')
        func(' > project.outpath - path to the output product (Kerchunk/Zarr)')
        func(' > project.outproduct - name of the output product (minus extension)')
        func(' > project.revision - Revision identifier (major + minor version plus type indicator)')
        func(' > project.version_no - Get major + minor version identifier')
        func(' > project.cloud_format[EDITABLE] - Cloud format (Kerchunk/Zarr) for this project')
        func(' > project.file_type[EDITABLE] - The file type to use (e.g JSON/parq for kerchunk).')
        func(' > project.source_format - Get the driver used by kerchunk')
        func(
            ' > project.get_stac_representation() - Provide a mapper, '
            'fills with values from the project to create a STAC record.')

    def _check_override(self, key, mapper) -> str:
        """
        The ``override`` value of ``key``, else the scanned value, else None.
        """
        override = self.base_cfg['override'] or {}
        if override.get(key) is not None:
            return override[key]

        value = self.detail_cfg[mapper]
        if value is not None:
            return value

        return None

    @property
    def kerchunk_aggregation(self):
        return self.base_cfg.get('kerchunk_aggregation',False)

    @kerchunk_aggregation.setter
    def kerchunk_aggregation(self, value: bool):
        self.base_cfg['kerchunk_aggregation'] = value
        self.base_cfg.save()

    @property
    def virtualizarr(self):
        return self.base_cfg.get('virtualizarr',False)

    @virtualizarr.setter
    def virtualizarr(self, value: bool):
        self.base_cfg['virtualizarr'] = value
        self.base_cfg.save()

    @property
    def padocc_aggregation(self):
        return self.base_cfg.get('padocc_aggregation',False)

    @padocc_aggregation.setter
    def padocc_aggregation(self, value: bool):
        self.base_cfg['padocc_aggregation'] = value
        self.base_cfg.save()

    @property
    def order_confirmed(self):
        return self.base_cfg.get('order_confirmed',False)

    @order_confirmed.setter
    def order_confirmed(self, value: bool):
        self.base_cfg['order_confirmed'] = value
        self.base_cfg.save()

    @property
    def cfa_complete(self) -> bool:
        """True when the CFA file was made (base-cfg ``cfa_complete``; 1.5.1
        read ``CFA_complete`` and returned a list of ``*.nca`` files)."""
        if self.base_cfg.get('cfa_complete', False) or self.base_cfg.get('CFA_complete', False):
            return True
        return bool(glob.glob(f'{self.dir}/*.nca'))

    @property
    def cfa_enabled(self):
        return not self.base_cfg.get(index='disable_CFA',default=False) and self.detail_cfg.get(index='CFA',default=True) is not False

    @cfa_enabled.setter
    def cfa_enabled(self, value: bool):

        self.base_cfg['disable_CFA'] = not value
        if value and self.detail_cfg.get(index='CFA',default=True) is False:
            # Has already failed CFA
            self.logger.warning(
                "'disable_CFA' has been revoked but CFA conversion has failed before - " \
                'please rerun the scan phase to retry CFA computation if you wish to use it.'
            )

    @property
    def outpath(self) -> str:
        """
        Path to the output product.

        Takes into account the cloud format and type.
        Extension is applied via the Filehandler that this
        string is applied to.
        """
        return f'{self.dir}/{self.outproduct}'

    def complete_product(self, version_separator: str = '.') -> str:
        """
        Return the name of the actual dataset.

        Products are referred to by revision only
        within the project directory, but on completion
        these will be copied out of the pipeline,
        where they are renamed with the project code
        and revision for the actual dataset.
        """
        return f'{self.proj_code}{version_separator}{self.cloud_format_id}{self.revision}'

    @property
    def outproduct(self) -> str:
        """
        File/directory name for the output product.

        Revision takes into account cloud format and
        type where applicable.
        """
        vn = f'{self.cloud_format_id}{self.revision}a'
        if self._is_trial:
            vn = f'trial-{vn}'
        return vn

    @property
    def cloud_format_id(self) -> str:
        if self.cloud_format is None:
            return
        return self.cloud_format[0]

    @property
    def remote(self) -> bool:
        """
        Determine if this project is remotely-accessible (zarr products
        always are).
        """

        if self.cloud_format == 'zarr':
            return True

        if self._remote is None:
            return bool(self.base_cfg.get('remote', False))

        return self._remote

    @remote.setter
    def remote(self, value: bool) -> bool:
        """
        Set the value of the remote property and match it with the value in the base_cfg.
        """
        self._remote = value
        self.base_cfg['remote'] = self._remote

    @property
    def is_netcdf4_compatible(self):
        """
        NetCDF4 Compatibility (from the scanned driver, else the stored
        value, else the HDF5 signature of the source files).
        """

        compatible = self.base_cfg.get('netcdf4_compatible', None)

        if self.detail_cfg.get('driver') == 'hdf5':
            compatible = True
        elif self.detail_cfg.get('driver') == 'ncf3':
            compatible = False

        if compatible is None:
            compatible = is_netcdf4(self.allfiles.get())
            self.base_cfg['netcdf4_compatible'] = compatible
        return compatible

    @property
    def revision(self) -> str:
        """
        Revision takes into account cloud format and type.
        """

        if self.cloud_format is None:
            raise ValueError(
                'Cloud format not set, revision is unknown'
            )

        if self.remote:
            return ''.join(('r',self.version_no))
        return str(self.version_no)

    @property
    def version_no(self) -> str:
        """
        Get the version number from the base config file.

        This property is read-only, but currently can be
        forcibly overwritten by editing the base config.
        """
        return self.base_cfg['version_no']

    def get_version(self) -> str:
        """The version number (listed by padocc 1.5.1's ``help`` but missing there)."""
        return self.version_no

    @property
    def cloud_format(self) -> str:
        """
        Obtain the cloud format for this project.

        Check multiple options from base and detail
        configs to find the cloud format for this project.
        The default is to use kerchunk.
        """
        value = self._check_override('cloud_type','scanned_with')
        if value not in CLOUD_FORMATS:
            # e.g. padocc-rs's "scanned_with": "padocc-rs 0.x"
            return 'kerchunk'
        return value

    @cloud_format.setter
    def cloud_format(self, value: str):
        """
        Reset the cloud format value.

        Override the cloud format, can be used
        to switch conversion method at any time.
        """
        if value not in CLOUD_FORMATS:
            raise ValueError(
                f'Unrecognised cloud format "{value}" - must be one of {CLOUD_FORMATS}'
            )
        override = dict(self.base_cfg['override'] or {})
        override['cloud_type'] = value
        self.base_cfg['override'] = override
        self.file_type = None

    @property
    def file_type(self) -> str:
        """
        Return the file type for this project.
        """

        if self.cloud_format != 'kerchunk':
            return None
        return self._check_override('file_type','type')

    @file_type.setter
    def file_type(self, value: Union[str, None]):
        """
        Override the file type determined during scanning.

        Changing from json to parquet for kerchunk storage,
        or switching to Zarr will require changing the file type,
        to ``parq`` or None respectively.

        """

        type_map = {
            'kerchunk': ['json','parq'],
            'zarr':[None],
            'CFA':[None],
            'icechunk':[None],
        }

        if value is None:
            value = type_map[self.cloud_format][0]

        if self.cloud_format in type_map:
            if value in type_map[self.cloud_format]:
                override = dict(self.base_cfg['override'] or {})
                override['file_type'] = value
                self.base_cfg['override'] = override
            else:
                raise ValueError(
                    f'Could not set property "file_type:{value} - accepted '
                    f'values for format: {self.cloud_format} are {type_map.get(self.cloud_format,None)}.'
                )
        else:
            raise ValueError(
                f'Could not set property "file_type:{value}" - cloud format '
                f'{self.cloud_format} does not accept alternate types.'
            )

    @property
    def source_format(self) -> str:
        """
        Get the source format of the files.

        This is determined during the scanning process.
        Note: This returns the driver used in the kerchunk
        scanning process if that step has been completed.
        """
        return self.detail_cfg.get(index='driver', default=None)

    def get_stac_representation(self, stac_mapping: dict) -> dict:
        """
        Apply all required substitutions to the stac representation.

        :param stac_mapping:    (dict) A padocc-map-compliant dictionary
            for extracting properties into a dictionary for STAC record-making.
        """

        record = self._get_stac_representation(stac_mapping)
        return record

    def _get_stac_representation(self, stac_mapping: dict) -> dict:
        """
        Gets the stac representation of this project.

        Stac mappings should follow the intended stac
        record structure, where the value of each
        lowest-level key in the mapping is given as a tuple
        of sources for that value from the project. The last
        value in the tuple is the default parameter, if all
        sources are unavailable.

        E.g ```
        {
            "experiment_id": ("property@experiment_id",None),
            "source_fmt": ("detail_cfg@source_type",None)
        }
        ```
        """
        record = {}
        for k, v in stac_mapping.items():
            record[k] = None
            if isinstance(v, dict):
                record[k] = self.get_stac_representation(v)
                continue
            for value in v[:-1]:
                method, prop = value.split('@')
                if method == 'property':
                    found = getattr(self, prop, None)
                    if callable(found):
                        found = found()
                else:
                    try:
                        q = getattr(self, method, {})
                        found = q[prop]
                    except (KeyError, TypeError):
                        found = None
                # Later sources override earlier ones when found.
                if found is not None:
                    record[k] = found

            # Apply default value if source not found
            if record[k] is None:
                record[k] = v[-1]
        return record

    def apply_defaults(
            self,
            defaults: dict,
            target: str = 'dataset',
            remove: Union[list,None] = None
        ):
        """
        Apply a default selection of attributes to a dataset, remove the
        attributes named in ``remove``, and save.
        """

        for attr, val in defaults.items():
            self.update_attribute(attr, val, target=target)

        for attr in (remove or []):
            self.remove_attribute(attr, target=target)

        self.save_files()

    def set_concat_dims(self, dims: list):
        """
        Function to override the concat_kwargs for this project.
        """
        self._set_combine_kwarg('concat_dims', dims)

    def set_identical_dims(self, dims: list):
        """
        Function to override the concat_kwargs for this project.
        """
        self._set_combine_kwarg('identical_dims', dims)

    def _set_combine_kwarg(self, key: str, dims: list):
        kwargs = dict(self.detail_cfg['kwargs'] or {})
        combine = dict(kwargs.get('combine_kwargs', {}) or {})
        combine[key] = list(dims)
        kwargs['combine_kwargs'] = combine
        self.detail_cfg['kwargs'] = kwargs
        self.detail_cfg.save()
