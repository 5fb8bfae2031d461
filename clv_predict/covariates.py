"""Covariates of customers as a design matrix: one encoding, fitted once, applied to any later table.

A model with covariates (``purchase_covariates=[...]``, ``dropout_covariates=[...]``) needs the same numeric
columns at fit time and whenever it predicts. :class:`CovariateEncoding` learns them from the training table:

* a categorical column (``object``, ``category``, ``bool`` or ``string`` dtype) becomes one 0/1 column per level
  except its reference level, named ``column[level]``; the reference is the most frequent level (ties: the first in
  sorted order) unless one is chosen, and is named in :attr:`CovariateEncoding.reference`;
* a numeric column is used as given (its coefficient is per unit of it).

It is model-agnostic: the purchase models, Gamma-Gamma and sBG use it alike. Missing values, a constant column
and (at prediction) a level not seen in training are errors naming the column; ``unseen="reference"`` maps unseen
levels to the reference level instead, with a :class:`~clv_predict.exceptions.DataWarning` that counts them.

Examples
--------
>>> import pandas as pd
>>> table = pd.DataFrame({"channel": ["web", "shop", "web", "app"], "age": [31.0, 45.0, 27.0, 52.0]})
>>> encoding = CovariateEncoding.fit(table, ["channel", "age"])
>>> encoding.names
['channel[app]', 'channel[shop]', 'age']
>>> encoding.reference
{'channel': 'web'}
>>> encoding.transform(pd.DataFrame({"channel": ["app", "web"], "age": [40.0, 50.0]})).to_numpy().tolist()
[[1.0, 0.0, 40.0], [0.0, 0.0, 50.0]]
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ._validation import plural
from .exceptions import DataError, DataWarning

UNSEEN_CHOICES = ("error", "reference")


def is_categorical(values: pd.Series) -> bool:
    """Whether a column is encoded by levels (object, category, bool or string dtype) rather than used as a number."""
    dtype = values.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def _plain(value):
    """A level as a plain Python value (numpy scalars do not survive a JSON-like saved state as they are)."""
    return value.item() if isinstance(value, np.generic) else value


def _first_missing(values: pd.Series):
    return values.index[values.isna().to_numpy()][0]


def _whole_number_codes(values: pd.Series) -> bool:
    """Whether a numeric column holds whole numbers only (codes of categories, such as regions 1 to 5)."""
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return False
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    return bool(np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)))


def _matching_level(given, levels, column: str, what: str):
    """The level of ``levels`` that ``given`` names: itself, or the one written the same way (``"3"`` from the
    command line for the level 3, ``"true"`` for True), or numerically equal (``"3"`` for 3.0); a DataError
    listing the levels otherwise."""
    if any(given == level and type(_plain(level)) is type(given) for level in levels):
        return given
    text = str(given).strip()
    matches = [level for level in levels if str(_plain(level)) == text or str(_plain(level)).lower() == text.lower()]
    if not matches:
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None:
            matches = [level for level in levels if isinstance(_plain(level), (int, float))
                       and not isinstance(_plain(level), bool) and float(_plain(level)) == number]
    if len(matches) == 1:
        return matches[0]
    raise DataError(
        f"'reference' level {given!r} of covariate {column!r} does not occur in {what}; its levels are "
        f"{', '.join(repr(_plain(level)) for level in levels)}"
    )


def check_covariate_names(columns, name: str) -> list[str]:
    """A list of column names from ``None``, one name or a list of names; a DataError otherwise."""
    if columns is None:
        return []
    if isinstance(columns, str):
        return [columns]
    try:
        names = list(columns)
    except TypeError:
        raise DataError(f"'{name}' must be a list of column names; got {columns!r}") from None
    bad = [column for column in names if not isinstance(column, str)]
    if bad:
        raise DataError(f"'{name}' must hold column names (strings); got {bad[0]!r}")
    repeated = sorted({column for column in names if names.count(column) > 1})
    if repeated:
        raise DataError(f"'{name}' names {', '.join(map(repr, repeated))} more than once")
    return names


class CovariateEncoding:
    """How covariate columns of a customer table become the columns of a design matrix.

    Build it with :meth:`fit`; apply it with :meth:`transform`. The state is plain data (:meth:`to_dict`,
    :meth:`from_dict`), which saved models keep.

    Attributes
    ----------
    columns : list of str
        The source columns, in order.
    levels : dict
        For each categorical column, its levels seen in training, the reference first.
    reference : dict
        The reference level of each categorical column (its effect is the baseline, coefficient 0).
    names : list of str
        The design columns: ``column[level]`` for each non-reference level, ``column`` for a numeric one.
    """

    def __init__(self, columns, levels: dict, numeric_scale: dict | None = None):
        self.columns = list(columns)
        self.levels = {column: list(values) for column, values in levels.items()}
        #: spread (standard deviation) of each numeric column in training, for conditioning the fit
        self.numeric_scale = dict(numeric_scale or {})

    # ------------------------------------------------------------------ construction
    @classmethod
    def fit(cls, frame: pd.DataFrame, columns, *, reference: dict | None = None,
            what: str = "rfm") -> CovariateEncoding:
        """Learn the encoding of ``columns`` of ``frame`` (their levels, reference levels and kinds).

        Parameters
        ----------
        frame : DataFrame
            One row per customer, holding the columns.
        columns : list of str
            Covariate column names.
        reference : dict, optional
            ``{column: level}``: the reference level of a categorical column (default: its most frequent level).
        what : str
            The table's name in error messages.
        """
        columns = check_covariate_names(columns, "covariates")
        reference = dict(reference or {})
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{what} must be a pandas DataFrame; got {type(frame).__name__}")
        absent = [column for column in columns if column not in frame.columns]
        if absent:
            raise DataError(
                f"{what} has no covariate column {', '.join(map(repr, absent))}; it has "
                f"{', '.join(map(repr, map(str, frame.columns))) or 'none'}"
            )
        unknown = sorted(set(reference) - set(columns))
        if unknown:
            raise DataError(f"'reference' names {', '.join(map(repr, unknown))}, which is not a covariate")
        levels, scales = {}, {}
        for column in columns:
            values = frame[column]
            if values.isna().any():
                raise DataError(
                    f"covariate column {column!r} of {what} has {plural(int(values.isna().sum()), 'missing value')} "
                    f"(first at customer {_plain(_first_missing(values))!r}); fill or drop them before fitting"
                )
            if is_categorical(values) or (column in reference and _whole_number_codes(values)):
                counts = values.value_counts(sort=False)
                counts = counts[counts > 0]
                if len(counts) < 2:
                    raise DataError(
                        f"covariate column {column!r} of {what} is constant (every customer has "
                        f"{_plain(counts.index[0]) if len(counts) else 'no value'!r}): its effect cannot be estimated"
                    )
                order = sorted(counts.index, key=lambda level: (str(type(level)), level))
                if column in reference:
                    chosen = _matching_level(reference[column], order, column, what)
                else:
                    chosen = max(order, key=lambda level: counts[level])  # first of the most frequent
                levels[column] = [_plain(chosen)] + [_plain(level) for level in order if level != chosen]
            else:
                numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                bad = ~np.isfinite(numbers)
                if bad.any():
                    raise DataError(
                        f"covariate column {column!r} of {what} has {plural(int(bad.sum()), 'non-finite value')} "
                        f"(first at customer {_plain(values.index[bad][0])!r})"
                    )
                spread = float(np.std(numbers))
                if not spread > 0:
                    raise DataError(
                        f"covariate column {column!r} of {what} is constant ({numbers[0]:g} for every customer): "
                        "its effect cannot be estimated"
                    )
                if column in reference:
                    raise DataError(
                        f"covariate {column!r} is numeric with values that are not whole numbers: it has no "
                        "reference level (a column of whole-number codes, such as regions 1 to 5, named in "
                        "'reference' is encoded by its levels)"
                    )
                scales[column] = spread
        return cls(columns, levels, scales)

    # ------------------------------------------------------------------ reading
    @property
    def reference(self) -> dict:
        """The reference level of each categorical column."""
        return {column: values[0] for column, values in self.levels.items()}

    @property
    def names(self) -> list[str]:
        """Design column names: ``column[level]`` per non-reference level, ``column`` for numeric columns."""
        out = []
        for column in self.columns:
            if column in self.levels:
                out.extend(f"{column}[{level}]" for level in self.levels[column][1:])
            else:
                out.append(column)
        return out

    @property
    def scales(self) -> np.ndarray:
        """The spread of each design column in training (1 for the 0/1 columns of levels)."""
        out = []
        for column in self.columns:
            if column in self.levels:
                out.extend([1.0] * (len(self.levels[column]) - 1))
            else:
                out.append(self.numeric_scale.get(column, 1.0))
        return np.asarray(out, dtype=float)

    def __repr__(self) -> str:
        return f"CovariateEncoding(columns={self.columns!r}, reference={self.reference!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, CovariateEncoding) and self.to_dict() == other.to_dict()

    # ------------------------------------------------------------------ applying
    def transform(self, frame: pd.DataFrame, *, unseen: str = "error", what: str = "rfm") -> pd.DataFrame:
        """The design matrix of ``frame``: one float column per name of :attr:`names`, indexed like ``frame``.

        Parameters
        ----------
        frame : DataFrame
            A table holding every source column.
        unseen : {"error", "reference"}
            What a level not seen in training does: a DataError naming the column and the level, or counting as
            the reference level (with a DataWarning that counts the customers).
        what : str
            The table's name in error messages.
        """
        if unseen not in UNSEEN_CHOICES:
            raise DataError(f"'unseen' must be one of {', '.join(map(repr, UNSEEN_CHOICES))}; got {unseen!r}")
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{what} must be a pandas DataFrame; got {type(frame).__name__}")
        absent = [column for column in self.columns if column not in frame.columns]
        if absent:
            raise DataError(
                f"{what} lacks the covariate column{'s' if len(absent) > 1 else ''} "
                f"{', '.join(map(repr, absent))} that the model was fitted with"
            )
        parts = []
        for column in self.columns:
            values = frame[column]
            if values.isna().any():
                raise DataError(
                    f"covariate column {column!r} of {what} has {plural(int(values.isna().sum()), 'missing value')} "
                    f"(first at customer {_plain(_first_missing(values))!r})"
                )
            if column in self.levels:
                parts.append(self._levels_matrix(column, values, unseen, what))
            else:
                if is_categorical(values) and not pd.api.types.is_numeric_dtype(pd.to_numeric(values, errors="coerce")):
                    raise DataError(f"covariate column {column!r} of {what} must be numeric, as in training")
                numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                bad = ~np.isfinite(numbers)
                if bad.any():
                    raise DataError(
                        f"covariate column {column!r} of {what} has {plural(int(bad.sum()), 'non-numeric value')} "
                        f"(first at customer {_plain(values.index[bad][0])!r}); it was numeric in training"
                    )
                parts.append(numbers[:, None])
        matrix = np.hstack(parts) if parts else np.zeros((len(frame), 0))
        return pd.DataFrame(matrix, index=frame.index, columns=self.names)

    def _levels_matrix(self, column, values, unseen, what) -> np.ndarray:
        levels = self.levels[column]
        # match on the values themselves; a saved bool or number may come back as its string from a CSV
        lookup = {level: position for position, level in enumerate(levels)}
        lookup_text = {str(level): position for position, level in enumerate(levels)}
        # factorise first (fast on any dtype), then look the few distinct values up
        inverse, uniques = pd.factorize(values)
        table = np.array([lookup.get(_plain(value), lookup_text.get(str(value), -1)) for value in uniques],
                         dtype=np.int64)
        codes = table[inverse] if table.size else np.full(len(values), -1, dtype=np.int64)
        raw = np.asarray(uniques, dtype=object)[inverse] if (codes < 0).any() else None
        missing = codes < 0
        if missing.any():
            new_levels = pd.unique(raw[missing])
            listed = ", ".join(repr(_plain(level)) for level in new_levels[:5]) + (", ..." if len(new_levels) > 5 else "")
            if unseen == "error":
                raise DataError(
                    f"covariate column {column!r} of {what} has {plural(len(new_levels), 'level')} not seen in "
                    f"training ({listed}; {plural(int(missing.sum()), 'customer')}, first {_plain(values.index[missing][0])!r}); "
                    f"the model knows {', '.join(repr(level) for level in levels)}. Pass unseen='reference' to count "
                    f"them as the reference level {levels[0]!r}"
                )
            warnings.warn(
                f"covariate column {column!r} of {what}: {plural(int(missing.sum()), 'customer')} with "
                f"{plural(len(new_levels), 'level')} not seen in training ({listed}) counted as the reference level "
                f"{levels[0]!r}",
                DataWarning,
                stacklevel=4,
            )
            codes[missing] = 0
        matrix = np.zeros((codes.size, len(levels) - 1))
        rows = np.flatnonzero(codes > 0)
        matrix[rows, codes[rows] - 1] = 1.0
        return matrix

    def profile_frame(self, profile) -> pd.DataFrame:
        """A table of covariate profiles from a dict (one profile; a value may be a list for several) or a DataFrame.

        Every source column must be given; a categorical column left out is not guessed.
        """
        if isinstance(profile, pd.Series):
            profile = profile.to_dict()
        if isinstance(profile, dict):
            lengths = {len(v) for v in profile.values() if isinstance(v, (list, tuple, np.ndarray, pd.Series))}
            if not lengths:
                frame = pd.DataFrame({key: [value] for key, value in profile.items()})
            elif len(lengths) == 1:
                frame = pd.DataFrame(profile)
            else:
                raise DataError("a profile given as a dict of lists must have lists of one length")
        elif isinstance(profile, pd.DataFrame):
            frame = profile
        else:
            raise DataError(f"'profile' must be a dict of covariate values or a DataFrame; got {type(profile).__name__}")
        absent = [column for column in self.columns if column not in frame.columns]
        if absent:
            raise DataError(f"'profile' lacks the covariate {', '.join(map(repr, absent))}; give a value for each of "
                            f"{', '.join(map(repr, self.columns))}")
        return frame

    # ------------------------------------------------------------------ saved state
    def to_dict(self) -> dict:
        """Plain data that :meth:`from_dict` turns back into the encoding."""
        return {"columns": list(self.columns), "levels": {k: list(v) for k, v in self.levels.items()},
                "numeric_scale": dict(self.numeric_scale)}

    @classmethod
    def from_dict(cls, state: dict) -> CovariateEncoding:
        return cls(state["columns"], state["levels"], state.get("numeric_scale"))


def design_matrix(frame: pd.DataFrame, columns, *, reference: dict | None = None,
                  what: str = "rfm") -> tuple[pd.DataFrame, CovariateEncoding]:
    """The design matrix of ``columns`` of ``frame`` and the encoding that made it (for later tables).

    >>> import pandas as pd
    >>> matrix, encoding = design_matrix(pd.DataFrame({"plan": ["pro", "free", "free"]}), ["plan"])
    >>> matrix.columns.tolist(), encoding.reference
    (['plan[pro]'], {'plan': 'free'})
    """
    encoding = CovariateEncoding.fit(frame, columns, reference=reference, what=what)
    return encoding.transform(frame, what=what), encoding


__all__ = ["UNSEEN_CHOICES", "CovariateEncoding", "check_covariate_names", "design_matrix", "is_categorical"]
