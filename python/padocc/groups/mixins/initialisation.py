__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

import json
import os
from typing import Callable, Union

from padocc.core.project import native_row
from padocc.core.utils import (apply_substitutions, extract_file, extract_json,
                               valid_project_code)


def parse_init_line(line: str) -> dict:
    """
    One line of padocc's input CSV (``proj_code,pattern,updates,removals[,var...]``)
    as padocc 1.5.1's ``init_group`` reads it: spaces removed from code and
    pattern; a pattern in double quotes may contain commas; columns 3 and 4
    are the updates/removals (a JSON file path is loaded); columns 5+ are the
    variables to keep.
    """
    ds_values = line.split(',')
    if '"' in line:
        parts = line.split('"')
        if len(parts) < 3:
            raise ValueError(f'Improperly formatted input line with "" quotes: {line}')
        pattern = parts[1]
        components = (parts[0] + parts[2]).split(',')
        proj_code = components[0].replace(' ', '')
        # The quoted pattern leaves an empty second column behind.
        rest = components[2:] if len(components) > 1 and components[1].strip() == '' else components[1:]
    else:
        proj_code = ds_values[0].replace(' ', '')
        pattern = ds_values[1].replace(' ', '') if len(ds_values) > 1 else ''
        rest = ds_values[2:]

    def maybe_json(value: str):
        value = value.strip()
        if value and os.path.isfile(value):
            with open(value) as f:
                return json.load(f)
        return value

    update = maybe_json(rest[0]) if len(rest) > 0 else None
    remove = maybe_json(rest[1]) if len(rest) > 1 else None
    variables = [v.strip() for v in rest[2:] if v.strip()]
    return {
        'proj_code': proj_code,
        'pattern': pattern,
        'update': update,
        'remove': remove,
        'keep_vars': sorted(set(variables)),
    }


class InitialisationMixin:
    """
    Mixin container class for initialisation
    routines for groups via input files.

    Projects are created by the engine (``_native.init_projects``): every row
    is checked before anything is written, file lists hold absolute paths,
    and re-running an init updates the projects instead of appending their
    codes to ``main.txt`` again (1.5.1 duplicated them).

    Use case: GroupOperation [ONLY]
    """
    @classmethod
    def help(cls, func: Callable = print):
        func('Initialisations:')
        func(' > group.init_from_stac() - Initialise a group from a set of STAC records')
        func(' > group.init_from_file() - Initialise a group based on values from a local file')

    def init_from_stac(self):
        pass

    def init_from_file(
            self,
            input_file: str,
            substitutions: dict = None,
            remote_s3: Union[dict, str, None] = None,
        ) -> None:
        """
        Run initialisation by loading configurations from input sources, determine
        input file type and use appropriate functions to instantiate group and project
        directories.

        :param input_file:      (str) Path to an input CSV (relative to the current directory
            or absolute): ``proj_code,pattern,updates,removals[,var...]`` per line.

        :param substitutions:   (dict) ``{'init_file': {old: new}, 'dataset_file': {old: new},
            'datasets': {old: new}}``: literal replacements in the CSV lines, in a ``.txt``
            pattern, and in every expanded file path.

        :param remote_s3:       (dict | str) remote s3 configuration (or a JSON path) stored
            in every project.

        :returns:   None
        """

        substitutions = substitutions or {}

        self.logger.info('Starting initialisation')

        if not input_file:
            self.logger.error('Initialisation requires input file in csv or txt format')
            return

        if not input_file.startswith('/'):
            pwd = os.getcwd()
            self.logger.info(f'Copying input file from relative path - resolved to {pwd}')
            input_file = os.path.join(pwd, input_file)

        self.logger.debug('Starting group initialisation')
        if '.txt' in input_file:
            raise NotImplementedError(
                'Text-file inputs are no longer supported. ',
                'Please use either CSV or JSON inputs')

        elif '.csv' in input_file:
            self.logger.debug('Ingesting csv file')
            group_config = extract_file(input_file)
        else:
            raise NotImplementedError(
                'CSV is the only accepted format for group-based initialisation'
            )
        self.init_group(group_config, substitutions=substitutions, remote_s3=remote_s3)

    def _init_project(
            self,
            config: dict,
            remote_s3: Union[dict, str, None] = None
        ) -> None:
        """
        Create one project from a base-cfg-like dict (without adding it to
        ``main``; ``add_project`` does that).
        """
        self._init_rows([self._config_row(config, remote_s3)], add_to_main=False)

    def _config_row(self, config: dict, remote_s3=None, line=None) -> dict:
        valid_project_code(config['proj_code'])
        if isinstance(remote_s3, str):
            remote_s3 = extract_json(remote_s3)
        if remote_s3 is not None:
            config = dict(config, remote_s3=remote_s3)
        return native_row(config['proj_code'], config, line=line)

    def _init_rows(self, rows: list, add_to_main: bool = True, update_existing: bool = True) -> dict:
        from padocc import _native
        summary = _native.init_projects(
            self.workdir, self.groupID, rows,
            {
                'update_existing': update_existing,
                'add_to_main': add_to_main,
                'skip_filechecks': bool(self._bypass.skip_filechecks),
                'dryrun': bool(self._dryrun),
            })
        # main.txt and datasets.csv were rewritten by the engine.
        self._load_proj_codes()
        self._forget_projects([r['proj_code'] for r in rows])
        self.logger.info(
            f'Group {self.groupID}: {len(summary.get("created", []))} created, '
            f'{len(summary.get("updated", []))} updated, {len(summary.get("unchanged", []))} unchanged'
        )
        return summary

    def init_group(
            self,
            datasets : list,
            substitutions: dict = None,
            remote_s3: Union[dict, str, None] = None,
        ) -> None:
        """
        Create (or update) the projects of this group from the lines of an
        input CSV.
        """

        self.logger.info('Creating project directories')
        datasets = [d for d in datasets if d.strip()]
        if not datasets:
            self.logger.error('No projects in the input')
            return

        if substitutions:
            datasets, status = apply_substitutions('init_file',subs=substitutions, content=datasets)
            if status:
                self.logger.warning(status)

        if 'proj_code' in datasets[0]:
            datasets = datasets[1:]

        rows = []
        for line in datasets:
            cfg = parse_init_line(line)

            pattern = cfg['pattern']
            if pattern.endswith('.txt') and substitutions:
                subbed, status = apply_substitutions('dataset_file', subs=substitutions, content=[pattern])
                pattern = subbed[0]
                if status:
                    self.logger.warning(status)
            elif pattern.endswith('.csv'):
                pattern = os.path.abspath(pattern)
            cfg['pattern'] = pattern

            if substitutions:
                cfg['substitutions'] = substitutions
                if 'datasets' not in substitutions:
                    self.logger.warning('Subkey datasets is not valid for substitutions')

            rows.append(self._config_row(cfg, remote_s3, line=line))

        self._init_rows(rows, add_to_main=True)
        self.logger.info(f'Written as group ID: {self.groupID}')
