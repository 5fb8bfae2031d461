"""Exceptions and warnings raised by clv_predict.

Every error a user can cause is a subclass of ``ValueError`` (bad input) so that
callers who already catch ``ValueError`` keep working; the more specific classes
let a caller tell a bad data file from a bad model file.
"""


class ClvError(Exception):
    """Base class of every exception raised on purpose by clv_predict."""


class DataError(ClvError, ValueError):
    """The transactions or the RFM table given are unusable as they stand."""


class ModelFileError(ClvError, ValueError):
    """A model file is missing, truncated, corrupt, of another kind or unsafe."""


class NotFittedError(ClvError, ValueError, AttributeError):
    """A model method that needs fitted parameters was called before ``fit``."""


class ClvWarning(UserWarning):
    """Base class of the warnings clv_predict emits."""


class DataWarning(ClvWarning):
    """Input is usable but doubtful: rows were dropped or adjusted."""


class ConvergenceWarning(ClvWarning):
    """The optimiser did not report convergence; the estimates may be wrong."""


class ModelWarning(ClvWarning):
    """Fitted parameters are valid but lead to doubtful forecasts."""


class VersionWarning(ClvWarning):
    """A model file was written by another version of clv_predict."""
