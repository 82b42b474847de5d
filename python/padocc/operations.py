"""Alias kept for padocc's older docs (``from padocc.operations import GroupOperation``)."""

from .core import ProjectOperation
from .groups import GroupOperation
from .phases import (ComputeOperation, KerchunkDS, ScanOperation,
                     ValidateOperation, ZarrDS)
