__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

import os
import shutil
from typing import Any, Callable, Union

from ..filehandlers import (CFADataset, GenericStore, KerchunkFile,
                            KerchunkStore, ZarrStore)
from ..utils import extract_json


class DatasetHandlerMixin:
    """
    Mixin class for properties relating to opening products.

    The product properties return filehandler objects; their
    ``open_dataset(**kw)`` methods return ``xarray.Dataset`` (xarray is
    imported then, not before).

    Use case: ProjectOperation [ONLY]
    """

    @classmethod
    def help(cls, func: Callable = print):
        """
        Helper function to describe basic functions from this mixin

        :param func:        (Callable) provide an alternative to 'print' function
            for displaying help information.
        """
        func('Dataset Handling:')
        func(' > project.dataset - Default product Filehandler (pointer) property')
        func(' > project.dataset_attributes - Fetch metadata from the default dataset')
        func(' > project.kfile - Kerchunk Filehandler property')
        func(' > project.kstore - Kerchunk (Parquet) Filehandler property')
        func(' > project.cfa_dataset - CFA Filehandler property')
        func(' > project.zstore - Zarr Filehandler property')
        func(' > project.update_attribute() - Update an attribute within the metadata')

    def _disconnect_ds_filehandlers(self):
        ""
        self._kfile = None
        self._kstore = None
        self._zstore = None
        self._cfa_dataset = None

    def delete_ds_filehandlers(self):
        """Delete the files of the product handlers in use, then forget them."""
        if self._dryrun:
            self.logger.info('DRYRUN: Skipped deleting product files')
            self._disconnect_ds_filehandlers()
            return
        for handler in (self._kfile, self._kstore, self._zstore, self._cfa_dataset):
            if handler is None:
                continue
            path = handler.filepath
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.isfile(path):
                os.remove(path)

        self._disconnect_ds_filehandlers()

    def save_ds_filehandlers(self):
        """
        Save the product handlers in use (each writes only what was edited;
        the CFA file is no longer rewritten on every save).
        """

        for handler in (self._kfile, self._kstore, self._zstore, self._cfa_dataset):
            if handler is not None:
                handler.save()

    @property
    def kfile(self) -> Union[KerchunkFile,None]:
        """
        Retrieve the kfile filehandler or create if not present
        """

        if self._kfile is None:
            self._kfile = KerchunkFile(
                self.dir,
                self.outproduct,
                logger=self.logger,
                xarray_kwargs=self._xarray_kwargs,
                **self.fh_kwargs,
            )

        return self._kfile

    @property
    def kstore(self) -> Union[KerchunkStore,None]:
        """
        Retrieve the kstore filehandler or create if not present
        """
        if self._kstore is None:
            self._kstore = KerchunkStore(
                self.dir,
                self.outproduct,
                logger=self.logger,
                **self.fh_kwargs,
            )

        return self._kstore

    @property
    def dataset(
        self
    ) -> Union[KerchunkFile, GenericStore, CFADataset, None]:
        """
        Gets the product filehandler corresponding to cloud format.

        Generic dataset property, links to the correct
        cloud format, given the Project's ``cloud_format``
        property with other configurations applied.
        """

        if self.cloud_format is None:
            raise ValueError(
                f'Dataset for {self.proj_code} does not exist yet.'
            )

        if self.cloud_format == 'kerchunk':
            if self.file_type == 'parq':
                return self.kstore
            else:
                return self.kfile
        elif self.cloud_format == 'zarr':
            return self.zstore
        elif self.cloud_format == 'CFA':
            return self.cfa_dataset
        else:
            raise ValueError(
                f'Unrecognised cloud format {self.cloud_format}'
            )

    @property
    def cfa_dataset(self) -> CFADataset:
        """
        Gets the product filehandler for the CFA dataset.
        """

        if not self._cfa_dataset:
            self._cfa_dataset = CFADataset(
                self.cfa_path,
                identifier=self.proj_code,
                logger=self.logger,
                **self.fh_kwargs
            )

        return self._cfa_dataset

    @property
    def cfa_path(self) -> str:
        """
        Path to the CFA object for this project (without ``.nca``).

        padocc 1.5.1 names it ``c<revision>`` for a remote NetCDF4 project
        (so ``cr1.0`` for zarr projects) and ``<proj_code>`` otherwise; the
        engine writes ``<proj_code>.nca``. The first of these that exists is
        used.
        """
        own = f'{self.dir}/{self.proj_code}'
        if self.remote and self.is_netcdf4_compatible:
            padocc_name = f'{self.dir}/c{self.revision}'
            if os.path.isfile(f'{padocc_name}.nca') or not os.path.isfile(f'{own}.nca'):
                return padocc_name
        return own

    @property
    def zstore(self) -> Union[ZarrStore, None]:
        """
        Retrieve the filehandler for the zarr store
        """

        remote_s3 = self.base_cfg.get('remote_s3',None)

        if remote_s3 is not None:
            remote_s3 = dict(remote_s3)
            remote_s3['store_name'] = self.complete_product()

        if self._zstore is None:
            self._zstore = ZarrStore(
                self.dir,
                self.outproduct,
                logger=self.logger,
                remote_s3=remote_s3,
                **self.fh_kwargs,
            )

        return self._zstore

    def update_attribute(
            self,
            attribute: str,
            value: Any,
            target: str = 'dataset',
        ) -> None:
        """
        Update an attribute within a dataset representation's metadata (in
        memory; ``save_files()`` writes it).

        :param attribute:   (str) The name of an attribute within the metadata
            property of the corresponding filehandler.

        :param value:       (Any) The new value to set for this attribute.

        :param target:      (str) The target product filehandler, uses the
            generic dataset filehandler if not otherwise specified.
        """
        handler = self._product_handler(target)
        meta = dict(handler.get_meta() or {})
        meta[attribute] = value
        handler.set_meta(meta)

    def remove_attribute(
            self,
            attribute: str,
            target: str = 'dataset',
        ) -> None:
        """
        Remove an attribute within a dataset representation's metadata.

        1.5.1 also copied the product's attributes into the CFA file, whose
        next save then emptied it; only the target is changed here.

        :param attribute:   (str) The name of an attribute within the metadata
            property of the corresponding filehandler.

        :param target:      (str) The target product filehandler, uses the
            generic dataset filehandler if not otherwise specified.
        """
        handler = self._product_handler(target)
        meta = dict(handler.get_meta() or {})
        meta.pop(attribute, None)
        handler.set_meta(meta)

    def _product_handler(self, target: str):
        if target not in ('dataset', 'kfile', 'kstore', 'zstore', 'cfa_dataset'):
            raise ValueError(
                f'Unknown target "{target}" - must be one of dataset, kfile, kstore, zstore, cfa_dataset'
            )
        return getattr(self, target)

    def write_to_s3(
            self,
            credentials: Union[dict, str],
            bucket_id: str,
            name_overwrite: Union[str, None] = None,
            dataset_type: str = 'zstore',
            write_as: str = 'zarr',
            s3_kwargs: dict = None,
            **zarr_kwargs
        ) -> None:
        """
        Write one of the active ``dataset`` objects to
        an s3 zarr store
        """

        if write_as != 'zarr':
            raise NotImplementedError(
                'Non-zarr transfers not yet supported.'
            )

        if not hasattr(self, dataset_type):
            raise ValueError(
                f'Project has no attribute {dataset_type}'
            )

        ds = getattr(self, dataset_type)
        name_overwrite = name_overwrite or f'{self.proj_code}_{self.cloud_format_id}{self.revision}'

        if isinstance(ds, ZarrStore):
            ds.write_to_s3(
                credentials,
                bucket_id,
                name_overwrite=name_overwrite,
                s3_kwargs=s3_kwargs,
                **zarr_kwargs
            )
        else:
            # Any product: open it and write it as zarr.
            target = ZarrStore(self.dir, self.outproduct, logger=self.logger, **self.fh_kwargs)
            target.write_to_s3(
                credentials, bucket_id, name_overwrite=name_overwrite,
                s3_kwargs=s3_kwargs, ds=ds.open_dataset(), **zarr_kwargs)

    def add_s3_config(
           self,
           remote_s3: Union[dict, str, None] = None,
        ) -> None:
        """
        Add remote_s3 configuration for this project

        :param remote_s3:   (dict | str) Remote s3 config argument, either
            dictionary or path to a json file on disk. It is not advised to enter
            credentials here, see the documentation in Extra Features for more
            details.
        """

        if isinstance(remote_s3, str):
            remote_s3 = extract_json(remote_s3)

        self.base_cfg['remote_s3'] = remote_s3

    def remove_s3_config(self):
        """
        Remove remote_s3 configuration from this project
        """
        self.base_cfg.pop('remote_s3')

    @property
    def dataset_attributes(self) -> dict:
        """
        Fetch a dictionary of the metadata for the dataset.
        """
        return self.dataset.get_meta()

    def make_remote(
            self,
            sub: str = '/',
            replace: str = 'https://dap.ceda.ac.uk/',
            in_place: bool = True,
            remote: bool = True,
        ) -> Union[None,dict]:
        """
        Rewrite the source paths of a kerchunk product (``sub`` prefix ->
        ``replace``) and rename it to the remote revision (``kr<v>a``).
        """

        if self.cloud_format != 'kerchunk':
            raise NotImplementedError(
                f'Download link replacement not implemented for {self.cloud_format}'
            )

        handler = self.kstore if self.file_type == 'parq' else self.kfile
        old_path = handler.filepath
        if self.file_type == 'parq':
            self.kstore.make_remote(sub=sub, replace=replace, in_place=in_place, remote=remote)
            refs = None
        else:
            refs = self.kfile.make_remote(sub=sub, replace=replace, in_place=in_place, remote=remote)
            if in_place:
                self.kfile.save()

        if not in_place:
            # Save refs to a new remote copy.
            self.remote = True
            self._kfile = None
            self.kfile.set(refs)
            self.kfile.save()
            return None

        self.remote = remote
        if remote and not self._dryrun:
            self._kfile = None
            self._kstore = None
            new_path = (self.kstore if self.file_type == 'parq' else self.kfile).filepath
            if new_path != old_path:
                shutil.move(old_path, new_path)
            self._kfile = None
            self._kstore = None
        return None

    def catalog_ceda(
            self,
            final_location: str,
            api_key: str,
            collection: str,
            name_replace: Union[str,None] = None,
        ):
        """
        Catalog the output product of this project.
        """

        raise NotImplementedError
