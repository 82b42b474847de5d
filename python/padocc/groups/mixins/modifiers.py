__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

import json
import os
import shutil
from typing import Any, Callable, Union

from padocc.core.utils import BASE_CFG, source_opts, valid_project_code


class ModifiersMixin:
    """
    Modifiers to the group in terms of the projects associated,
    allows adding and removing projects.

    Moving projects between groups goes through the engine
    (``_native.transfer_projects``: directories, codes in every subset,
    ``datasets.csv`` lines and current status move together).

    Fixed from 1.5.1: ``add_project`` records the project in
    ``datasets.csv``; ``remove_project`` saves the group files; ``merge``
    saves group A and ``unmerge`` works; ``set_all_values``/``apply_pfunc``
    iterate ``repeat_id`` and ``apply_pfunc`` accepts a function that
    returns None.

    Use case: GroupOperation [ONLY]
    """

    @classmethod
    def help(cls, func: Callable = print):
        func('Modifiers:')
        func(
            ' > group.add_project() - Add a new project, '
            'requires a base config (padocc.core.utils.BASE_CFG) compliant dictionary')
        func(' > group.remove_project() - Delete project and all associated files')
        func(' > group.transfer_project() - Transfer project to a new "receiver" group')
        func(' > group.merge() - Merge two groups')
        func(
            ' > group.unmerge() - Split one group into two sets, '
            'given a list of datasets to move into the new group.')

    def set_all_values(self, attr: str, value: Any, repeat_id: str = 'main'):
        """
        Set a particular value for all projects in a group.
        """
        self.logger.info(f'Applying {attr}:{value} to all projects')

        for project in self.__iter__(repeat_id=repeat_id):
            try:
                setattr(project, attr, value)
            except Exception as err:
                self.logger.error('Error when trying to apply value to all projects')
                raise err
            project.save_files()

        self.logger.info('All projects saved')

    def apply_pfunc(self, pfunc: Callable, repeat_id: str = 'main'):
        """
        Apply a custom function across all projects (``pfunc(project)``; its
        return value, when a project, replaces it), then save each.
        """
        self.logger.info(f'Applying {pfunc} to all projects')

        for project in self.__iter__(repeat_id=repeat_id):
            try:
                result = pfunc(project)
            except Exception as err:
                self.logger.error('Error when trying to perform custom function:')
                raise err
            (result if result is not None else project).save_files()

        self.logger.info('All projects saved')

    def catalog_ceda(
            self,
            final_location: str,
            api_key: str,
            collection: str,
            name_list: Union[list,None] = None,
            repeat_id: str = 'main'
        ):
        """
        Catalog all projects in the group into the
        ``ceda-cloud-projects`` index (not implemented, as in 1.5.1)."""
        raise NotImplementedError

    def add_project(
            self,
            config: Union[str,dict],
            remote_s3: Union[dict, str, None] = None,
            moles_tags: bool = False,
        ):
        """
        Add a project to this group.

        :param config:  (str | dict) The configuration details to add new project. Can either be
            a path to a json file or json content directly. Can also be either a properly formatted
            base config file (needs ``proj_code``, ``pattern`` etc.) or a moles_esgf input file.

        :param moles_tags:  (bool) Option for CEDA staff to integrate output from another package.
        """

        if isinstance(config, str):
            if config.endswith('.json'):
                with open(config) as f:
                    config = json.load(f)
            elif config.endswith('.csv'):
                cfg = {}
                with open(config) as f:
                    for line in f.readlines():
                        if not line.strip():
                            continue
                        key, fileset = line.strip().split(',', 1)
                        cfg[key] = fileset.split(',')

                config = cfg
            else:
                config = json.loads(config)

        configs = []
        if moles_tags:
            for key, fileset in config.items():
                conf = dict(BASE_CFG)
                conf['proj_code'] = key
                conf['pattern'] = list(fileset)

                if all(f.split('.')[-1] in source_opts for f in fileset):
                    configs.append(conf)
                else:
                    self.logger.info(f'Rejected {key} - not all files are friendly.')
        elif isinstance(config, list):
            configs = list(config)
        else:
            configs.append(config)

        rows = []
        for config in configs:

            if config['proj_code'] in self.proj_codes['main']:
                self.logger.warning(
                    f'proj_code {config["proj_code"]} already exists for this group.'
                )
                if not self._forceful:
                    continue

            valid_project_code(config['proj_code'])
            line = None
            if isinstance(config.get('pattern'), str):
                line = f'{config["proj_code"]},{config["pattern"]},,'
            rows.append(self._config_row(dict(config), remote_s3, line=line))

        if rows:
            self._init_rows(rows, add_to_main=True, update_existing=bool(self._forceful))

    def remove_projects(self, proj_code: str, ask: bool = True) -> None:
        """
        Remove one or more projects from this group (a comma list of codes
        or indices into ``main``).
        """
        proj_codes = proj_code.split(',')
        code_labels = []
        for i in proj_codes:
            if i in self.proj_codes['main']:
                code_labels.append(i)
            elif i.isnumeric():
                code_labels.append(self.proj_codes['main'][int(i)])

        for pc in code_labels:
            self.remove_project(pc, ask=ask)

        self.save_files()

    def remove_project(self, proj_code: str, ask: bool = True) -> None:
        """
        Remove a project from this group
        Steps required:
        1. Remove the project directory including all internal files.
        2. Remove the project code from all project files (saved).
        """

        if ask:
            inp = input(f'Are you sure you want to delete {proj_code}? (Y/N) ')
            if inp != 'Y':
                self.logger.warning(f'Skipped Deleting directory (User entered {inp})')
                return

        for pset in self.proj_codes.values():
            while proj_code in pset:
                pset.remove(proj_code)

        for handler in (self.datasets, self.faultlist):
            kept = [line for line in handler.get() if line.replace(' ', '').split(',')[0] != proj_code]
            if len(kept) != len(handler.get()):
                handler._value = kept

        self._forget_projects([proj_code])
        project_dir = f'{self.workdir}/in_progress/{self.groupID}/{proj_code}'
        if self._dryrun:
            self.logger.info(f'DRYRUN: Skipped deleting {project_dir}')
        else:
            shutil.rmtree(project_dir, ignore_errors=True)
        self.save_files()

    def transfer_projects(self, proj_codes: Union[list,str], receiver_group, repeat_id: str = 'main') -> None:
        """
        Transfer multiple projects between groups (a list of codes, or a comma
        list of indices into ``repeat_id``; a list with ``repeat_id`` other
        than ``main`` moves that whole subset, as in 1.5.1).
        """

        if isinstance(proj_codes,str):
            proj_codes = [self.proj_codes[repeat_id][int(p)] for p in proj_codes.split(',')]
        elif repeat_id != 'main':
            proj_codes = list(self.proj_codes[repeat_id])

        self._transfer(list(proj_codes), receiver_group)

    def transfer_project(self, proj_code: str, receiver_group) -> None:
        """
        Transfer an existing project to a new group
        """
        self._transfer([proj_code], receiver_group)

    def _transfer(self, codes: list, receiver_group) -> None:
        from padocc import _native

        for proj_code in codes:
            if proj_code not in self.proj_codes['main']:
                raise ValueError(
                    f'{proj_code} not found in group {self.groupID}'
                )
            if proj_code in receiver_group.proj_codes['main']:
                raise ValueError(
                    f'proj_code {proj_code} already exists for '
                    f'group {receiver_group.groupID}'
                )

        # Pending edits of either group go to disk before the engine moves lines.
        self.save_files()
        receiver_group.save_files()
        self._save_cached(codes)

        if self._dryrun:
            self.logger.info(f'DRYRUN: Skipped transferring {codes} to {receiver_group.groupID}')
            return

        _native.transfer_projects(self.workdir, self.groupID, receiver_group.groupID, codes)

        # Both groups' files were rewritten by the engine.
        self._forget_projects(codes)
        receiver_group._forget_projects(codes)
        self._load_proj_codes()
        receiver_group._load_proj_codes()

    def merge(group_A,group_B):
        """
        Merge group B into group A: all B's projects move to A (with their
        codes, datasets.csv lines and status), then B's faultlist and subsets
        are combined into A's and B's group files removed. A is saved.

        Note: This is not a class method. The
        ``self`` object is replaced by ``group_A``
        for convenience.
        """

        group_A.logger.info(f'Merging {group_B.groupID} into {group_A.groupID}')

        subsets = {name: list(fh.get()) for name, fh in group_B.proj_codes.items() if name != 'main'}
        faults = list(group_B.faultlist.get())

        codes = list(group_B.proj_codes['main'])
        if codes:
            group_B._transfer(codes, group_A)

        if faults:
            group_A.faultlist.set(group_A.faultlist.get() + faults)
        group_B.faultlist.remove_file()

        for name, subset in subsets.items():
            if name in group_A.proj_codes:
                group_A.proj_codes[name].set(group_A.proj_codes[name].get() + subset)
            else:
                group_A._add_proj_codeset(name, subset)
            if name in group_B.proj_codes:
                group_B._delete_proj_codeset(name)

        group_A.save_files()
        group_A.logger.info("Merge operation complete")

    def unmerge(group_A, group_B, dataset_list: list):
        """
        Separate the projects of ``dataset_list`` from group_A into group_B
        (with their codes, datasets.csv lines, status and fault-list
        entries).

        Note: This is not a class method. The
        ``self`` object is replaced by ``group_A``
        for convenience.
        """

        group_A.logger.info(
            f"Separating {len(dataset_list)} datasets from "
            f"{group_A.groupID} to {group_B.groupID}")

        faults_a, faults_b = [], []
        for line in group_A.faultlist.get():
            (faults_b if line.replace(' ', '').split(',')[0] in dataset_list else faults_a).append(line)

        group_A._transfer(list(dataset_list), group_B)

        if faults_b:
            group_A.faultlist._value = faults_a
            group_B.faultlist.set(group_B.faultlist.get() + faults_b)
            group_A.save_files()
            group_B.save_files()

        group_A.logger.info("Unmerge operation complete")

    def delete_group(self, ask: bool = True) -> None:
        """
        Delete the entire set of files associated with this group.
        """

        complete = self.get_codes_by_status()['complete']
        if len(complete) != len(self):
            self.logger.warning(f'Not all projects appear fully complete ({len(complete)}/{len(self)})')
            ask = True

        if ask:
            x=input(f'Delete all files relating to group: {self.groupID}? (Y/N) ')
            if x != 'Y':
                return

        if self._dryrun:
            self.logger.info(f'DRYRUN: Skipped deleting group {self.groupID}')
            return

        shutil.rmtree(f'{self.workdir}/in_progress/{self.groupID}', ignore_errors=True)
        shutil.rmtree(self.groupdir, ignore_errors=True)
        self._forget_projects()

        self.logger.info(f'Deleted group - {self.groupID}')
        return None
