"""padocc.core.filehandlers: padocc 1.5.1's filehandlers, in pure Python.

Same classes, constructors and Python protocol as 1.5.1 (``set/get``,
``len``, iteration, ``[i]``, ``in``, ``str`` = YAML for JSON and lines for
lists, ``create_file`` does nothing in dry-run, empty values are never
written). What changed, and why (spec §3.2, §8):

* **Read-through, no clobbering.** A handler remembers the value it last read
  or wrote (its snapshot) and the file's identity (inode, size, mtime). When
  the file changed on disk and the handler holds no unsaved edit, the next
  access reads the new contents. ``save()`` writes only a value that differs
  from the snapshot. A project object kept across a phase run therefore sees
  what the engine wrote, and saving it does not write stale values back
  (1.5.1's cached ``g[code]`` truncated ``status_log.csv`` this way).
* **Atomic writes** (temporary file, fsync, rename), like the engine; no
  ``os.system('touch/rm/mv/cp')`` with unquoted paths.
* **Lazy heavy imports.** ``xarray`` (and kerchunk, zarr, cfapyx, fsspec,
  pandas) are imported by the ``open_dataset`` methods only, so
  ``import padocc`` stays light.
* Defaults are deep-copied into a JSON value (1.5.1 shared the nested
  ``BASE_CFG`` dicts, so editing one project's ``override`` edited the module
  default).
* Product metadata: ``KerchunkStore`` reads ``.zmetadata`` (1.5.1 looked for
  ``.zmetadata.json``); ``ZarrStore`` reads and writes root attributes of v3
  (``zarr.json``) and v2 (``.zattrs`` + consolidated ``.zmetadata``) stores;
  ``CFADataset`` reads and rewrites the ``.nca`` global attributes through the
  engine, in place (1.5.1 truncated the file). Its constructor no longer
  requires cfapyx; ``open_dataset`` does.
"""

from __future__ import annotations

__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

import glob
import json
import logging
import os
import shutil
from datetime import datetime
from typing import Any, Iterator, Optional, Union

from .logs import FalseLogger, LoggedOperation
from .utils import deep_copy, extract_json, format_str, write_text_atomic

_NEVER = object()  # signature of a handler that has never looked at its file


def _signature(path: str):
    """Identity of a file's current contents, or None when it is absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _yaml_dump(value: Any, **kwargs) -> str:
    try:
        import yaml
    except ImportError:  # PyYAML is small but optional
        return json.dumps(value, indent=2, default=str) + '\n'
    return yaml.safe_dump(value, **kwargs)


def _xarray():
    try:
        import xarray as xr
    except ImportError as err:
        raise ImportError(
            'Opening a product as a dataset needs xarray: pip install "padocc[xarray]" '
            '(xarray, zarr, kerchunk, cfapyx)'
        ) from err
    return xr


class FileIOMixin(LoggedOperation):
    """
    Class for containing Filehandler behaviour which is exactly identical
    for all Filehandler subclasses.

    Identical behaviour
    -------------------

    1. Contains:
        'item' in fh

    2. Create/save file:

    Filehandlers intrinsically know the file they are attached to so there are
    no attributes passed to either of these.

        fh.create_file()
        fh.save()

    3. Get/set:

        contents = fh.get()
        fh.set(contents)

    """

    def __init__(
            self,
            dir : str,
            filename : str,
            logger   : Optional[Union[logging.Logger,FalseLogger]] = None,
            label    : Union[str,None] = None,
            fh       : Optional[str] = None,
            logid    : Optional[str] = None,
            dryrun   : bool = False,
            forceful : bool = False,
            thorough : bool = False,
            verbose  : int = 0
        ) -> None:
        """
        Generic filehandler for PADOCC operations involving file I/O operations.

        :param dir:     (str) The path to the directory in which this file can be found.

        :param filename: (str) The name of the file on the filesystem.

        :param logger:      (logging.Logger | FalseLogger) An existing logger object.

        :param label:       (str) The label to apply to the logger object.

        :param fh:          (str) Path to logfile for logger object generated in this specific process.

        :param logid:       (str) ID of the process within a subset, which is then added to the name
            of the logger - prevents multiple processes with different logfiles getting loggers confused.

        :param forceful:        (bool) Continue with processing even if final output file
            already exists.

        :param dryrun:          (bool) If True will prevent output files being generated
            or updated and instead will demonstrate commands that would otherwise happen.

        :param verbose:     (int) Level of verbosity for log messages (see core.init_logger).

        :returns: None
        """

        self._dir: str   = dir
        self._file: str = filename

        self._dryrun: bool   = bool(dryrun)
        self._forceful: bool = bool(forceful)
        self._extension: str = ''

        # Read-through state: what the file held when last read or written.
        self._sig = _NEVER
        self._snapshot = None

        # All filehandlers are logged operations
        super().__init__(
            logger,
            label=label,
            fh=fh,
            logid=logid,
            verbose=verbose,
            dryrun=dryrun,
            forceful=forceful,
            thorough=thorough)

    @property
    def filepath(self) -> str:
        """
        Returns the full filepath attribute.
        """
        return f'{self._dir}/{self.file}'

    @property
    def file(self) -> str:
        """
        Returns the full filename attribute."""
        return f'{self._file}.{self._extension}'

    def file_exists(self) -> bool:
        """
        Return true if the file is found.
        """
        return os.path.isfile(self.filepath)

    def create_file(self) -> None:
        """
        Create the file if not on dryrun.
        """
        if not self._dryrun:
            self.logger.debug(f'Creating file "{self.file}"')
            os.makedirs(os.path.dirname(self.filepath) or '.', exist_ok=True)
            with open(self.filepath, 'a'):
                pass
        else:
            self.logger.info(f'DRYRUN: Skipped creating "{self.file}"')

    def remove_file(self) -> None:
        """
        Remove the file on the filesystem
        if not on dryrun
        """
        if not self._dryrun:
            self.logger.debug(f'Deleting file "{self.file}"')
            try:
                os.remove(self.filepath)
            except FileNotFoundError:
                pass
            self._sig = _NEVER
        else:
            self.logger.info(f'DRYRUN: Skipped deleting "{self.file}"')

    def move_file(
            self,
            new_dir: str,
            new_name: Union[str,None] = None,
            new_extension: Union[str, None] = None
        ) -> None:
        """
        Migrate the file to a new location.

        :param new_dir:     (str) New directory for filehandler being moved.

        :param new_name:    (str) New name for filehandler if required.

        :param new_extension:   (str) New extension if required (e.g. changing
            log-type).
        """

        if not os.access(new_dir, os.W_OK):
            raise OSError(
                f'Specified directory "{new_dir}" is not writable'
            )

        old = (self._dir, self._file, self._extension)
        old_path = str(self.filepath)
        self._dir = new_dir

        if new_name is not None:
            self._file = new_name

        if new_extension is not None:
            self._extension = new_extension
        try:
            if os.path.exists(old_path):
                shutil.move(old_path, self.filepath)
            self._sig = _signature(self.filepath) if self._sig is not _NEVER else _NEVER
            self.logger.debug(
                f'Moved file successfully from {old_path} to {self.filepath}'
            )
        except OSError as err:
            self._dir, self._file, self._extension = old
            raise err

    # -- read-through machinery (padocc-rs) ---------------------------------

    def _empty(self):
        raise NotImplementedError

    def _dirty(self) -> bool:
        """True when the value holds edits not yet written."""
        snapshot = self._empty() if self._snapshot is None else self._snapshot
        return self._value != snapshot

    def _needs_read(self) -> bool:
        if self._dirty():
            return False
        if self._sig is _NEVER:
            return True
        return _signature(self.filepath) != self._sig

    def _mark_synced(self) -> None:
        self._snapshot = deep_copy(self._value)
        self._sig = _signature(self.filepath)

    def _write_text(self, text: str) -> None:
        if self._sig is not _NEVER and self._snapshot is not None:
            current = _signature(self.filepath)
            if current is not None and current != self._sig:
                self.logger.warning(
                    f'{self.filepath} changed on disk since it was read - '
                    'overwriting it with the edited values'
                )
        write_text_atomic(self.filepath, text)
        self._mark_synced()


class ListFileHandler(FileIOMixin):
    """
    Filehandler for string-based Lists in Padocc.

    List Behaviour
    --------------

    1. Append - works the same as with normal lists.
    2. Pop - remove a specific value (works as normal).
    3. Contains - (x in y) works as normal.
    4. Length - (len(x)) works as normal.
    5. Iterable - (for x in y) works as normal.
    6. Indexable - (x[0]) works as normal

    Added behaviour
    ---------------

    1. Close - close and save the file.
    2. Get/Set - Get or set the whole value.
    """

    def __init__(
            self,
            dir: str,
            filename: str,
            extension: Union[str,None] = None,
            init_value: Union[list, None] = None,
            **kwargs) -> None:

        """
        Initialisation for list filehandlers.

        :param dir:     (str) The path to the directory in which this file can be found.

        :param filename: (str) The name of the file on the filesystem.

        :param extension: (str) Extension to apply to this handler, if not default txt.

        :param init_value:  (list) Initial value to apply to this filehandler.
        """

        super().__init__(dir, filename, **kwargs)

        self._value: list    = list(init_value) if init_value else []
        self._extension: str = extension or 'txt'

    def _empty(self):
        return []

    def append(self, newvalue: Union[str,list]) -> None:
        """
        Add a new value to the internal list.

        :param newvalue:    (str|list) New value to append to current list.
        """
        self._obtain_value()

        if isinstance(newvalue, list):
            newvalue = ','.join(newvalue)

        self._value.append(newvalue)

    def remove(self, oldvalue: str) -> None:
        """
        Remove a value from the internal list

        :param oldvalue:    (str) Remove past value from list."""
        self._obtain_value()

        self._value.remove(oldvalue)

    def pop(self, index: Union[int, str] = -1) -> str:
        """
        Remove an item by position, or the first line starting with
        ``<code>,`` when given a string (``datasets.pop(code)``, which
        padocc 1.5.1's ``remove_project`` called and which did not exist).
        """
        self._obtain_value()
        if isinstance(index, str):
            for i, line in enumerate(self._value):
                if line == index or line.replace(' ', '').split(',')[0] == index:
                    return self._value.pop(i)
            raise ValueError(f'{index} not in {self.file}')
        return self._value.pop(index)

    def set(self, value: list[str,list]) -> None:
        """
        Reset the value as a whole for this
        filehandler.

        :param value:   (list) Reset the ``_value`` property for this filehandler
            to the new value.
        """
        if len(value) == 0:
            return

        value = list(value)
        if isinstance(value[0],list):
            value = [','.join(v) for v in value]

        self._value = list(value)

    def __contains__(self, item: str) -> bool:
        """
        Check if the item value is contained in this list.

        :param item:    (str) Index item from list filehandler.
        """
        self._obtain_value()

        return item in self._value

    def __str__(self) -> str:
        """String representation"""
        self._obtain_value()

        return '\n'.join(self._value)

    def __repr__(self) -> str:
        """Programmatic representation"""
        return f"<PADOCC List Filehandler: {format_str(self.file,10, concat=True)}>"

    def __len__(self) -> int:
        """Length of value"""
        self._obtain_value()

        self.logger.debug(f'content length: {len(self._value)}')
        return len(self._value)

    def __bool__(self) -> bool:
        # An empty list handler is still a handler (``if fh:`` in 1.5.1 read
        # the file through __len__).
        return True

    def __iter__(self) -> Iterator[str]:
        """Iterator for the set of values"""
        self._obtain_value()

        for i in list(self._value):
            if i is not None:
                yield i

    def __getitem__(self, index: int) -> str:
        """
        Override FileIOMixin class for getting index

        :param index:   (int) Index item by position.
        """
        self._obtain_value()

        return self._value[index]

    def get(self) -> list:
        """
        Get the current value
        """
        self._obtain_value()

        return self._value

    def __setitem__(self, index: int, value: str) -> None:
        """
        Enables setting items in filehandlers 'fh[0] = 1'.

        :param index:   (int) Set item by position in list.

        :param value:   (str) New value to set for item at position.
        """
        self._obtain_value()

        self._value[index] = value

    def _obtain_value(self) -> None:
        """
        Obtain the value for this filehandler: read the file when this
        handler has never read it or it changed since, unless the value holds
        unsaved edits.
        """
        if self._needs_read():
            self._obtain_value_from_file()

    def _obtain_value_from_file(self) -> None:
        """
        Obtain the value specifically from
        the represented file (a missing file reads as empty; padocc 1.5.1
        created it).
        """
        if not self.file_exists():
            self._value = []
            self._snapshot = []
            self._sig = None
            return

        with open(self.filepath) as f:
            lines = [r.strip() for r in f.readlines()]
        # A trailing empty line (the engine ends files with a newline) is not a value.
        while lines and lines[-1] == '':
            lines.pop()
        self._value = lines
        self._mark_synced()

    def _set_value_in_file(self) -> None:
        """
        On initialisation or close, set the value
        in the file.
        """
        if self._dryrun or not self._dirty():
            # Nothing edited, nothing written: a handler holding what it read
            # cannot write stale values back.
            return
        if self._value == [] and not self.file_exists():
            return

        # An emptied list is written (1.5.1 never wrote an empty list, so
        # removing a group's last project left it in main.txt).
        self._write_text('\n'.join(self._value))

    def save(self) -> None:
        """
        Save the content of the filehandler
        """
        self._set_value_in_file()

    def close(self) -> None:
        """Save and keep the handler usable (1.5.1 documented ``close``)."""
        self.save()


class JSONFileHandler(FileIOMixin):
    """
    JSON File handler for padocc config files.

    Dictionary Behaviour
    --------------------

    1. Indexable - index by key (as normal)
    2. Contains - key in dict (as normal)
    3. Length - length of the key set (as normal)

    Added Behaviour
    ---------------

    1. Iterable - iterate over the keys.
    2. Get/set - get/set the whole value.
    3. Create_file - Specific for JSON files.

    """

    def __init__(
            self,
            dir: str,
            filename: str,
            conf: Union[dict,None] = None,
            init_value: Union[dict,None] = None,
            **kwargs
        ) -> None:
        """
        :param dir:     (str) The path to the directory in which this file can be found.

        :param filename: (str) The name of the file on the filesystem.

        :param conf:    (dict) Dictionary to apply as default values for this filehandler.

        :param init_value:  (list) Initial value to apply to this filehandler.
        """

        super().__init__(dir, filename, **kwargs)

        self._conf: dict  = conf or {}
        self._value: dict = dict(init_value) if init_value else {}
        self._extension: str = 'json'

    def _empty(self):
        return {}

    def set(self, value: dict) -> None:
        """
        Set the value of the whole dictionary.

        :param value:   (dict) New value to set for this filehandler.
        """
        self._value = dict(value)

    def __contains__(self, key: str):
        """
        Check if the dict for this filehandler contains this key.

        :param key:     (str) Key to check in this filehandlers dictionary value.
        """
        self._obtain_value()

        return key in self._value.keys()

    def __str__(self) -> str:
        """String representation"""
        self._obtain_value()

        return _yaml_dump(self._value, indent=2)

    def __repr__(self) -> str:
        """Programmatic representation"""
        return f"<PADOCC JSON Filehandler: {format_str(self.file,10, concat=True)}>"

    def __len__(self) -> int:
        """Returns number of keys in this dict-like object."""
        self._obtain_value()

        return len(self._value.keys())

    def __bool__(self) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        """Iterate over set of keys."""
        self._obtain_value()

        for i in list(self._value.keys()):
            yield i

    def __getitem__(self, index: str) -> Union[str,dict,None]:
        """
        Enables indexing for filehandlers.
        Dict-based filehandlers accept string keys only.

        :param index:   (str) Key to use for getting a value from the dictionary.
        """
        self._obtain_value()

        if index in self._value:
            return self._value[index]

        return None

    def pop(self, index: str, default: Any = None) -> Any:
        """
        Wrapper for ``pop`` function of a dict.
        """
        self._obtain_value()

        return self._value.pop(index, default)

    def create_file(self) -> None:
        """JSON files require entry of a single dict on creation (an existing
        file with contents is left as it is)."""
        if self._dryrun:
            self.logger.info(f'DRYRUN: Skipped creating "{self.file}"')
            return
        if self.file_exists() and os.path.getsize(self.filepath) > 0:
            return
        self.logger.debug(f'Creating file "{self.file}"')
        write_text_atomic(self.filepath, json.dumps({}))

    def get(
            self,
            index: Union[str,None] = None,
            default: Union[str,None] = None
        ) -> Union[str,dict,None]:
        """
        Safe method to get a value from this filehandler.

        :param index:   (str) Key in dictionary.

        :param default: (str) Default value for this item in the dictionary.
        """
        self._obtain_value()

        if index is None:
            return self._value

        return self._value.get(index, default)

    def __setitem__(self, index: str, value: str) -> None:
        """
        Enables setting items in filehandlers.
        Dict-based filehandlers accept string keys only.

        :param index:   (str) Key in dictionary.

        :param value:   (str) value to set for this key.
        """
        self._obtain_value()
        self._value[index] = value

    def _obtain_value(self, index: Union[str,None] = None) -> None:
        """
        Obtain the value for this filehandler.

        :param index:   (str) Key in dictionary.
        """
        if self._needs_read():
            self._obtain_value_from_file()
        else:
            self._apply_conf()

    def _obtain_value_from_file(self) -> None:
        """
        Obtain the value specifically from the represented file (a missing
        file reads as ``{}`` plus defaults and is not created).
        """
        if not self.file_exists():
            self._value = {}
            self._apply_conf()
            self._snapshot = deep_copy(self._value)
            self._sig = None
            return

        with open(self.filepath) as f:
            text = f.read()
        if text.strip() == '':
            value = {}
        else:
            try:
                value = json.loads(text)
            except ValueError as err:
                # padocc 1.5.1 warned, used {} and later wrote the defaults over
                # the file: configuration lost silently.
                raise ValueError(
                    f'{self.filepath} is not valid JSON ({err}); padocc will not reset it - '
                    'restore it from a copy, or delete it and rerun the phase that writes it'
                ) from err
            if not isinstance(value, dict):
                raise ValueError(f'{self.filepath}: expected a JSON object')
        self._value = value
        self._apply_conf()
        self._mark_synced()

    def _set_value_in_file(self) -> None:
        """
        On initialisation or close, set the value
        in the file.
        """
        if self._dryrun or self._value == {}:
            self.logger.debug(f"Skipped setting value in {self.file}")
            return

        self._apply_conf()
        if not self._dirty():
            return

        self._write_text(json.dumps(self._value))

    def _apply_conf(self) -> None:
        """
        Update value with properties from conf - fill
        missing values (deep copies: a default is never shared).
        """

        if not self._conf:
            return

        for key, default in self._conf.items():
            if key not in self._value:
                self._value[key] = deep_copy(default)

    def save(self) -> None:
        """
        Save the content of the filehandler
        """
        self._set_value_in_file()

    def close(self) -> None:
        """Save (``proj.kfile.close()`` in padocc's docs)."""
        self.save()


def _history_update(attrs: dict, addition: str, new_version: str) -> dict:
    hist = attrs.get('history', [])
    if isinstance(hist, str):
        hist = hist.split('\n')
    hist = list(hist)
    hist.append(addition)
    attrs['history'] = '\n'.join(hist)
    attrs['padocc_revision'] = new_version
    attrs['padocc_last_changed'] = datetime.now().strftime("%d%m%yT%H%M%S")
    return attrs


class KerchunkFile(JSONFileHandler):
    """
    Filehandler for Kerchunk file, enables substitution/replacement
    for local/remote links, and updating content.
    """

    def __init__(self, *args, xarray_kwargs: dict = None, **kwargs):

        super().__init__(*args, **kwargs)

        self._xarray_kwargs = xarray_kwargs or {}
        self._zattrs_as_text = True

    def make_remote(
            self,
            sub: str = '/',
            replace: str = 'https://dap.ceda.ac.uk/',
            in_place: bool = True,
            remote: bool = True,
        ) -> Union[None,dict]:
        """
        Add the download link to this Kerchunk File.

        :param sub:     (str) Substitution value to be replaced.

        :param replace: (str) Replacement value in download links.
        """
        self._obtain_value()

        if sub != '/' or replace != 'https://dap.ceda.ac.uk/':
            if in_place:
                self.logger.warning(
                    'Using non-standard download link replacement. If this ' \
                    'will result in a non-remote file please ensure the "remote" ' \
                    'parameter is set to "False" for this operation.'
                )

        if 'refs' not in self._value:
            raise ValueError(
                'No kerchunk refs were loaded, no replacements can be made - ' \
                f'check {self.filepath}'
            )

        refs = self._value['refs'] if in_place else deep_copy(self._value['refs'])
        for key, ref in refs.items():
            if isinstance(ref, list) and len(ref) in (1, 3) and isinstance(ref[0], str):
                if ref[0][0:len(sub)] == sub:
                    ref[0] = replace + ref[0][len(sub):]

        if in_place:
            return None

        return {
            **{k: v for k, v in self._value.items() if k != 'refs'},
            'refs': refs,
        }

    def update_history(
            self,
            addition: str,
            new_version: str,
        ) -> None:
        """
        Update the history with a new addition.

        Sets the new version/revision automatically.

        :param addition:    (str) Message to add to dataset history.

        :param new_version:  (str) Specific version number for the history
            entry being applied.
        """
        attrs = self.get_meta()

        if attrs is None:
            raise ValueError(
                'Attribute "refs" not present in Kerchunk file'
            )
        self.set_meta(_history_update(dict(attrs), addition, new_version))

    def open_dataset(
            self,
            fsspec_kwargs: Union[dict,None] = None,
            retry: bool = False,
            **kwargs):
        """
        Open the kerchunk file as an ``xarray.Dataset``.

        Uses the kerchunk xarray engine when kerchunk is installed, else
        fsspec's ReferenceFileSystem with the zarr engine (same dataset).

        :param fsspec_kwargs:   (dict) Kwargs applied to fsspec mapper - deprecated

        :param retry:   (bool) Unused property for multiple tries when searching for kerchunk
            dataset - deprecated.
        """

        if fsspec_kwargs is not None or retry:
            self.logger.warning("'fsspec kwargs' and 'retry' are deprecated and will be removed shortly.")

        self.logger.info('Attempting to open Kerchunk JSON file')

        if not os.path.isfile(self.filepath):
            raise FileNotFoundError(self.filepath)

        xr = _xarray()
        if 'kerchunk' in xr.backends.list_engines():
            ds = xr.open_dataset(self.filepath, engine='kerchunk', **kwargs)
        else:
            from fsspec.implementations.reference import ReferenceFileSystem
            fs = ReferenceFileSystem(self.filepath, remote_protocol='file', target_protocol='file')
            kw = {'backend_kwargs': {'consolidated': False}}
            kw.update(kwargs)
            ds = xr.open_dataset(fs.get_mapper(), engine='zarr', **kw)

        self.logger.debug('Successfully opened Kerchunk with virtual xarray ds')
        return ds

    def get_meta(self) -> Union[dict,None]:
        """
        Obtain the metadata dictionary
        """
        self._obtain_value()

        refs = self._value.get('refs',{})
        zattrs = refs.get('.zattrs',{})

        if isinstance(zattrs, str):
            self._zattrs_as_text = True
            zattrs = json.loads(zattrs)
        else:
            self._zattrs_as_text = False

        return zattrs

    def set_meta(self, values: dict):
        """
        Reset the metadata dictionary.

        :param values:  (dict) Fully replace all zattrs in kerchunk dataset.
        """
        self._obtain_value()
        if 'refs' not in self._value:
            raise ValueError(
                'Cannot reset metadata for a file with no existing values.'
            )
        # Kept in the form the file had (kerchunk writes a JSON string).
        self._value['refs']['.zattrs'] = json.dumps(values) if self._zattrs_as_text else values

    def spawn_copy(self, copy: str):
        """
        Spawn a copy of this file (not filehandler)

        :param copy:    (str) Path to new copy location and filename (minus extension).
        """
        target = f'{copy}.{self._extension}'
        if self._dryrun:
            self.logger.info(f'[DRYRUN]: cp {self.filepath} {target}')
        else:
            self.save()
            shutil.copyfile(self.filepath, target)


class _MetaFile:
    """Exact-name JSON file inside a store (``zarr.json``, ``.zattrs``, ``.zmetadata``)."""

    def __init__(self, path: str, dryrun: bool = False):
        self.path = path
        self._dryrun = dryrun
        self._value = None
        self._snapshot = None

    def exists(self) -> bool:
        return os.path.isfile(self.path)

    def get(self) -> dict:
        if self._value is None:
            if not self.exists():
                return {}
            with open(self.path) as f:
                self._value = json.load(f)
            self._snapshot = deep_copy(self._value)
        return self._value

    def set(self, value: dict) -> None:
        self._value = value

    def save(self) -> None:
        if self._dryrun or self._value is None or self._value == self._snapshot:
            return
        write_text_atomic(self.path, json.dumps(self._value, indent=2))
        self._snapshot = deep_copy(self._value)


class GenericStore(LoggedOperation):
    """
    Filehandler for Generic stores in Padocc - enables Filesystem
    operations on component files.

    Behaviours (Applies to Metadata)
    --------------------------------

    1. Length - length of metadata keyset
    2. Contains - metadata contains key (as with dict)
    3. Indexable - Get/set a specific property.
    4. Get/set_meta - Get/set the whole metadata set.
    5. Clear - clears all files in the store.

    """

    def __init__(
            self,
            parent_dir: str,
            store_name: str,
            metadata_name: str = '.zattrs',
            extension: str = 'zarr',
            logger   : Optional[Union[logging.Logger,FalseLogger]] = None,
            label    : Union[str,None] = None,
            fh       : Optional[str] = None,
            logid    : Optional[str] = None,
            dryrun   : bool = False,
            forceful : bool = False,
            thorough : bool = False,
            verbose  : int = 0
        ) -> None:
        """
        :param parent_dir:          (str) Directory to place this store.

        :param store_name:          (str) Name of this particular store.

        :param metadata_name:       (str) Stores contain multiple files including one metadata file, which
            is identified using its own filehandler.

        :param extension:           (str) Extension for this store, where different stores have different
            extensions.
        """

        self._parent_dir: str = parent_dir
        self._store_name: str = store_name
        self._extension: str = extension
        self._metadata_name = metadata_name
        self._dryrun = bool(dryrun)

        self._meta = _MetaFile(f'{self.store_path}/{metadata_name}', dryrun=bool(dryrun))

        # All filehandlers are logged operations
        super().__init__(
            logger,
            label=label,
            fh=fh,
            logid=logid,
            verbose=verbose,
            forceful=forceful,
            dryrun=dryrun,
            thorough=thorough)

    def update_history(
            self,
            addition: str,
            new_version: str,
        ) -> None:
        """
        Update the history with a new addition.

        Sets the new version/revision automatically.

        :param addition:    (str) Message to add to dataset history.

        :param new_version: (str) New version the message applies to.
        """
        self.set_meta(_history_update(dict(self.get_meta()), addition, new_version))

    def spawn_copy(self, copy: str):
        """
        Spawn a copy of this store (not filehandler)

        :param copy:    (str) New full path + name for external copy of the store (minus extension).
        """
        target = f'{copy}.{self._extension}'
        if self._dryrun:
            self.logger.info(f'[DRYRUN]: cp -R {self.store_path} {target}/')
        else:
            self.save()
            shutil.copytree(self.store_path, target, dirs_exist_ok=True)

    def save(self) -> None:
        """
        Write the metadata of this store when it was edited
        """
        if not self.is_empty:
            self._meta.save()

    @property
    def store_path(self) -> str:
        """Assemble the store path"""
        return f'{self._parent_dir}/{self._store_name}.{self._extension}'

    @property
    def filepath(self) -> str:
        """Path of the store (1.5.1 had none, so its version check crashed)."""
        return self.store_path

    def clear(self) -> None:
        """
        Remove all components of the store
        """
        if not self._dryrun:
            shutil.rmtree(self.store_path, ignore_errors=True)
        else:
            self.logger.debug(
                f'Skipped clearing "{self._extension}"-type '
                f'Store "{self._store_name}" in dryrun mode.'
            )

    @property
    def is_empty(self) -> bool:
        """
        Check if the store contains any data
        """
        if not os.path.exists(self.store_path):
            return True
        return len(os.listdir(self.store_path)) == 0

    def get_meta(self) -> dict:
        """
        Obtain the metadata dictionary
        """
        return self._meta.get()

    def set_meta(self, values: dict):
        """
        Reset the metadata dictionary

        :param values:  (dict) Complete set of metadata for this store.
        """
        if not self._meta.exists():
            raise ValueError(
                'Cannot reset metadata for a file with no existing values.'
            )
        self._meta.set(values)

    def __contains__(self, key: str) -> bool:
        """
        Check if a key exists in the metadata file.

        :param key: (str) Key to be checked in the metadata for this store.
        """
        return key in self.get_meta()

    def __str__(self) -> str:
        """Return the string representation of the store"""
        return self.__repr__()

    def __len__(self) -> int:
        """Find the number of keys in zattrs"""
        return len(self.get_meta())

    def __repr__(self) -> str:
        """Programmatic representation"""
        return f'<PADOCC Store: {format_str(self._store_name,10)}>'

    def __getitem__(self, index: str) -> Union[str,dict,None]:
        """
        Get an attribute from the zarr store

        :param index:   (str) Key in the metadata to attempt retrieval.
        """
        return self.get_meta().get(index)

    def __setitem__(self, index: str, value: str) -> None:
        """
        Set an attribute in the zarr store

        :param index:   (str) Key in the metadata to attempt retrieval.

        :param value:   (str) Value to set for the key in the metadata.
        """
        meta = dict(self.get_meta())
        meta[index] = value
        self.set_meta(meta)


class ZarrStore(GenericStore):
    """
    Filehandler for Zarr stores in PADOCC.
    Enables manipulation of Zarr store on filesystem
    and setting metadata attributes.

    Added Behaviours
    ----------------

    1. Open dataset - open the zarr store.

    2. Write to s3 - write a disk-based zarr store to s3.

    ``get_meta``/``set_meta`` work on the root attributes of a Zarr v3
    (``zarr.json``) or v2 (``.zattrs``, kept in step with the consolidated
    ``.zmetadata``) store. In 1.5.1 ``set_meta`` always raised, so
    completing a zarr project failed.
    """

    def __init__(
            self,
            parent_dir: str,
            store_name: str,
            remote_s3: Union[dict,None] = None,
            **kwargs
        ) -> None:

        if remote_s3:
            parent_dir = f's3://{remote_s3["bucket_id"]}'
            store_name = remote_s3.get("store_name") or store_name
            if callable(store_name):  # 1.5.1 stored the bound method
                store_name = store_name()

        self._remote_s3 = remote_s3

        super().__init__(
            parent_dir,
            store_name,
            metadata_name='zarr.json',
            extension='zarr',
            **kwargs)

        self._v2_attrs = _MetaFile(f'{self.store_path}/.zattrs', dryrun=self._dryrun)
        self._v2_consolidated = _MetaFile(f'{self.store_path}/.zmetadata', dryrun=self._dryrun)

    def __repr__(self) -> str:
        """Programmatic representation"""
        return f'<PADOCC ZarrStore: {format_str(self._store_name,10)}>'

    @property
    def zarr_format(self) -> Union[int, None]:
        if self._meta.exists():
            return 3
        if self._v2_attrs.exists() or self._v2_consolidated.exists() or os.path.isfile(f'{self.store_path}/.zgroup'):
            return 2
        return None

    def get_meta(self) -> dict:
        """
        Root attributes of the store.
        """

        if self._remote_s3 is not None:
            raise NotImplementedError('Metadata of a remote (s3) store is not read here')

        if self.zarr_format == 2:
            if self._v2_attrs.exists():
                return self._v2_attrs.get()
            return self._v2_consolidated.get().get('metadata', {}).get('.zattrs', {})
        # Zarr V3
        return self._meta.get().get('attributes', {})

    def set_meta(self, values: dict):
        """
        Replace the root attributes of the store.

        :param values:  (dict) Complete set of metadata for this store.
        """
        fmt = self.zarr_format
        if fmt is None:
            raise ValueError(
                'Cannot reset metadata for a file with no existing values.'
            )
        if fmt == 3:
            meta = dict(self._meta.get())
            meta['attributes'] = values
            self._meta.set(meta)
            return
        self._v2_attrs.set(values)
        if self._v2_consolidated.exists():
            cons = dict(self._v2_consolidated.get())
            cons.setdefault('metadata', {})['.zattrs'] = values
            self._v2_consolidated.set(cons)

    def save(self) -> None:
        if self.is_empty:
            return
        self._meta.save()
        self._v2_attrs.save()
        self._v2_consolidated.save()

    @property
    def store(self) -> Union[str,object]:
        """
        Returns the store path or s3 store object as required.
        """
        if self._remote_s3 is None:
            return self.store_path

        # Optional extra kwargs for s3 connection.
        s3_kwargs = self._remote_s3.get('s3_kwargs',None)
        target = self.store_path

        self.logger.debug(f'Target store: {target}')
        # Internal s3 store created from known config
        return self._store(
            target,
            self._remote_s3['s3_credentials'],
            s3_kwargs,
        )

    def open_dataset(self, **zarr_kwargs):
        """
        Open the ZarrStore as an xarray dataset
        """
        xr = _xarray()
        return xr.open_dataset(self.store, engine='zarr', **zarr_kwargs)

    def write_to_s3(
            self,
            credentials: Union[dict, str],
            bucket_id: str,
            name_overwrite: Union[str, None] = None,
            s3_kwargs: dict = None,
            ds=None,
            **zarr_kwargs):
        """
        Write zarr store to an S3 Object Store
        bucket directly from padocc
        """

        self.logger.info(f'Configuring s3 connection')

        if name_overwrite is not None:
            target = f'{bucket_id}/{name_overwrite}.{self._extension}'
        else:
            target = f'{bucket_id}/{self._store_name}.{self._extension}'

        self.logger.info(f'Writing to {target}')

        # Internal s3 store function
        s3_store = self._store(
            target,
            credentials,
            s3_kwargs
        )

        ds = ds if ds is not None else self.open_dataset(**zarr_kwargs)
        ds.to_zarr(store=s3_store, mode='w')

        self.logger.info(f'Zarr store {target} written.')

    def _store(
            self,
            target: str,
            s3_file_or_json: Union[str,dict],
            s3_kwargs: Union[dict,None] = None,
        ) -> object:
        """
        Internal private store object retriever.

        Takes all configuration parameters required
        to access a writable store for this object.
        """

        try:
            import s3fs
        except ImportError:
            raise ValueError(
                "s3fs package not installed in your environment - please "
                "install with pip or otherwise."
            )

        # Optional extra kwargs for s3 connection.
        default_s3 = {'anon':False}
        s3_kwargs = s3_kwargs or {}
        default_s3.update(s3_kwargs)

        # Extract credentials for accessing the store.
        if isinstance(s3_file_or_json, str):
            creds = extract_json(s3_file_or_json)
        else:
            creds = s3_file_or_json

        self.logger.info(f'Connecting to {creds["endpoint_url"]}')

        # Create remote_s3 connection.
        remote_s3 = s3fs.S3FileSystem(
            secret = creds['secret'],
            key = creds['token'],
            client_kwargs = {'endpoint_url': creds['endpoint_url']},
            **default_s3
        )

        return s3fs.S3Map(target, s3=remote_s3)


class KerchunkStore(GenericStore):
    """
    Filehandler for Kerchunk stores using parquet
    in PADOCC. Enables setting metadata attributes and
    will allow combining stores in future.

    Added behaviours
    ----------------

    1. Open dataset - opens the kerchunk store.

    Metadata is the ``.zattrs`` entry of the store's ``.zmetadata`` (1.5.1
    looked for a non-existent ``.zmetadata.json``).
    """

    def __init__(
            self,
            parent_dir: str,
            store_name: str,
            **kwargs
        ) -> None:

        super().__init__(
            parent_dir, store_name,
            metadata_name='.zmetadata',
            extension='parquet',
            **kwargs)
        self._zattrs_as_text = False

    def __repr__(self) -> str:
        """Programmatic representation"""
        return f'<PADOCC ParquetStore: {format_str(self._store_name,10)}>'

    def get_meta(self) -> dict:
        attrs = self._meta.get().get('metadata', {}).get('.zattrs', {})
        if isinstance(attrs, str):
            self._zattrs_as_text = True
            attrs = json.loads(attrs)
        return attrs

    def set_meta(self, values: dict):
        if not self._meta.exists():
            raise ValueError(
                'Cannot reset metadata for a file with no existing values.'
            )
        meta = dict(self._meta.get())
        meta.setdefault('metadata', {})['.zattrs'] = json.dumps(values) if self._zattrs_as_text else values
        self._meta.set(meta)

    def open_dataset(
            self,
            rfs_kwargs: Union[dict,None] = None,
            **parquet_kwargs
        ):
        """
        Open the Parquet Store as an xarray dataset
        """
        self.logger.debug('Opening Kerchunk Parquet store')

        default_rfs = {
            'remote_protocol':'file',
            'target_protocol':'file',
            'lazy':True
        }
        if rfs_kwargs is not None:
            default_rfs.update(rfs_kwargs)

        default_parquet = {
            'backend_kwargs':{"consolidated": False, "decode_times": True}
        }
        default_parquet.update(parquet_kwargs)

        xr = _xarray()
        from fsspec.implementations.reference import ReferenceFileSystem
        fs = ReferenceFileSystem(
            self.store_path,
            **default_rfs)

        return xr.open_dataset(
            fs.get_mapper(),
            engine="zarr",
            **default_parquet
        )

    def make_remote(
            self,
            sub: str = '/',
            replace: str = 'https://dap.ceda.ac.uk/',
            in_place: bool = True,
            remote: bool = True,
        ) -> Union[None,dict]:
        """
        Replace existing paths with download links for all parquet files
        (paths starting with ``sub`` only; 1.5.1 rewrote every path).
        """
        import pandas as pd

        for file in glob.glob(f'{self.store_path}/**/*.parq',recursive=True):
            self.logger.debug(f'Editing {file}')

            df = pd.read_parquet(file)
            for row in range(len(df['path'])):
                path = df['path'][row]
                if path is not None and path[0:len(sub)] == sub:
                    df.loc[row, 'path'] = replace + path[len(sub):]

            if self._dryrun:
                self.logger.info(f'DRYRUN: Skipped setting {file}')
                self.logger.info(df)
                continue

            df.to_parquet(file)


class LogFileHandler(ListFileHandler):
    """Log File handler for padocc phase logs."""
    description = "Log File handler for padocc phase logs."

    def __init__(
            self,
            dir: str,
            filename: str,
            extra_path: str = '',
            **kwargs
        ) -> None:

        """
        Initialisation of a log file retrievable via padocc.

        :param dir:     (str) The path to the directory in which this file can be found.

        :param filename: (str) The name of the file on the filesystem.

        :param extra_path:  (str) Extra directory structure to apply to the directory.
        """

        self._extra_path = extra_path
        super().__init__(dir, filename, **kwargs)

        self._extension = 'log'

    @property
    def filepath(self) -> str:
        """
        Returns the full filepath attribute.
        """
        return f'{self._dir}/{self._extra_path}{self.file}'


class CSVFileHandler(ListFileHandler):
    """CSV File handler for padocc config files"""
    description = "CSV File handler for padocc config files"

    def __init__(
            self,
            dir: str,
            filename: str,
            **kwargs
        ) -> None:
        """
        Initialisation of the CSV filehandler.

        :param dir:     (str) The path to the directory in which this file can be found.

        :param filename: (str) The name of the file on the filesystem.
        """

        super().__init__(dir, filename, **kwargs)

        self._extension = 'csv'

    def __iter__(self) -> Iterator[str]:
        """
        Iterable for this dataset
        """
        self._obtain_value()

        for i in list(self._value):
            if i is not None:
                yield i.replace(' ','').split(',')

    def update_status(
            self,
            phase: str,
            status: str,
            jobid : str = '',
        ) -> None:

        """
        Update formatted status for this
        log with the phase and status (in memory; ``save()`` writes it).
        ``ProjectOperation.update_status`` records through the engine instead,
        so the group's status index sees the row too.

        :param phase:   (str) The phase for which this project is being
            operated.

        :param status:  (str) The status of the current run
            (e.g. Success, Failed, Fatal)

        :param jobid:   (str) The jobID of this run if present.
        """

        status = status.replace(',', '.').replace('\n','.')
        addition = f'{phase},{status},{datetime.now().strftime("%H:%M %d/%m/%y")},{jobid}'
        self.append(addition)
        self.logger.info(f'Updated new status: {phase} - {status}')


class CFADataset(LoggedOperation):
    """
    Basic handler for CFA dataset

    Added behaviours
    ----------------

    1. Open dataset - opens the CFA dataset (needs cfapyx, the xarray
       ``CFA`` engine).

    The global attributes are read and written through the engine
    (``padocc._native.nca_meta``/``set_nca_meta``), which edits them in place:
    1.5.1 reopened the file with ``mode='w'`` and so emptied it.
    """

    def __init__(
            self,
            filepath : str,
            identifier: str,
            **kwargs
            ):
        """
        Initialisation of the CFA Dataset Filehandler.

        :param filepath:    (str) Path of the file without its ``.nca`` extension.

        :param identifier:  (str) The project code (for display).
        """

        self._extension = 'nca'
        self._ident     = identifier
        self._filepath  = filepath
        self._meta      = None
        self._snapshot  = None
        self._dryrun    = bool(kwargs.get('dryrun'))

        # All filehandlers are logged operations
        super().__init__(**kwargs)

    def update_history(
            self,
            addition: str,
            new_version: str,
        ) -> None:
        """
        Update the history with a new addition.

        Sets the new version/revision automatically.

        :param addition:    (str) Message to add to dataset history.

        :param new_version: (str) New version the message applies to.
        """
        self.set_meta(_history_update(dict(self.get_meta()), addition, new_version))

    def make_remote(
            self,
            sub: str = '/',
            replace: str = 'https://dap.ceda.ac.uk/',
            in_place: bool = True,
            remote: bool = True,
        ) -> Union[None,dict]:
        """
        Rewrite the fragment URIs starting with ``sub`` to start with
        ``replace`` (in place, through the engine).
        """
        if not in_place:
            raise NotImplementedError('Feature not implemented')
        if self._dryrun:
            self.logger.info(f'DRYRUN: Skipped rewriting fragment URIs in {self.filepath}')
            return None
        from .. import _native
        n = _native.rewrite_nca_uris(self.filepath, sub, replace)
        self.logger.debug(f'Rewrote {n} fragment URI(s) in {self.filepath}')
        return None

    @property
    def filepath(self):
        return f'{self._filepath}.{self._extension}'

    def file_exists(self) -> bool:
        return os.path.isfile(self.filepath)

    def __str__(self) -> str:
        """String representation of CFA Dataset"""
        return f'<PADOCC CFA Dataset: {self._ident}>'

    def __repr__(self) -> str:
        """Programmatic representation of CFA Dataset"""
        return self.__str__()

    def __getitem__(self, index: str) -> Any:
        """
        Get an attribute from the metadata.

        :param index:   (str) Name of an attribute in the metadata.
        """
        self._load_meta()
        return self._meta[index]

    def __setitem__(self, index: str, value: Any) -> None:
        """
        Set an attribute within the metadata.

        :param index:   (str) Name of an attribute in the metadata.

        :param value:   (Any) New value to apply.
        """
        self._load_meta()
        self._meta[index] = value

    def _load_meta(self) -> None:
        """
        Load the metadata for this filehandler."""
        if self._meta is not None:
            return
        from .. import _native
        self._meta = dict(_native.nca_meta(self.filepath))
        self._snapshot = deep_copy(self._meta)

    def save(self) -> None:
        """
        Write edited global attributes back into the file (only when edited).
        """
        if self._meta is None or self._meta == self._snapshot:
            return
        if self._dryrun:
            self.logger.info(f'DRYRUN: Skipped setting attributes of {self.filepath}')
            return
        from .. import _native
        old = self._snapshot or {}
        remove = [k for k in old if k not in self._meta]
        changed = {k: v for k, v in self._meta.items() if old.get(k, object()) != v}
        _native.set_nca_meta(self.filepath, changed, remove)
        self._snapshot = deep_copy(self._meta)

    def get_meta(self) -> dict:
        """
        Get the metadata/attributes for this dataset.
        """
        self._load_meta()
        return self._meta

    def set_meta(self, new_value: dict) -> None:
        """
        Set the whole meta attribute for this dataset.

        :param new_value:   (dict) New metadata contents.
        """
        self._load_meta()
        self._meta = dict(new_value)

    def spawn_copy(self, copy: str):
        """
        Spawn a copy of this file (not filehandler)

        :param copy:    (str) For the CFA filehandler, copy should be the full path
            to the new location, minus the extension. This should include the version number
            at the point of release.
        """
        target = f'{copy}.{self._extension}'
        if self._dryrun:
            self.logger.info(f'[DRYRUN]: cp {self.filepath} {target}')
        else:
            self.save()
            shutil.copyfile(self.filepath, target)

    def open_dataset(self, **kwargs):
        """Open the CFA Dataset [READ-ONLY]"""
        xr = _xarray()
        if 'CFA' not in xr.backends.list_engines():
            raise ImportError(
                'CFA Engine Module not found, see the documentation '
                'at https://github.com/cedadev/CFAPyX'
            )
        return xr.open_dataset(self.filepath, engine='CFA', **kwargs)
