"""padocc.phases.aggregate: padocc 1.5.1's three reference aggregators.

padocc-rs has one aggregator in the engine (``compute``), so these names exist
for imports only. (Importing this module no longer pulls in virtualizarr.)
"""

__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"


def _gone(name: str):
    def f(*args, **kwargs):
        raise NotImplementedError(
            f'{name} is padocc 1.5.1\'s aggregator; padocc-rs aggregates in the compute phase '
            '(or `padocc refs FILES -o out.json` outside a working directory)'
        )
    f.__name__ = name
    return f


padocc_combine = _gone('padocc_combine')
virtualise = _gone('virtualise')
mzz_combine = _gone('mzz_combine')
