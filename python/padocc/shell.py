"""``padocc_sh``: a pdb prompt with padocc's operators imported (as in 1.5.1)."""

import bdb
import os
import pdb

from padocc import GroupOperation, ProjectOperation


def main():
    workdir = os.environ.get('WORKDIR', None)

    try:
        pdb.set_trace()
    except bdb.BdbQuit:
        pass


if __name__ == '__main__':
    main()
