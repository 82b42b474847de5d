"""padocc.core.logs: loggers as padocc 1.5.1 names and formats them.

Logger names ``padocc_<label>[_<logid>]``, format
``%(levelname)s [%(name)s]: %(message)s``, verbosity 0/1/2 = WARNING/INFO/DEBUG.

Differences from 1.5.1: a phase log file is appended to, not deleted and
recreated on every run (the engine keeps one line per run in the same file, so
the history of retries survives), no ``os.system`` calls, and re-creating a
logger of the same name replaces its handlers instead of adding duplicates
(1.5.1 printed every message once per GroupOperation built with that label).
"""

from __future__ import annotations

__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

import logging
import os
from typing import Callable, Union

levels = [
    logging.WARN,
    logging.INFO,
    logging.DEBUG
]

SUFFIX_LIST = ['K','M','G']

SUFFIXES = {
    'K': 1000,
    'M': 1000000,
    'G': 1000000000
}

FORMAT = '%(levelname)s [%(name)s]: %(message)s'


class FalseLogger:
    """
    Supplementary class where a logger is not wanted but is required for
    some operations.
    """
    def __init__(self):
        pass
    def debug(self, message: str):
        pass
    def info(self, message: str):
        pass
    def warning(self, message: str):
        pass
    def error(self, message: str):
        pass


class LoggedOperation:
    """
    Allows inherritance of logger objects without creating new ones.
    """
    def __init__(
            self,
            logger : Union[logging.Logger,FalseLogger, None] = None,
            label  : Union[str,None] = None,
            fh     : Union[str,None] = None,
            logid  : Union[str,None] = None,
            forceful: bool = None,
            dryrun  : bool = None,
            thorough: bool = None,
            verbose: int = 0
        ) -> None:
        """
        Initialise a logged operation.

        :param logger:              (logging.Logger) Logger supplied to this Operation.

        :param label:               (str) The label to apply to the logger object.

        :param fh:                  (str) Path to logfile for logger object generated in this specific process.

        :param logid:               (str) ID of the process within a subset, which is then added to the name
            of the logger - prevents multiple processes with different logfiles getting
            loggers confused.

        :param verbose:         (int) Level of verbosity for log messages (see core.init_logger).

        :param forceful:        (bool) Continue with processing even if final output file
            already exists.

        :param dryrun:          (bool) If True will prevent output files being generated
            or updated and instead will demonstrate commands that would otherwise happen.

        :param thorough:        (bool) From args.quality - if True will create all files
            from scratch, otherwise saved refs from previous runs will be loaded.
        """
        self._logid = logid
        self._verbose = verbose

        self._forceful = None
        self._dryrun   = None
        self._thorough = None

        self._set_fh_kwargs(forceful=forceful, dryrun=dryrun, thorough=thorough)

        if hasattr(self, 'logger'):
            return
        if logger is None:
            self.logger = init_logger(
                self._verbose,
                label,
                fh=fh,
                logid=logid)
        else:
            self.logger = logger

    @classmethod
    def help(cls, func: Callable = print):
        """
        No public methods.
        """
        pass

    @property
    def fh_kwargs(self) -> dict:
        return {
            'dryrun': self._dryrun,
            'forceful': self._forceful,
            'thorough': self._thorough,
        }

    @fh_kwargs.setter
    def fh_kwargs(self, value: dict) -> None:
        self._set_fh_kwargs(**value)

    def _set_fh_kwargs(
            self,
            forceful: bool = None,
            dryrun: bool = None,
            thorough: bool = None,
        ) -> None:
        """
        Set the FH Kwargs for all objects.

        ``None`` keeps the current value. padocc 1.5.1 combined them as
        ``new or old``, so a flag once True could never be set back to False;
        here an explicit False resets it.

        :param forceful:        (bool) Continue with processing even if final output file
            already exists.

        :param dryrun:          (bool) If True will prevent output files being generated
            or updated and instead will demonstrate commands that would otherwise happen.

        :param thorough:        (bool) From args.quality - if True will create all files
            from scratch, otherwise saved refs from previous runs will be loaded.
        """
        if forceful is not None:
            self._forceful = forceful
        if dryrun is not None:
            self._dryrun = dryrun
        if thorough is not None:
            self._thorough = thorough


def set_verbose(level: int, nametypes: Union[str,list]):
    """
    Reset the logger basic config.
    """

    if isinstance(nametypes, str):
        nametypes = [nametypes]

    if level >= len(levels):
        level = len(levels) - 1

    for name in list(logging.root.manager.loggerDict):
        allowed = False
        for nt in nametypes:
            if nt in name:
                allowed = True
        if allowed:
            lg = logging.getLogger(name)
            lg.setLevel(levels[level])


def clear_loggers(
        ignore: list[str] = None
    ):

    ignore = ignore or []
    for name in list(logging.root.manager.loggerDict):
        if name not in ignore:
            lg = logging.getLogger(name)
            while lg.hasHandlers() and lg.handlers:
                lg.removeHandler(lg.handlers[0])


def _level(verbose: int) -> int:
    if verbose in levels and verbose > 2:
        verbose = levels.index(verbose)
    verbose = max(0, min(int(verbose or 0), len(levels)-1))
    return levels[verbose]


def _stream_handler(level: int) -> logging.Handler:
    ch = logging.StreamHandler()
    ch.setLevel(level)
    ch.setFormatter(logging.Formatter(FORMAT))
    return ch


def reset_file_handler(
        logger  : logging.Logger,
        verbose : int,
        fh : str
    ) -> logging.Logger:
    """
    Reset the file handler for an existing logger object.

    :param logger:      (logging.Logger) An existing logger object.

    :param verbose:     (int) The logging level to reapply.

    :param fh:     (str) Address to new file handler.

    :returns:   A new logger object with a new file handler.
    """
    for h in list(logger.handlers):
        logger.removeHandler(h)
        try:
            h.close()
        except Exception:
            pass
    level = _level(verbose)

    logger.addHandler(_stream_handler(level))

    fdir = os.path.dirname(fh)
    if fdir and not os.path.isdir(fdir):
        os.makedirs(fdir, exist_ok=True)

    # Appended to (padocc 1.5.1 deleted the file first).
    fhandle = logging.FileHandler(fh, mode='a')
    fhandle.setLevel(level)
    fhandle.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(fhandle)

    logger.setLevel(level)

    return logger


def init_logger(
        verbose : int,
        name  : str,
        fh    : str = None,
        logid : str = None
    ) -> logging.Logger:
    """
    Logger object init and configure with standardised formatting.

    :param verbose:     (int) Level of verbosity for log messages (see core.init_logger).

    :param name:        (str) The label to apply to the logger object.

    :param fh:          (str) Path to logfile for logger object generated in this specific process.

    :param logid:       (str) ID of the process within a subset, which is then added to the name
        of the logger - prevents multiple processes with different logfiles getting
        loggers confused.

    :returns:       A new logger object.

    """

    name = f'padocc_{name}'

    if logid is not None:
        name = f'{name}_{logid}'

    logger = logging.getLogger(name)
    logger.propagate = False

    if fh is not None:
        return reset_file_handler(logger, verbose, fh)

    level = _level(verbose)
    logger.setLevel(level)
    for h in list(logger.handlers):
        logger.removeHandler(h)
    logger.addHandler(_stream_handler(level))

    return logger
