__author__    = "Daniel Westwood"
__contact__   = "daniel.westwood@stfc.ac.uk"
__copyright__ = "Copyright 2024 United Kingdom Research and Innovation"

from .logs import FalseLogger, LoggedOperation, init_logger, reset_file_handler
from .project import ProjectOperation
from .utils import BypassSwitch
