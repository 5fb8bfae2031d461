"""Plots. Every function takes ``ax=None``, draws only on that Axes and returns it; none calls ``plt.show()``.

Plotting is a leaf of the package: nothing else in clv_predict imports it.
"""

from .data import *
from .data import __all__ as _data_all
from .diagnostics import *
from .diagnostics import __all__ as _diagnostics_all
from .discrete import *
from .discrete import __all__ as _discrete_all
from .uncertainty import *
from .uncertainty import __all__ as _uncertainty_all
from .value import *
from .value import __all__ as _value_all

__all__ = list(_data_all) + list(_diagnostics_all) + list(_discrete_all) + list(_uncertainty_all) + list(_value_all)
