"""padocc.core.utils: constants, the bypass switch and small helpers.

Same names and values as padocc 1.5.1. Differences (spec §8): no heavy imports
(padocc 1.5.1 imported xarray, fsspec, numpy and pyfive here), ``is_netcdf4``
reads the file signature instead of opening every file with pyfive (and prints
nothing), ``get_attribute`` lets ``-w`` win over ``$WORKDIR`` instead of
crashing, and files are written atomically (``write_text_atomic``).
"""

from __future__ import annotations

__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

import copy
import glob
import json
import math
import os
from datetime import datetime
from typing import Any, Callable, Union

from .errors import MissingVariableError

times = {
    'scan'    :'15:00',
    'compute' :'60:00',
    'validate':'15:00',
    'complete':'10:00'
}

phases = [
    'init',
    'scan',
    'compute',
    'validate',
    'complete'
]

# Which files acceptable to pull from Moles Tags file.
source_opts = [
    'nc',
    'tif'
]

# Which operations are parallelisable.
parallel_modes = [
    'scan',
    'compute',
    'validate',
    'complete'
]

BASE_CFG = {
    'proj_code':None,
    'pattern':None,
    'updates':None,
    'removals':None,
    'version_no':'1.0',
    'data_properties':{
        'aggregated_dims':'Unknown',
        'pure_dims': 'Unknown',
        'coord_dims': 'Unknown',
        'virtual_dims': 'Unknown',
        'aggregated_vars': 'Unknown',
        'scalar_vars':'Unknown',
        'identical_vars':'Unknown'
    },
    'override':{
        'cloud_type':'kerchunk',
        'file_type':'json' # Default values
    },
    'last_run': (None, None),
    'remote': False,
    'disable_CFA':False,
    'keep_vars':'all'
}

DETAIL_CFG = {
    'source_data': None,
    'cloud_data': None,
    'scanned_with': None,
    'num_files': None,
    'timings': {},
    'chunk_info':{},
    'kwargs': {},
    'virtual_concat':False
}

file_configs = {
    'base_cfg':BASE_CFG,
    'detail_cfg':DETAIL_CFG
}

FILE_DEFAULT = {
    'kerchunk':'json',
    'zarr':None,
}

# Cloud formats padocc knows (``cloud_format`` falls back to 'kerchunk' for
# anything else, e.g. padocc-rs's ``scanned_with: "padocc-rs 0.x"``).
CLOUD_FORMATS = ['kerchunk', 'zarr', 'CFA', 'icechunk']

invalid = list('(){}[]<>:;')

_HDF5_SIGNATURE = b'\x89HDF\r\n\x1a\n'


def _is_hdf5(path: str) -> bool:
    """HDF5 superblock signature at 0, 512, 1024, 2048... (as HDF5 looks)."""
    try:
        with open(path, 'rb') as f:
            offset = 0
            size = os.fstat(f.fileno()).st_size
            while offset + 8 <= size:
                f.seek(offset)
                if f.read(8) == _HDF5_SIGNATURE:
                    return True
                offset = 512 if offset == 0 else offset * 2
    except OSError:
        return False
    return False


def is_netcdf4(files: list) -> bool:
    """
    True when every file is HDF5-based (NetCDF4), False otherwise.

    padocc 1.5.1 opened each file with pyfive and printed it; this reads the
    HDF5 signature only.
    """
    return all(_is_hdf5(f) for f in files)


def group_exists(group, workdir):
    return os.path.isdir(f'{workdir}/groups/{group}')


def valid_project_code(proj_code: str) -> bool:
    """
    Validate project code for type checks etc.

    """
    # Validate project code
    if not isinstance(proj_code,str):
        raise ValueError(
            f'Project code must be of type "str", not {type(proj_code)}')
    if proj_code.isnumeric():
        raise ValueError(
            'Project code must not be solely numeric'
        )
    if any(letter in proj_code for letter in invalid):
        raise ValueError(
            f'Project code must not contain any of {invalid}'
        )
    # padocc-rs: the code becomes a directory name.
    if proj_code in ('', '.', '..') or '/' in proj_code or any(c.isspace() for c in proj_code):
        raise ValueError(
            f'Project code "{proj_code}" cannot be a directory name (no "/", spaces, "." or "..")'
        )
    return True


def list_groups(workdir: str, func: Callable = print):
    """
    List groups in the existing working directory
    """

    if not os.path.isdir(workdir):
        func('[ERROR] Workdir does not exist')
        return False

    if workdir.endswith('/'):
        workdir = workdir[:-1]
    topdir = workdir.split('/')[-1]

    func(f'Groups in {topdir}')

    fileset = sorted(glob.glob(f'{workdir}/groups/*/proj_codes/main.txt'))
    for f in fileset:
        groupID = f.split('/')[-3]

        with open(f) as g:
            length = len([line for line in g.readlines() if line.strip()])

        msg = f' > {groupID}: {length} '
        if length == 0:
            msg += '(empty)'
        func(msg)


def timestamp():
    return datetime.strftime(datetime.now(),'%d/%m/%y %H:%M:%S')


def make_tuple(item: Any) -> tuple:
    """
    Make any object into a tuple.

    :param item: (Any) Insert item into a tuple if not already one.
    """
    if not isinstance(item, tuple):
        return (item,)
    else:
        return item


def deformat_float(item: str) -> float:
    """
    Parse a formatted byte value (``"15.49 KB"``) back to a float (1000-based).

    :param item:    (str) Byte value to format into a float.
    """
    if item is None:
        return None

    units = ['','K','M','G','T','P','E','Y']
    value, suffix = item.split(' ')

    suffix = suffix.replace('B','')

    ord = 1000**(units.index(suffix))
    return float(value)*ord


def format_float(value: float) -> str:
    """
    Format byte-value with proper units.

    :param value:   (float) Number of bytes (avg), format to a string
        representation.
    """

    if value is not None:
        unit_index = 0
        units = ['','K','M','G','T','P']
        while value > 1000:
            value = value / 1000
            unit_index += 1
        return f'{value:.2f} {units[unit_index]}B'
    else:
        return None


def get_attribute(env: str, args, value: str) -> str:
    """
    Take a value from the parsed arguments, else from the environment.

    padocc 1.5.1 crashed when both were set; here the argument wins.

    :param env:     (str) Name of environment variable.

    :param args:    (obj) Set of command line arguments supplied by argparse.

    :param value:   (str) Name of argparse parameter to check.

    :returns: Value of either environment variable or argparse value.
    """
    given = getattr(args, value, None)
    if given is not None:
        return given
    if not os.getenv(env):
        raise MissingVariableError(vtype=env)
    return os.getenv(env)


def format_str(
        string: Any,
        length: int,
        concat: bool = False,
        shorten: bool = False
    ) -> str:
    """
    Simple function to format a string to a correct length.

    :param string:  (str) Message to format into a string of exact length.

    :param length:  (int) Accepted length of string.

    :param concat:  (bool) If True, will add elipses for overrunning strings.

    :param shorten: (bool) If True will allow shorter messages, otherwise will
        fill with whitespace.
    """
    string = str(string)

    if len(string) < length and shorten:
        return string

    string = str(string)
    if len(string) >= length and concat:
        string = string[:length-3] + '...'
    else:
        while len(string) < length:
            string += ' '

    return string[:length]


def print_fmt_str(
        string: str,
        help_length: int = 40,
        concat: bool = True,
        shorten: bool = False
        ):
    """
    Replacement for callable function in ``help`` methods.

    This print-replacement adds whitespace between functions
    and their help descriptions.

    :param string:  (str) Message to format into a string of exact length.

    :param help_length: (int) Accepted length of string.

    :param concat:  (bool) If True, will add elipses for overrunning strings.

    :param shorten: (bool) If True will allow shorter messages, otherwise will
        fill with whitespace.
    """

    if '-' not in string:
        print(string)
        return

    # padocc 1.5.1 split on every '-' (a ValueError for texts containing one).
    string, message = string.split('-', 1)

    print(format_str(string, help_length, concat, shorten), end='-')
    print(message)


def format_tuple(tup: tuple[list[int]]) -> str:
    """
    Transform tuple to string representation

    :param tup: (tuple) Tuple object to be rendered to string.
    """

    try:
        return f'({",".join([str(t[0]) for t in tup])})'
    except IndexError:
        return str(tup)


def mem_to_val(value: str) -> float:
    """
    Convert a value in Bytes to an integer number of bytes.

    :param value:   (str) Convert number of bytes (XB) to float.
    """

    suffixes = {
        'KB': 1000,
        'MB': 1000000,
        'GB': 1000000000,
        'TB': 1000000000000,
        'PB': 1000000000000000}
    suff = suffixes[value.split(' ')[1]]
    return float(value.split(' ')[0]) * suff


def parse_bytes(value: Union[str, int, float, None]) -> Union[int, None]:
    """
    ``'100MB'``, ``'2GB'``, ``'512MiB'``, ``'1.5 GB'`` or a number -> bytes
    (padocc-rs addition; padocc's ``mem_allowed`` strings are 1000-based).
    """
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    text = value.strip().replace(' ', '')
    units = {'': 1, 'B': 1, 'K': 1000, 'KB': 1000, 'M': 1000**2, 'MB': 1000**2,
             'G': 1000**3, 'GB': 1000**3, 'T': 1000**4, 'TB': 1000**4,
             'KIB': 1024, 'MIB': 1024**2, 'GIB': 1024**3, 'TIB': 1024**4}
    num = text.rstrip('BbKkMmGgTtIi')
    suffix = text[len(num):].upper()
    if suffix not in units:
        raise ValueError(f'"{value}" is not a memory size (e.g. 100MB, 2GB)')
    return int(float(num) * units[suffix])


def extract_file(input_file: str) -> list:
    """
    Extract content from a padocc-external file.

    Use filehandlers for files within the pipeline.

    :param input_file: (str) Pipeline-external file.
    """
    with open(input_file) as f:
        content = [r.strip() for r in f.readlines()]
    return content


def extract_json(input_file: str) -> dict:
    """
    Extract content from a padocc-external file.

    Use filehandlers for files within the pipeline.

    :param input_file: (str) Pipeline-external file.
    """
    with open(input_file) as f:
        content = json.load(f)
    return content


def find_closest(num: int, closest: float) -> int:
    """
    Find divisions for a dimension for rechunking purposes.

    Used in Zarr rechunking and conversion.

    :param num:     (int) Typically the size of the dimension

    :param closest: (float) Find a divisor closest to this value.
    """

    divs = [x for x in range(1, int(math.sqrt(num))+1) if num % x == 0]
    opps = [int(num/x) for x in divs] # get divisors > sqrt(n) by division instead
    divisors = sorted(set(divs + opps))

    min_diff = 99999999999
    closest_div = None
    for d in divisors:
        if abs(d-closest) < min_diff:
            min_diff = abs(d-closest)
            closest_div = d
    return closest_div


def apply_substitutions(
        subkey: str,
        subs: Union[dict,None] = None,
        content: Union[list,None] = None):
    """
    Apply substitutions to all elements in the provided content list.

    :param subkey:  (str) The key to extract from the provided set of substitutions.
        This is in the case were substitutions are specified for different levels
        of input files.

    :param subs:    (dict) The substitutions applied to the content.

    :param content: (list) The set of filepaths to apply substitutions.
    """
    if not subs:
        return content, ""

    if subkey not in subs:
        return content, f"Subkey {subkey} is not valid for substitutions"

    content = '\n'.join(content)
    for f, r in subs[subkey].items():
        content = content.replace(f,r)

    return content.split('\n') , ""


def write_text_atomic(path: str, text: str) -> None:
    """
    Write ``text`` to ``path`` under a temporary name in the same directory,
    fsync, then rename into place (padocc-rs's temporary name
    ``.<name>.tmp.<pid>``, which ``padocc doctor`` recognises). A reader sees
    the old file or the new one, never a truncated one.
    """
    directory = os.path.dirname(path) or '.'
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f'.{os.path.basename(path)}.tmp.{os.getpid()}')
    try:
        with open(tmp, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def deep_copy(value: Any) -> Any:
    """Deep copy of a JSON-like value (used for defaults and snapshots)."""
    return copy.deepcopy(value)


class BypassSwitch:
    """
    Switch container class for multiple error switches.

    Class to represent all bypass switches throughout the pipeline.
    Requires a switch string which is used to enable/disable specific pipeline
    switches stored in this class.
    """

    def __init__(self, switch: str = 'D'):
        """
        Initialisation of switch

        :param switch:  (str) Raw input from CLI or otherwise, referring to specific
            switch parameters
        """

        if switch.startswith('+'):
            switch = 'D' + switch[1:]
        self.switch = switch
        if isinstance(switch, str):
            switch = list(switch)

        self.skip_driver   = ('D' in switch) # Keep
        self.skip_scan     = ('F' in switch) # Fasttrack
        self.skip_links    = ('L' in switch)
        self.skip_subsets  = ('S' in switch)
        self.skip_filechecks = ('f' in switch)

    def __str__(self):
        """Return the switch string (letters representing switches)"""
        return self.switch

    def __repr__(self):
        return f"BypassSwitch('{self.switch}')"

    def help(self):
        return str("""
Bypass switch options: \n
  "D" - * Skip driver failures - Pipeline tries different options for NetCDF (default).
      -   Only need to turn this skip off if all drivers fail (KerchunkDriverFatalError).
  "F" -   Skip scanning (fasttrack) and go straight to compute. Required if running compute before scan
          is attempted.
  "L" -   Skip adding links in compute (download links) - this will be required on ingest.
  "S" -   Skip errors when running a subset within a group. Record the error then move onto the next dataset.
""")
