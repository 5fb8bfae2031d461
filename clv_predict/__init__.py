"""clv_predict: customer lifetime value from transaction logs.

transactions -> :class:`TransactionLog` (read and checked once) -> :meth:`TransactionLog.rfm` / :func:`rfm_summary` -> :class:`BetaGeoModel` / :class:`GammaGammaModel`
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
from .models import BetaGeoModel, GammaGammaModel
from .persistence import load_model
from .rfm import rfm_summary, rfm_train_test_split
from .scoring import score, score_file
from .transactions import TransactionLog

__version__ = "0.1.0"

__all__ = [
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
    "NotFittedError",
    "TransactionLog",
    "VersionWarning",
    "evaluate",
    "load_model",
    "rfm_summary",
    "rfm_train_test_split",
    "score",
    "score_file",
]
