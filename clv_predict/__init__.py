"""clv_predict: customer lifetime value from transaction logs.

transactions -> :class:`TransactionLog` (read and checked once) -> :meth:`TransactionLog.rfm` / :func:`rfm_summary`
-> a purchase model (:class:`BetaGeoModel`, :class:`ParetoNBDModel`, ...) / :class:`GammaGammaModel`
/ :class:`CLVModel` -> forecasts -> ``save`` / :func:`load_model` -> :func:`score_file`.

The submodules ``plotting``, ``analytics``, ``datasets``, ``synthetic``, ``io``, ``report`` and ``dask`` load on
first use (``cp.plotting.plot_tracking(...)``), so ``import clv_predict`` does not import matplotlib or Dask.
"""

from importlib import import_module

from .clv import CLVModel
from .comparison import compare_models, fit_models
from .evaluation import evaluate
from .exceptions import (
    ClvError,
    ClvWarning,
    ConvergenceWarning,
    DataError,
    DataWarning,
    ModelFileError,
    ModelWarning,
    NotFittedError,
    VersionWarning,
)
from .models import (
    PURCHASE_MODELS,
    BetaGeoBetaBinomModel,
    BetaGeoCNBDModel,
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoCNBDModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    PurchaseModel,
    ShiftedBetaGeoModel,
)
from .persistence import load_model
from .rfm import rfm_summary, rfm_train_test_split
from .scoring import score, score_file
from .streaming import fit_file
from .transactions import TransactionLog
from .uncertainty import bootstrap_params, forecast_total

__version__ = "0.1.0"

__all__ = [
    "PURCHASE_MODELS",
    "BetaGeoBetaBinomModel",
    "BetaGeoCNBDModel",
    "BetaGeoModel",
    "CLVModel",
    "ClvError",
    "ClvWarning",
    "ConvergenceWarning",
    "DataError",
    "DataWarning",
    "GammaGammaModel",
    "ModelFileError",
    "ModelWarning",
    "ModifiedBetaGeoCNBDModel",
    "ModifiedBetaGeoModel",
    "NotFittedError",
    "ParetoNBDModel",
    "PurchaseModel",
    "ShiftedBetaGeoModel",
    "TransactionLog",
    "VersionWarning",
    "bootstrap_params",
    "compare_models",
    "evaluate",
    "fit_file",
    "fit_models",
    "forecast_total",
    "load_model",
    "rfm_summary",
    "rfm_train_test_split",
    "score",
    "score_file",
]

#: Submodules imported on first attribute access (PEP 562): plotting pulls in matplotlib, dask needs its extra.
_LAZY_SUBMODULES = ("plotting", "analytics", "datasets", "synthetic", "io", "report", "dask")


def __getattr__(name: str):
    if name not in _LAZY_SUBMODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # import_module also sets it as an attribute of the package: loaded once (clv_predict.dask without Dask
    # raises an ImportError naming the extra)
    return import_module(f".{name}", __name__)


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
