"""Every error class of the package (the same objects as ``ohf_persistence.domain.errors``)."""

from .domain.errors import *  # noqa: F403
from .domain.errors import __all__ as __all__
