"""The models: one module per model, each with its formulas and its estimator, over :mod:`._base`.

Layout::

    models/
        _base.py          fitting machinery (starts, sample-then-polish, covariance, summary) and
                          PurchaseModel, the protocol every purchase model answers to
        beta_geo.py           BG/NBD                    BetaGeoModel
        pareto_nbd.py         Pareto/NBD                ParetoNBDModel
        modified_beta_geo.py  MBG/NBD                   ModifiedBetaGeoModel
        cnbd.py               BG/CNBD-k, MBG/CNBD-k     BetaGeoCNBDModel, ModifiedBetaGeoCNBDModel
        gamma_gamma.py        Gamma-Gamma spend         GammaGammaModel
        _discrete.py          fitting and state of the discrete-time models
        beta_geo_beta_binom.py  BG/BB (opportunities)   BetaGeoBetaBinomModel
        shifted_beta_geo.py   sBG (contracts)           ShiftedBetaGeoModel

Adding a purchase model (say GGompertz/NBD) is one new module with a
``PurchaseModel`` subclass and one line in :data:`PURCHASE_MODELS`; CLV,
scoring, persistence, evaluation, the plots, ``compare_models`` and the command
line find it there by name (or by its class name, the ``kind`` a saved file
records) and never name a model class themselves.

The discrete-time models count opportunities or periods, not time. Models of
purchasing at discrete opportunities (BG/BB) answer the ``OpportunityModel``
protocol of :mod:`._discrete`, which gives CLV, scoring, evaluation,
persistence and ``compare_models`` the same private methods as a
``PurchaseModel``: they are in :data:`OPPORTUNITY_MODELS` and are taken by name
wherever a purchase model is (``CLVModel(purchase_model="bg_bb")``). Models of
contract renewals (sBG) are in :data:`CONTRACT_MODELS`. :data:`DISCRETE_MODELS`
holds both, and persistence reads every registry.
"""

from __future__ import annotations

from importlib import import_module

from ..exceptions import DataError
from ._base import PurchaseModel
from ._discrete import OpportunityModel
from .beta_geo import BetaGeoModel
from .beta_geo_beta_binom import BetaGeoBetaBinomModel
from .cnbd import BetaGeoCNBDModel, ModifiedBetaGeoCNBDModel
from .gamma_gamma import GammaGammaModel
from .modified_beta_geo import ModifiedBetaGeoModel
from .pareto_nbd import ParetoNBDModel
from .shifted_beta_geo import ShiftedBetaGeoModel

#: Purchase models by name: (module, class). The first is the default.
PURCHASE_MODELS = {
    "bg_nbd": ("beta_geo", "BetaGeoModel"),
    "pareto_nbd": ("pareto_nbd", "ParetoNBDModel"),
    "mbg_nbd": ("modified_beta_geo", "ModifiedBetaGeoModel"),
    "bg_cnbd_k": ("cnbd", "BetaGeoCNBDModel"),
    "mbg_cnbd_k": ("cnbd", "ModifiedBetaGeoCNBDModel"),
}

#: Spend models by name.
SPEND_MODELS = {
    "gamma_gamma": ("gamma_gamma", "GammaGammaModel"),
}

#: Models of purchasing at discrete opportunities by name (the ``OpportunityModel`` protocol).
OPPORTUNITY_MODELS = {
    "bg_bb": ("beta_geo_beta_binom", "BetaGeoBetaBinomModel"),
}

#: Models of contract renewals by name.
CONTRACT_MODELS = {
    "sbg": ("shifted_beta_geo", "ShiftedBetaGeoModel"),
}

#: Discrete-time models by name: opportunities (BG/BB) and contracts (sBG).
DISCRETE_MODELS = {**OPPORTUNITY_MODELS, **CONTRACT_MODELS}

#: What a CLVModel takes as its model of purchasing: either protocol.
_PURCHASE_PROTOCOLS = (PurchaseModel, OpportunityModel)


def _load(module: str, name: str) -> type:
    return getattr(import_module(f"{__name__}.{module}"), name)


def purchase_model_class(name: str) -> type:
    """The purchase model class registered under ``name``: continuous time (``"bg_nbd"``, ``"pareto_nbd"``, ...)
    or discrete opportunities (``"bg_bb"``)."""
    registered = {**PURCHASE_MODELS, **OPPORTUNITY_MODELS}
    if not isinstance(name, str) or name not in registered:
        raise DataError(f"'purchase_model' must be one of {', '.join(map(repr, registered))}; got {name!r}")
    return _load(*registered[name])


def model_class_of_kind(kind: str) -> type:
    """The class a saved model's ``kind`` (its class name) names: purchase, spend or discrete-time model."""
    for module, name in (*PURCHASE_MODELS.values(), *SPEND_MODELS.values(), *DISCRETE_MODELS.values()):
        if name == kind:
            return _load(module, name)
    raise DataError(f"unknown model kind {kind!r}")


def purchase_model(model) -> PurchaseModel:
    """An unfitted purchase model from a registry name or a model instance (whose settings are kept)."""
    if isinstance(model, _PURCHASE_PROTOCOLS):
        return model
    return purchase_model_class(model)()


def is_purchase_model(model) -> bool:
    """Whether ``model`` answers one of the purchase protocols (continuous time or discrete opportunities)."""
    return isinstance(model, _PURCHASE_PROTOCOLS)


__all__ = [
    "CONTRACT_MODELS",
    "DISCRETE_MODELS",
    "OPPORTUNITY_MODELS",
    "PURCHASE_MODELS",
    "SPEND_MODELS",
    "BetaGeoBetaBinomModel",
    "BetaGeoCNBDModel",
    "BetaGeoModel",
    "GammaGammaModel",
    "ModifiedBetaGeoCNBDModel",
    "ModifiedBetaGeoModel",
    "OpportunityModel",
    "ParetoNBDModel",
    "PurchaseModel",
    "ShiftedBetaGeoModel",
    "is_purchase_model",
    "model_class_of_kind",
    "purchase_model",
    "purchase_model_class",
]
