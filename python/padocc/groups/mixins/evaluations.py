__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

from collections.abc import Callable
from datetime import datetime
from statistics import mean
from typing import Optional, Union

from padocc.core.utils import deformat_float, format_float, format_str


class EvaluationsMixin:
    """
    Group Mixin for methods to evaluate the status of a group.

    Statuses come from the engine's status index (``_native.current_statuses``:
    the newest row per project, falling back to each ``status_log.csv``), so
    they agree with ``padocc status`` and do not need one file read per
    project. The output formats are padocc 1.5.1's (spec §5.3, §5.4).

    Fixed from 1.5.1: a non-empty ``faultlist.csv`` no longer crashes
    ``summarise_status``; ``repeat_by_status`` inspects ``old_repeat_id``
    (1.5.1 inspected ``main`` and mapped the positions through
    ``old_repeat_id``); ``remove_by_status`` and ``match_data_reports`` work;
    ``combine_reports`` returns one report per project.

    Use case: GroupOperation [ONLY]
    """

    @classmethod
    def help(cls, func: Callable = print):
        func('Evaluations:')
        func(' > group.get_project() - Get a project operator, indexed by project code')
        func(' > group.repeat_by_status() - Create a new subset group to (re)run an operation, based on the current status')
        func(' > group.remove_by_status() - Delete projects based on a given status')
        func(' > group.merge_subsets() - Merge created subsets')
        func(' > group.summarise_data() - Get a printout summary of data representations in this group')
        func(' > group.summarise_status() - Summarise the status of all group member projects.')

    def combine_reports(
            self,
            repeat_id: str = 'main'
        ) -> dict:
        """
        The validation reports of the projects of ``repeat_id``:
        ``{code: {'data': ..., 'metadata': ...}}`` (1.5.1 merged them into one
        dict, so the last project's report replaced all others).
        """
        combined = {}
        for proj_code in self.proj_codes[repeat_id]:
            combined[proj_code] = self[proj_code].get_report()
        return combined

    def check_attribute(
            self,
            attribute: str,
            repeat_id: str = 'main',
            func: Callable = print
        ):
        """
        Check an attribute across all projects (detail-cfg first, then
        base-cfg; a dotted name reads nested keys, e.g. ``override.cloud_type``).
        """

        func(f'Checking {attribute} for {self.groupID}')

        def lookup(handler, dotted):
            parts = dotted.split('.')
            value = handler.get(parts[0], None)
            for p in parts[1:]:
                if not isinstance(value, dict):
                    return None
                value = value.get(p)
            return value

        for proj_code in self.proj_codes[repeat_id]:
            proj_op = self.get_project(proj_code)

            val = lookup(proj_op.detail_cfg, attribute)
            if val is None:
                val = lookup(proj_op.base_cfg, attribute)
            func(f' > {proj_code}: {val}')

    def repeat_by_status(
            self,
            status: str,
            new_repeat_id: str,
            phase: Optional[str] = None,
            old_repeat_id: str = 'main'
        ) -> None:
        """
        Group projects by their status, to then
        create a new repeat ID (appended to when it exists, as in 1.5.1).
        """
        new_code_ids = self.determine_status_sets(status, phase=phase, repeat_id=old_repeat_id)

        codes = self.proj_codes[old_repeat_id].get()
        new_codes = [codes[i] for i in sorted(new_code_ids)]

        if len(new_codes) < 1:
            self.logger.warning('No project codes correspond to the request - no repeat ID created')
            return

        self._add_proj_codeset(
                new_repeat_id,
                new_codes
            )
        self._save_proj_codes()

    def determine_status_sets(
            self,
            status: str,
            phase: Union[str,None] = None,
            repeat_id: str = 'main',
            write: bool = False):
        """
        Analyse status dict for given status request: positions (in
        ``repeat_id``) of the projects whose current status matches.

        ``phase``: ``p1&p2`` (union). ``status``: ``s1&s2`` (intersection) of
        ``Any``, an exact status, the part of a status before its first
        ``-`` (e.g. ``(V>K)Warn``), or ``!x`` (all but x).
        """

        status_dict = self.get_codes_by_status(repeat_id, write=write)

        if phase is None:
            phase_set = list(status_dict.keys())
        else:
            phase_set = phase.split('&')

        def add_sets(collator, new_sample):
            """
            Add sets by intersection.
            """
            if collator is None:
                return list(new_sample)

            return list(set(collator).intersection(new_sample))

        new_code_ids = []
        for phase in phase_set:
            if phase == 'complete':
                continue
            records = status_dict.get(phase, {})

            # Statuses sharing a prefix (before '-') all match that prefix.
            status_opts = {}
            for stat in records.keys():
                status_opts.setdefault(stat.split('-')[0].strip(), []).append(stat)

            status_per_phase = None
            for status_part in status.split('&'):
                matching_status = []

                self.logger.debug(f'Phase: {phase}, Status: {status_part}')
                if status_part == 'Any':
                    for ids in records.values():
                        matching_status += ids

                elif status_part.startswith('!'):
                    excluded = status_part[1:]
                    skip = set(status_opts.get(excluded, [])) | {excluded}
                    for stat, ids in records.items():
                        if stat not in skip:
                            matching_status += ids

                else:
                    if status_part in records:
                        matching_status += records[status_part]
                    elif status_part in status_opts:
                        for stat in status_opts[status_part]:
                            matching_status += records[stat]

                status_per_phase = add_sets(status_per_phase, matching_status)

            new_code_ids += status_per_phase or []

        return list(set(new_code_ids))

    def remove_by_status(
            self,
            status: str,
            phase: Optional[str] = None,
            old_repeat_id: str = 'main',
            ask: bool = True,
        ) -> None:
        """
        Remove (delete) the projects whose current status matches, as
        ``determine_status_sets`` selects them.
        """
        ids = self.determine_status_sets(status, phase=phase, repeat_id=old_repeat_id)
        codes = self.proj_codes[old_repeat_id].get()
        for code in [codes[i] for i in sorted(ids)]:
            self.remove_project(code, ask=ask)

        self.save_files()

    def merge_subsets(
            self,
            subset_list: list[str],
            combined_id: str,
            remove_after: bool = False,
        ) -> None:
        """
        Merge one or more of the subsets previously created
        """
        newset = []

        for subset in subset_list:
            if subset not in self.proj_codes:
                raise ValueError(
                    f'Repeat subset "{subset}" not found in existing subsets.'
                )

            newset = newset + list(self.proj_codes[subset].get())

        if remove_after:
            for subset in subset_list:
                if subset != combined_id:
                    self._delete_proj_codeset(subset)

        self._add_proj_codeset(combined_id, newset, overwrite=combined_id in subset_list)

        self._save_proj_codes()

    def remove_subset(
            self,
            repeat_id: str
        ) -> None:
        """
        Remove a subset from the group.

        :param repeat_id:       (str) The repeat_id classifying the subset in this group
            to which this operation will apply.

        """

        if self._dryrun:
            self.logger.warning('Unable to remove a subset in dryrun mode')
            return

        if repeat_id == 'main':
            raise ValueError('The main subset is the group itself and cannot be removed')

        fh = self.proj_codes.pop(repeat_id, None)

        if fh is None:
            raise ValueError(
                f'Subset "{repeat_id}" not found - '
                f'Group contains {list(self.proj_codes.keys())}'
            )

        fh.remove_file()

    def summarise_data(self, repeat_id: str = 'main', func: Callable = print) -> Union[str,None]:
        """
        Summarise data stored across all projects, mostly
        concatenating results from the detail-cfg files from
        all projects. Printed with ``func``, or returned when ``func=None``.
        """

        cloud_formats: dict = {}
        source_formats: dict = {}
        file_types: dict = {}

        source_data: list = []
        cloud_data:  list = []
        file_count:  list = []

        chunks_per_file: list = []
        total_chunks: list = []

        proj_count = 0
        for proj_code in self.proj_codes[repeat_id]:
            op = self.get_project(proj_code)

            if not op.detail_cfg.file_exists():
                continue

            details = op.detail_cfg.get()
            if details == {} or 'skipped' in details:
                continue

            if details.get('source_data') is None:
                continue

            cloud_formats[op.cloud_format] = cloud_formats.get(op.cloud_format, 0) + 1

            if op.cfa_enabled:
                cloud_formats['CFA'] = 1

            source_formats[op.source_format] = source_formats.get(op.source_format, 0) + 1
            file_types[op.file_type] = file_types.get(op.file_type, 0) + 1

            source_data.append(deformat_float(details['source_data']))
            if details.get('cloud_data') is not None:
                cloud_data.append(deformat_float(details['cloud_data']))

            if details.get('num_files') is not None:
                file_count.append(int(details['num_files']))

            chunk_data = details.get('chunk_info') or {}
            if 'chunks_per_file' in chunk_data:
                chunks_per_file.append(float(chunk_data['chunks_per_file']))
            if 'total_chunks' in chunk_data:
                total_chunks.append(int(str(chunk_data['total_chunks']).split('.')[0]))
            proj_count += 1

        quiet = (self._verbose == 0)

        # Render Outputs
        ot = []

        ot.append(f'Summary Report: {self.groupID}')
        ot.append(f'Project Codes Assessed: {proj_count}')
        ot.append('')
        if len(file_count) > 0:
            if quiet:
                ot.append(f'Source Files: {sum(file_count)} [Avg. {mean(file_count):.2f} per project]')
            else:
                ot.append(f'Source Files: {sum(file_count)} [Avg. {mean(file_count)} per project]')
        else:
            ot.append('Source Files: Unknown')
        if len(source_data) > 0:
            if quiet:
                ot.append(
                    f'Source Data: {format_float(sum(source_data))} [Avg. {format_float(mean(source_data))} per project]')
            else:
                ot.append(
                    f'Source Data: {sum(source_data)} [Avg. {mean(source_data)} per project]')
        else:
            ot.append('Source Data: Unknown')
        if len(cloud_data) > 0:
            if quiet:
                ot.append(
                    f'Cloud Data: {format_float(sum(cloud_data))} [Avg. {format_float(mean(cloud_data))} per project]')
            else:
                ot.append(
                    f'Cloud Data: {sum(cloud_data)} [Avg. {mean(cloud_data)} per project]')
        else:
            ot.append('Cloud Data: Unknown')
        ot.append('')
        if len(cloud_formats) > 0:
            ot.append(f'Cloud Formats: {sorted(set(cloud_formats), key=str)}')
        if len(source_formats) > 0:
            ot.append(f'Source Formats: {sorted(set(source_formats), key=str)}')
        if len(file_types) > 0:
            ot.append(f'File Types: {sorted(set(file_types), key=str)}')
        ot.append('')
        if len(chunks_per_file) > 0:
            if quiet:
                ot.append(
                    f'Chunks per File: {sum(chunks_per_file):.2f} [Avg. {mean(chunks_per_file):.2f} per project]')
            else:
                ot.append(
                    f'Chunks per File: {sum(chunks_per_file)} [Avg. {mean(chunks_per_file)} per project]')
        if len(total_chunks) > 0:
            if quiet:
                ot.append(
                    f'Total Chunks: {sum(total_chunks):.2f} [Avg. {mean(total_chunks):.2f} per project]')
            else:
                ot.append(
                    f'Total Chunks: {sum(total_chunks)} [Avg. {mean(total_chunks)} per project]')

        if func is not None:
            func('\n'.join(ot))
        else:
            return '\n'.join(ot)

    def match_data_reports(
            self,
            sample_report
        ) -> dict:
        """
        ``{code: bool}``: whether each project's data report has the key
        structure of ``sample_report['data']`` (False when it has no data
        report; 1.5.1 raised AttributeError).
        """

        matches = {}
        def check_keys(test, control):
            if not isinstance(test, dict) or not isinstance(control, dict):
                return False
            matched = True
            for k, v in test.items():
                if k not in control:
                    return False
                if isinstance(v, dict):
                    matched = matched and check_keys(v, control[k])
            return matched

        for pc in self.proj_codes['main']:
            proj = self[pc]
            report = proj.get_report()['data']
            matches[pc] = report is not None and check_keys(report, sample_report.get('data') or {})

        return matches

    def get_codes_by_status(
            self,
            repeat_id: str = 'main',
            write: bool = False,
        ) -> dict:
            """
            Public Method for just getting the status dict
            for a group.
            """

            status_dict, _ = self._get_status_dict(repeat_id, write=write)
            return status_dict

    def summarise_aggregations(
            self,
            repeat_id: str = 'main',
            fn: Callable = print,
        ) -> None:

        if repeat_id not in self.proj_codes:
            raise ValueError(f'Unrecognised repeat ID: {repeat_id} for {self.groupID}')

        aggregations = {
            'Incomplete':[],
            'PADOCC':[],
            'VirtualiZarr':[],
            'Kerchunk':[]
        }

        codes = list(self.proj_codes[repeat_id])
        current = self._current_statuses(codes)
        for proj_code in codes:
            row = current.get(proj_code)
            if row is not None and (row['phase'] in ('validate', 'complete') or (row['phase'] == 'compute' and row['status'] == 'Success')):
                project = self[proj_code]
                if project.padocc_aggregation:
                    aggregations['PADOCC'].append(proj_code)
                elif project.virtualizarr:
                    aggregations['VirtualiZarr'].append(proj_code)
                else:
                    aggregations['Kerchunk'].append(proj_code)
            else:
                aggregations['Incomplete'].append(proj_code)

        fn(f'Aggregations for {self.groupID}')
        for k, v in aggregations.items():
            fn(f' > {k}: {len(v)}')

    def summarise_status(
            self,
            repeat_id: str = 'main',
            specific_phase: Union[str,None] = None,
            specific_error: Union[str,None] = None,
            long_display: Union[bool,None] = False,
            display_upto: int = 5,
            separate_errors: bool = False,
            halt: bool = False,
            write: bool = False,
            fn: Callable = print,
        ) -> None:
        """
        Gives a general overview of progress within the pipeline
        - How many datasets currently at each stage of the pipeline
        - Errors within each pipeline phase
        - Allows for examination of error logs
        - Allows saving codes matching an error type into a new repeat group
        """

        faultdict = self._get_fault_dict()

        status_dict, longest_err = self._get_status_dict(
            repeat_id,
            faultdict=faultdict,
            specific_phase=specific_phase,
            specific_error=specific_error,
            halt=halt,
            write=write,
        )

        num_codes  = len(self.proj_codes[repeat_id])

        ot = []
        ot.append('')
        ot.append(f'Group: {self.groupID}')
        ot.append(f'  Total Codes: {num_codes}')
        ot.append('')
        ot.append('Pipeline Current:')

        if longest_err > 30 and not long_display:
            longest_err = 30

        for phase, records in status_dict.items():

            if isinstance(records, dict):
                ot = ot + self._summarise_dict(phase, records, num_codes,
                                               status_len=longest_err, numbers=display_upto, separate_errors=separate_errors)
            else:
                ot.append('')

        ot.append('')
        ot.append('Pipeline Complete:')
        ot.append('')

        complete = len(status_dict.get('complete',[]))

        complete_percent = None
        if num_codes != 0:
            complete_percent = format_str(f'{complete*100/num_codes:.1f}',4)
        ot.append(f'   complete  : {format_str(complete,5)} [{complete_percent}%]')

        for option, records in faultdict['faultlist'].items():
            ot = ot + self._summarise_dict(option, {option: records}, max(num_codes, 1),
                                           status_len=longest_err, numbers=0, separate_errors=separate_errors)

        ot.append('')
        fn('\n'.join(ot))

    def _get_fault_dict(self) -> dict:
        """
        Assemble the fault list into a dictionary
        with all reasons (codes on the fault list are left out of the status).
        """
        extras   = {'faultlist': {}, 'ignore': {}}
        for row in self.faultlist:
            if not row or not row[0]:
                continue
            code = row[0]
            reason = ','.join(row[1:]) if len(row) > 1 else 'Unknown'
            extras['faultlist'].setdefault(reason, []).append(0)
            extras['ignore'][code] = True
        return extras

    def _current_statuses(self, codes: list) -> dict:
        """``{code: {'phase', 'status', 'time', 'jobid'}}`` from the engine's index."""
        from padocc import _native
        if not codes:
            return {}
        return _native.current_statuses(self.workdir, self.groupID, list(codes))

    def _get_status_dict(
            self,
            repeat_id,
            faultdict: dict = None,
            specific_phase: Union[str,None] = None,
            specific_error: Union[str,None] = None,
            halt: bool = False,
            write: bool = False,
        ) -> tuple:

        """
        Assemble the status dict, can be used for stopping and
        directly assessing specific errors if needed.
        """

        faultdict = faultdict or {}

        if 'ignore' not in faultdict:
            faultdict['ignore'] = {}

        try:
            proj_codes = list(self.proj_codes[repeat_id])
        except KeyError:
            raise ValueError(f'Repeat ID {repeat_id} not known to group {self.groupID} - no status possible')

        if write:
            self.logger.info(
                'Write permission granted:'
                ' - Will seek status of unknown project codes'
                ' - Will update status with "JobCancelled" for >24hr pending jobs'
            )

        status_dict = {'init':{},'scan': {}, 'compute': {}, 'validate': {},'complete':[]}

        current = self._current_statuses([p for p in proj_codes if p not in faultdict['ignore']])

        longest_err = 0
        for idx, p in enumerate(proj_codes):
            if p in faultdict['ignore']:
                continue

            row = current.get(p)
            if row is None:
                continue

            try:
                longest_err = self._assess_status_of_project(
                    p, idx, row,
                    status_dict,
                    write=write,
                    specific_phase=specific_phase,
                    specific_error=specific_error,
                    halt=halt,
                    longest_err=longest_err
                )
            except Exception as err:
                self.logger.error(f'Project {p}: {err}')
        return status_dict, longest_err

    def _assess_status_of_project(
            self,
            proj_code: str,
            pid: int,
            row: dict,
            status_dict: dict,
            write: bool = False,
            specific_phase: Union[str,None] = None,
            specific_error: Union[str,None] = None,
            halt: bool = False,
            longest_err: int = 0,
            ) -> int:
        """
        Assess the status of a single project
        """
        phase  = row['phase']
        status = row['status']
        time   = row.get('time', '')

        if len(status) > longest_err:
            longest_err = len(status)

        if status == 'Pending' and write:
            try:
                timediff = (datetime.now() - datetime.strptime(time, '%H:%M %d/%m/%y')).total_seconds()
            except ValueError:
                timediff = 0
            if timediff > 86400: # 1 Day - fixed for now
                status = 'JobCancelled'
                self.get_project(proj_code).update_status(phase, 'JobCancelled')

        if specific_phase or specific_error:
            match_phase = (specific_phase == phase)
            match_error = (specific_error == status)

            if bool(specific_phase) != (match_phase) or bool(specific_error) != (match_error):
                total_match = False
            else:
                total_match = match_phase or match_error

            if total_match and halt:
                self.get_project(proj_code).show_log_contents(specific_phase or phase, halt=halt)

        if phase == 'complete':
            status_dict.setdefault('complete', []).append(pid)
        else:
            status_dict.setdefault(phase, {}).setdefault(status, []).append(pid)

        return longest_err

    def _summarise_dict(
            self,
            phase: str,
            records: dict,
            num_codes: int,
            status_len: int = 5,
            numbers: int = 0,
            separate_errors: bool = False,
        ) -> list:
        """
        Summarise information for a dictionary structure
        that contains a set of errors for a phase within the pipeline
        """
        ot = []

        pcount = len(list(records.keys()))
        num_types = sum([len(records[pop]) for pop in records.keys()])
        if pcount > 0:

            ot.append('')
            fmentry     = format_str(phase,10, concat=False)
            fmnum_types = format_str(num_types,5, concat=False)
            fmcalc      = format_str(f'{num_types*100/max(num_codes, 1):.1f}',4, concat=False)

            ot.append(f'   {fmentry}: {fmnum_types} [{fmcalc}%] (Variety: {int(pcount)})')

            # Break records into groups if in validate
            if phase != 'validate' or not separate_errors:
                record_groups = {'All':records}
            else:
                record_groups  = {'Success':{},'Error':{}}
                success, error = 0, 0
                for r, v in records.items():
                    if 'Warn' in r or 'Success' in r:
                        record_groups['Success'][r] = v
                        success += len(v)
                    else:
                        record_groups['Error'][r] = v
                        error += len(v)

                total = max(success + error, 1)
                percentages = {
                    'Success': f'{success*100/total:.1f}',
                    'Error': f'{error*100/total:.1f}'
                }

            for g, r in record_groups.items():

                if g != 'All':
                    ot.append('')
                    ot.append(f'  > {g} ({percentages[g]} %)')
                # Convert from key : len to key : [list]
                errkeys = reversed(sorted(r, key=lambda x:len(r[x])))
                for err in errkeys:
                    num_errs = len(r[err])
                    if num_errs < numbers:
                        ot.append(f'    - {format_str(err, status_len+1, concat=True)}: {num_errs} (IDs = {",".join([str(i) for i in list(r[err])])})')
                    else:
                        ot.append(f'    - {format_str(err, status_len+1, concat=True)}: {num_errs}')
        return ot
