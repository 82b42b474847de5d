from .dataset import DatasetHandlerMixin
from .directory import DirectoryMixin
from .properties import PropertiesMixin
from .status import StatusMixin
