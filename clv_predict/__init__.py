"""clv_predict: customer lifetime value from transaction logs.

transactions -> :class:`TransactionLog` (read and checked once) -> :meth:`TransactionLog.rfm` / :func:`rfm_summary`
-> a purchase model (:class:`BetaGeoModel`, :class:`ParetoNBDModel`, ...) / :class:`GammaGammaModel`
/ :class:`CLVModel` -> forecasts -> ``save`` / :func:`load_model` -> :func:`score_file`.
"""

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
from .transactions import TransactionLog

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
    "compare_models",
    "evaluate",
    "fit_models",
    "load_model",
    "rfm_summary",
    "rfm_train_test_split",
    "score",
    "score_file",
]
