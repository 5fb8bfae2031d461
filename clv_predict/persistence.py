"""Saving fitted models as small, plain, versioned joblib files, and loading them safely.

A saved model holds numbers and strings only: parameters, covariance, time
unit, observation end, training summary figures, the file format version and
the versions of the packages that made it. No customer rows, no customer ids,
no lifetimes objects. Writing goes to a temporary file in the same folder which
is then renamed over the target, so a crash leaves the old file or the new one.

A joblib file is a pickle, and unpickling an arbitrary file can run code.
:func:`load_model` therefore reads it with an unpickler that refuses every
global except the few numpy names needed to rebuild arrays, so a model file
received from someone else cannot run code.
"""

from __future__ import annotations

import io
import pickle
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from ._files import atomic_output
from .exceptions import ModelFileError, VersionWarning

FORMAT = "clv_predict.model"
FORMAT_VERSION = 1

# The only globals a model file may name: what numpy needs to rebuild an array.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


def _package_versions() -> dict:
    versions = {}
    for name in ("clv-predict", "lifetimes", "numpy", "pandas", "scipy", "joblib"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def _model_state(model) -> dict:
    settings = model._settings()
    state = {
        "kind": model._kind,
        # constructor settings beyond the two every model has (CNBD-k's fixed k, ...)
        "settings": {k: v for k, v in settings.items() if k not in ("penalizer_coef", "engine")},
        "params": {k: float(v) for k, v in model.params_.items()},
        "covariance": model.covariance_.to_numpy(dtype=float).tolist(),
        "standard_errors": {k: float(v) for k, v in model.standard_errors_.items()},
        "log_likelihood": float(model.log_likelihood_),
        "penalizer_coef": float(model.penalizer_coef),
        "engine": str(model.engine),
        "n_customers": int(model.n_customers_),
        "n_repeat_customers": int(model.n_repeat_customers_),
        "n_unique_rows": int(model.n_unique_rows_),
        "convergence": {k: (v if isinstance(v, (str, bool, int, type(None))) else float(v)) for k, v in model.convergence_.items()},
    }
    return state


def _training(model) -> dict:
    first, last = model.training_period_
    purchases = getattr(model, "purchase_model_", model)
    # the period of one opportunity (BG/BB) or contract period (sBG), when it is known
    period = getattr(purchases, "period_", None)
    return {
        **({"period": period} if period is not None else {}),
        "time_unit": model.time_unit_,
        "observation_period_end": model.observation_period_end_,
        "first_purchase": first,
        "last_purchase": last,
        "n_customers": int(model.n_customers_),
        "n_repeat_customers": int(model.n_repeat_customers_),
    }


def to_dict(model) -> dict:
    """The plain-data content that :func:`save_model` writes."""
    from .clv import CLVModel
    from .models._base import _ParametricModel

    if isinstance(model, CLVModel):
        model._check_fitted()
        parts = {
            "purchase_model": _model_state(model.purchase_model_),
            "spend_model": _model_state(model.spend_model_),
            "spend_penalizer_coef": float(model.spend_penalizer_coef),
        }
        training = _training(model)
    elif isinstance(model, _ParametricModel):
        model._check_fitted()
        parts = {"model": _model_state(model)}
        training = _training(model)
    else:
        raise TypeError(f"cannot save a {type(model).__name__}: expected a CLVModel or a fitted model of clv_predict")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": model._kind,
        "package_versions": _package_versions(),
        "training": training,
        **parts,
    }


def save_model(model, path) -> None:
    """Write ``model`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    content = to_dict(model)
    with atomic_output(path, suffix=".tmp", error=ModelFileError) as temporary:
        joblib.dump(content, temporary)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refers to {module}.{name}, which a model file may not contain")


def _read(path: Path) -> dict:
    try:
        payload = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"model file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ModelFileError(f"model file {str(path)!r} is a folder, not a file") from None
    except OSError as exc:
        raise ModelFileError(f"model file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    if not payload:
        raise ModelFileError(f"model file {str(path)!r} is empty")
    if payload[:1] != b"\x80":
        raise ModelFileError(f"{str(path)!r} is not a clv_predict model file (not a joblib/pickle file)")
    try:
        content = _RestrictedUnpickler(io.BytesIO(payload)).load()
    except pickle.UnpicklingError as exc:
        message = str(exc)
        if "may not contain" in message:
            raise ModelFileError(f"refusing to load {str(path)!r}: it {message} (it could run code)") from None
        raise ModelFileError(f"model file {str(path)!r} is corrupt or truncated ({message})") from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError, MemoryError, OverflowError) as exc:
        raise ModelFileError(f"model file {str(path)!r} is corrupt or truncated ({type(exc).__name__})") from None
    return content


def load_model(path):
    """Load a model saved with ``save`` (a CLVModel, BetaGeoModel or GammaGammaModel).

    Raises
    ------
    ModelFileError
        (a ``ValueError``) naming the file and the problem: missing, empty,
        truncated, corrupt, not a model, a newer format, or a pickle that
        refers to code.
    """
    path = Path(path)
    content = _read(path)
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ModelFileError(f"{str(path)!r} is not a clv_predict model file")
    file_version = content.get("format_version")
    if not isinstance(file_version, int):
        raise ModelFileError(f"model file {str(path)!r} has no valid format version")
    if file_version > FORMAT_VERSION:
        raise ModelFileError(
            f"model file {str(path)!r} has format version {file_version}, newer than this clv_predict "
            f"reads ({FORMAT_VERSION}); upgrade clv-predict"
        )
    versions = content.get("package_versions")
    saved_with = versions.get("clv-predict") if isinstance(versions, dict) else None
    ours = _package_versions()["clv-predict"]
    if saved_with not in (None, ours):
        warnings.warn(
            f"model file {str(path)!r} was written by clv-predict {saved_with}; this is {ours}",
            VersionWarning,
            stacklevel=2,
        )
    try:
        return _rebuild(content)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        raise ModelFileError(f"model file {str(path)!r} is incomplete or malformed ({type(exc).__name__}: {exc})") from None


def _new(kind: str, state: dict):
    """An unfitted model of the saved ``kind`` with its saved settings."""
    from .models import model_class_of_kind

    cls = model_class_of_kind(kind)
    return cls(penalizer_coef=state["penalizer_coef"], engine=state["engine"], **state.get("settings", {}))


def _restore(model, state: dict, training: dict):
    names = list(model._param_names) + list(model._extra_param_names)
    model.params_ = pd.Series([float(state["params"][n]) for n in names], index=names, name="estimate")
    if not (np.all(np.isfinite(model.params_)) and np.all(model.params_ > 0)):
        raise ValueError(f"parameters must be positive numbers; got {model.params_.to_dict()}")
    covariance = np.asarray(state["covariance"], dtype=float).reshape(len(names), len(names))
    model.covariance_ = pd.DataFrame(covariance, index=names, columns=names)
    model.standard_errors_ = pd.Series(
        [float(state["standard_errors"][n]) for n in names], index=names, name="standard_error"
    )
    model.log_likelihood_ = float(state["log_likelihood"])
    model.n_customers_ = int(state["n_customers"])
    model.n_repeat_customers_ = int(state["n_repeat_customers"])
    model.n_unique_rows_ = int(state["n_unique_rows"])
    model.convergence_ = dict(state["convergence"])
    model.time_unit_ = training["time_unit"]
    model.observation_period_end_ = training["observation_period_end"]
    model.training_period_ = (training["first_purchase"], training["last_purchase"])
    if training.get("period") is not None:  # a discrete-time model: the period of one opportunity or contract
        model.period_ = training["period"]
    return model


def _rebuild(content: dict):
    from .clv import CLVModel

    kind = content.get("kind")
    training = content["training"]
    if kind == "CLVModel":
        purchase, spend = content["purchase_model"], content["spend_model"]
        # files of the first release hold a BG/NBD purchase model and say no kind
        purchases = _restore(_new(purchase.get("kind", "BetaGeoModel"), purchase), purchase, training)
        model = CLVModel(
            purchase["penalizer_coef"], spend["penalizer_coef"], engine=purchase["engine"], purchase_model=purchases.name
        )
        model.purchase_model_ = purchases
        model.spend_model_ = _restore(_new("GammaGammaModel", spend), spend, training)
        model._take_training_figures()
        return model
    state = content["model"]
    return _restore(_new(kind, state), state, training)
