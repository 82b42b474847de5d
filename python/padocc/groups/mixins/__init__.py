from .allocations import AllocationsMixin
from .evaluations import EvaluationsMixin
from .initialisation import InitialisationMixin
from .modifiers import ModifiersMixin
