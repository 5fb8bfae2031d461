"""clv_predict: customer lifetime value from transaction logs.

transactions -> :func:`rfm_summary` -> a purchase model (:class:`BetaGeoModel`, ...) / :class:`GammaGammaModel`
/ :class:`CLVModel` -> forecasts -> ``save`` / :func:`load_model` -> :func:`score_file`.
"""

from .clv import CLVModel
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
from .models import PURCHASE_MODELS, BetaGeoModel, GammaGammaModel, PurchaseModel
from .models.cnbd import BetaGeoCNBDModel, ModifiedBetaGeoCNBDModel
from .persistence import load_model
from .rfm import rfm_summary, rfm_train_test_split
from .scoring import score, score_file

__version__ = "0.1.0"

__all__ = [
    "PURCHASE_MODELS",
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
    "NotFittedError",
    "PurchaseModel",
    "VersionWarning",
    "evaluate",
    "load_model",
    "rfm_summary",
    "rfm_train_test_split",
    "score",
    "score_file",
]
