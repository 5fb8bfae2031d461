"""The ``clv-predict`` command: a thin shell over the library.

It parses arguments, calls the library, prints results, and maps the library's
exceptions to one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path

import pandas as pd

from ._validation import plural
from .exceptions import ClvError, ClvWarning
from .models import CONTRACT_MODELS, OPPORTUNITY_MODELS, PURCHASE_MODELS

EXIT_USAGE = 2
EXIT_ERROR = 1


def _add_columns(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("input columns")
    group.add_argument("--customer-col", default="customer_id", help="customer id column (default: customer_id)")
    group.add_argument("--date-col", default="date", help="purchase date column (default: date)")
    group.add_argument("--amount-col", default="amount", help="purchase value column (default: amount)")
    group.add_argument("--quantity-col", help="line items: quantity column; the amount is quantity x unit price")
    group.add_argument("--unit-price-col", help="line items: unit price column (with --quantity-col)")
    group.add_argument("--invoice-col", help="invoice/order id column: the lines of one invoice are one transaction")
    group.add_argument("--negative-amounts", choices=["refuse", "net", "drop"], default="refuse",
                       help="returns and cancellations: refuse (default), net against the same day's purchases, or drop")
    group.add_argument("--missing-ids", choices=["refuse", "drop"], default="refuse",
                       help="rows without a customer id: refuse (default) or drop")
    order = group.add_mutually_exclusive_group()
    order.add_argument("--dayfirst", dest="dayfirst", action="store_const", const=True, default=None,
                       help="dates such as 03/04/2024 are day-first (3 April)")
    order.add_argument("--monthfirst", dest="dayfirst", action="store_const", const=False,
                       help="dates such as 03/04/2024 are month-first (March 4)")
    group.add_argument("--sep", help="CSV field separator (default: read off the header line)")
    group.add_argument("--decimal", choices=[".", ","], default=".", help="CSV decimal mark (default: .)")


def _add_customers(parser: argparse.ArgumentParser, *, covariates: bool = False) -> None:
    """``--customers`` (a customer table joined on the id) and, on ``fit``, the covariate columns to use."""
    group = parser.add_argument_group("customer covariates")
    group.add_argument("--customers", metavar="FILE",
                       help="customer table, .csv/.csv.gz/.parquet, one row per customer (channel, region, plan, ...) "
                            "joined on the customer id" + ("" if covariates else
                                                           ": the covariate columns of a model fitted with them"))
    group.add_argument("--customers-id-col", metavar="COLUMN",
                       help="customer id column of --customers (default: the --customer-col name)")
    if covariates:
        group.add_argument("--purchase-covariates", nargs="+", metavar="COLUMN", default=[],
                           help="columns of --customers the purchase rate depends on")
        group.add_argument("--dropout-covariates", nargs="+", metavar="COLUMN", default=[],
                           help="columns of --customers the dropout process depends on")
        group.add_argument("--spend-covariates", nargs="+", metavar="COLUMN", default=[],
                           help="columns of --customers the Gamma-Gamma spend scale depends on")
        group.add_argument("--retention-covariates", nargs="+", metavar="COLUMN", default=[],
                           help="--model sbg: columns of --customers (or of the subscription table) retention "
                                "depends on; coefficients churn:<column> and retention:<column>")
        group.add_argument("--covariate-penalizer", type=float, default=0.0,
                           help="L2 penalty on the covariate coefficients alone (default: 0)")
        group.add_argument("--reference", nargs="+", metavar="COLUMN=LEVEL", default=[],
                           help="reference level of a categorical covariate, the baseline its other levels are "
                                "compared with (default: its most frequent level)")


def _customer_table(args, columns):
    """The customer table of ``--customers`` with ``columns``, or None when no column is needed."""
    from .customers import read_customer_table
    from .exceptions import DataError

    columns = list(dict.fromkeys(columns))
    if not columns:
        return None
    if not getattr(args, "customers", None):
        raise DataError(
            f"the model reads the covariate column{'s' if len(columns) > 1 else ''} "
            f"{', '.join(map(repr, columns))} of each customer: give a customer table with --customers FILE"
        )
    return read_customer_table(args.customers, customer_id_col=args.customers_id_col or args.customer_col,
                               columns=columns, sep=args.sep, decimal=args.decimal)


def _with_customers(log, args, columns):
    """The log with the customer table's ``columns`` in every summary built from it (see ``with_customers``)."""
    table = _customer_table(args, columns)
    return log if table is None else log.with_customers(table, list(dict.fromkeys(columns)))


def _model_covariates(model) -> list:
    """The covariate columns a saved model reads (none for a model without covariates)."""
    columns = getattr(model, "covariate_columns_", None)
    if columns is None:
        encoding = getattr(model, "covariate_encoding_", None)
        columns = list(encoding.columns) if encoding is not None else []
    return list(columns)


def _amount_col(args):
    return None if args.quantity_col else args.amount_col


def _input_policy(args) -> dict:
    """The input-policy keywords of rfm_summary / score_file, from the command line."""
    return {
        "negative_amounts": args.negative_amounts,
        "quantity_col": args.quantity_col,
        "unit_price_col": args.unit_price_col,
        "transaction_col": args.invoice_col,
        "missing_ids": args.missing_ids,
        "dayfirst": args.dayfirst,
    }


def _transaction_log(path: str, args):
    """Read a transaction file and check it once, with the reading options every subcommand shares."""
    from .transactions import TransactionLog

    return TransactionLog.read(path, customer_id_col=args.customer_col, datetime_col=args.date_col,
                               monetary_value_col=_amount_col(args), sep=args.sep, decimal=args.decimal,
                               **_input_policy(args))


def _prepare_output(args, *, parts: bool = False, inputs=("input", "model")) -> None:
    """Check ``--output`` before any work: not one of the command's input files, not a folder (unless
    ``parts``), its folder created as ``demo`` does."""
    from .exceptions import DataError

    output = Path(args.output)
    target = output.resolve()
    for flag in inputs:
        given = getattr(args, flag, None)
        if given and Path(given).resolve() == target:
            raise DataError(f"--output {args.output} is the --{flag} file: writing it would replace the {flag}; "
                            f"give another file name")
    if output.is_dir() and not parts:
        raise DataError(f"--output {args.output} is a folder; give a file name")
    if output.exists() and not output.is_dir() and parts:
        raise DataError(f"--output {args.output} is a file; --output-parts needs a new or empty folder")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the folder of --output {args.output}: {exc.strerror or exc}") from None


def _needs_regularity(names) -> bool:
    """Whether a named purchase model needs the regularity column ``litt`` (the CNBD-k models) in its summary."""
    from .models import purchase_model_class

    names = [names] if isinstance(names, str) else list(names)
    return any("litt" in purchase_model_class(name)._fit_columns for name in names)


def _print_summary(model, out) -> None:
    print(
        f"Fitted on {plural(model.n_customers_, 'customer')} ({model.n_repeat_customers_:,} repeat), "
        f"{_unit_text(model)}, observation end {model.observation_period_end_}",
        file=out,
    )
    table = model.summary()
    print(table.to_string(float_format=lambda v: f"{v:.4f}"), file=out)
    print(
        f"{model.purchase_model_.label} log-likelihood {model.purchase_model_.log_likelihood_:.2f}; "
        f"Gamma-Gamma log-likelihood {model.spend_model_.log_likelihood_:.2f}",
        file=out,
    )


def _clv_model(args):
    """The unfitted CLVModel of ``fit``'s flags, with its covariates."""
    from . import CLVModel

    reference = _reference_levels(args)
    return CLVModel(penalizer_coef=args.penalizer, spend_penalizer_coef=args.penalizer, engine=args.engine,
                    purchase_model=args.model, purchase_covariates=args.purchase_covariates or None,
                    dropout_covariates=args.dropout_covariates or None, spend_covariates=args.spend_covariates or None,
                    covariate_penalizer=args.covariate_penalizer, covariate_reference=reference or None)


def _reference_levels(args) -> dict:
    """``--reference COLUMN=LEVEL ...`` as ``{column: level}`` (the level as written; the model matches it to the
    column's levels, numbers included)."""
    from .exceptions import DataError

    reference = {}
    for given in args.reference:
        column, equals, level = given.partition("=")
        if not equals or not column or not level:
            raise DataError(f"--reference takes COLUMN=LEVEL (such as channel=shop); got {given!r}")
        reference[column] = level
    return reference


def _progress(args):
    """The command's progress bars on stderr: drawn on a terminal unless --quiet."""
    from ._progress import TerminalProgress

    return TerminalProgress(sys.stderr, quiet=getattr(args, "quiet", False))


def _add_progress_options(parser: argparse.ArgumentParser, *, buckets: bool) -> None:
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars (they are drawn only when stderr is a terminal anyway)")
    if buckets:
        from .streaming import BYTES_PER_ROW

        parser.add_argument("--chunk-rows", type=int, default=None,
                            help="input rows per chunk, and about per bucket of whole customers; memory follows it "
                                 "(default: 2,000,000)")
        parser.add_argument("--tmp-dir",
                            help="folder for the temporary bucket files of a transaction input (default: the "
                                 f"system's, $TMPDIR or /tmp). They take about {BYTES_PER_ROW} bytes per input row "
                                 f"with integer customer ids ({BYTES_PER_ROW / 10:g} GB per 100 million rows; text "
                                 "ids add their length) and are removed when the command ends, fails or is "
                                 "interrupted")


def _streams(args) -> bool:
    """Whether ``fit`` reads its input bucket by bucket: asked with --chunk-rows, or an input of more rows than
    a chunk (the in-memory fit gives the same estimates, faster on what fits in memory)."""
    from .streaming import DEFAULT_CHUNK_ROWS, estimated_rows

    if args.model in OPPORTUNITY_MODELS:  # one opportunity per period: summarised in memory
        return False
    if args.customers or args.purchase_covariates or args.dropout_covariates or args.spend_covariates:
        return False  # covariates join a customer table to the summary: in memory
    if args.chunk_rows is not None:
        return True
    path = Path(args.input)
    return path.exists() and estimated_rows(path) > DEFAULT_CHUNK_ROWS


def _fit_streaming(args, out, progress) -> int:
    from .streaming import fit_file

    model = fit_file(
        args.input, time_unit=args.time_unit, purchase_model=args.model, penalizer_coef=args.penalizer,
        spend_penalizer_coef=args.penalizer, engine=args.engine, customer_id_col=args.customer_col,
        datetime_col=args.date_col, monetary_value_col=_amount_col(args), observation_period_end=args.observation_end,
        chunk_rows=args.chunk_rows, sep=args.sep, decimal=args.decimal, tmp_dir=args.tmp_dir, progress=progress,
        **_input_policy(args),
    )
    with progress.step("saving"):
        model.save(args.output)
    _print_summary(model, out)
    print(f"Model saved to {args.output}", file=out)
    return 0


def _unit_text(model) -> str:
    """'time unit 'W'' for a continuous-time model, 'one opportunity per period 'Y'' for BG/BB."""
    if model.time_unit_ is None and model.purchase_model_.name in OPPORTUNITY_MODELS:
        return f"one opportunity per period {model.purchase_model_.period_!r}"
    return f"time unit {model.time_unit_!r}"


def cmd_fit(args, out) -> int:
    if args.model in CONTRACT_MODELS:
        return _fit_contracts(args, out)
    if args.retention_covariates:
        from .exceptions import DataError

        raise DataError("--retention-covariates are for --model sbg; a purchase model takes --purchase-covariates, "
                        "--dropout-covariates and --spend-covariates")
    _prepare_output(args, inputs=("input",))  # --model is a model's name here
    progress = _progress(args)
    if _streams(args):
        try:
            return _fit_streaming(args, out, progress)
        finally:
            progress.finish()
    with progress.step("reading"):
        log = _transaction_log(args.input, args)  # read and checked once
    end = args.observation_end
    if end is not None:
        from ._validation import to_timestamp
        from .exceptions import DataError

        if to_timestamp(end, "--observation-end") < log.first_purchase:
            raise DataError(f"--observation-end {end} is before the first transaction in {args.input}")
    # transactions after the end are left out with the warning score gives for them
    covariates = args.purchase_covariates + args.dropout_covariates + args.spend_covariates
    log = _with_customers(log, args, covariates)
    with progress.step("fitting"):
        if args.model in OPPORTUNITY_MODELS:  # one opportunity per --period: an opportunity summary
            from .discrete import opportunity_summary

            rfm = opportunity_summary(log, period=args.period or "Y", observation_period_end=end)
        else:
            rfm = log.rfm(observation_period_end=end, time_unit=args.time_unit,
                          regularity=_needs_regularity(args.model))
        model = _clv_model(args).fit(rfm)
    with progress.step("saving"):
        model.save(args.output)
    _print_summary(model, out)
    print(f"Model saved to {args.output}", file=out)
    return 0


def cmd_score(args, out) -> int:
    from . import load_model

    _prepare_output(args, parts=args.output_parts)
    model = load_model(args.model)
    if _is_contract_model(model):
        return _score_contracts(model, args, out)
    if args.horizon is None:
        purchases = getattr(model, "purchase_model_", None)
        if purchases is not None and purchases.name in OPPORTUNITY_MODELS:
            from .exceptions import DataError

            raise DataError(
                f"{purchases.label} counts its horizon in opportunities (one per period "
                f"{getattr(purchases, 'period_', None)!r}), not weeks: give --horizon, such as 5 for five more "
                "opportunities"
            )
        args.horizon = 52
    progress = _progress(args)
    try:
        result = _score(args, model, progress)
    finally:
        progress.finish()
    as_of = f" as of {result['observation_period_end']}" if result["observation_period_end"] else ""
    print(f"Scored {plural(result['customers'], 'customer')}{as_of} in {plural(result['chunks'], 'chunk')}; "
          f"wrote {result['output']}", file=out)
    return 0


def _score(args, model, progress) -> dict:
    from . import score_file

    return score_file(
        model,
        args.input,
        args.output,
        horizon=args.horizon,
        discount_rate=args.discount_rate,
        margin=args.margin,
        input_kind=args.input_kind,
        customer_id_col=args.customer_col,
        datetime_col=args.date_col,
        monetary_value_col=args.amount_col,
        observation_period_end=args.observation_end,
        chunk_rows=args.chunk_rows,
        progress=progress,
        output_parts=args.output_parts,
        sep=args.sep,
        decimal=args.decimal,
        time_unit=args.time_unit,
        interval=args.interval,
        customers=args.customers,
        customers_id_col=args.customers_id_col,
        tmp_dir=args.tmp_dir,
        **_input_policy(args),
    )


def cmd_demo(args, out) -> int:
    from . import rfm_train_test_split
    from .datasets import load_cdnow

    output_dir = Path(args.output_dir)
    model_path = Path(args.model_path)
    for folder in (output_dir, model_path.parent):
        folder.mkdir(parents=True, exist_ok=True)
    log = load_cdnow(sample=not args.full)
    print(
        f"CDNOW {'master' if args.full else 'sample'}: {log['customer_id'].nunique():,} customers, "
        f"{len(log):,} transaction rows, {log['date'].min():%Y-%m-%d} to {log['date'].max():%Y-%m-%d}",
        file=out,
    )
    split = rfm_train_test_split(
        log,
        customer_id_col="customer_id",
        datetime_col="date",
        monetary_value_col="amount",
        train_period_end=args.train_end,
        time_unit="W",
        regularity=_needs_regularity(PURCHASE_MODELS),  # the comparison below fits the CNBD-k models too
    )
    from . import CLVModel

    model = CLVModel().fit(split)
    _print_summary(model, out)
    model.save(model_path)
    print(f"Model saved to {model_path}", file=out)

    horizon = int(split["test_T"].iloc[0])
    forecast = model.predict(split, horizon=horizon, discount_rate=args.discount_rate, margin=args.margin)
    table = split.join(forecast)
    forecast_path = output_dir / "cdnow_forecast.csv"
    table.to_csv(forecast_path)
    predicted, actual = forecast["expected_purchases"].sum(), split["test_frequency"].sum()
    print(
        f"Holdout {split.attrs['observation_period_end']} to {split.attrs['test_period_end']} ({horizon} weeks): "
        f"predicted {predicted:,.0f} repeat transactions, actual {actual:,} "
        f"({(predicted - actual) / actual:+.1%})",
        file=out,
    )
    top = table.sort_values("clv", ascending=False).head(5)
    print(f"Top customers by {horizon}-week CLV (margin {args.margin}, discount {args.discount_rate}/week):", file=out)
    print(
        top[["frequency", "recency", "T", "monetary_value", "expected_purchases", "p_alive", "expected_spend", "clv"]]
        .to_string(float_format=lambda v: f"{v:.2f}"),
        file=out,
    )
    print(f"Per-customer forecasts written to {forecast_path}", file=out)

    from .comparison import compare_models, fit_models, model_comparison_section

    family = fit_models(split)
    print(f"The purchase models side by side on the same customers ({horizon}-week holdout):", file=out)
    _print_comparison(compare_models(split, family), out)
    from .report import write_diagnostics

    sections = [model_comparison_section(family, split, log)]
    sections += _value_sections(model, log, margin=args.margin, discount_rate=args.discount_rate,
                                **_report_settings(model, log, test_period_end=log["date"].max()))
    written = write_diagnostics(output_dir, model, log, source=f"CDNOW {'master' if args.full else 'sample'} (lifetimes)",
                                sections=sections)
    print(f"Diagnostic plots written to {output_dir / 'plots'}; report written to {written['report']}", file=out)
    return 0


def _print_comparison(table: pd.DataFrame, out) -> None:
    shown = table.drop(columns=[c for c in table.columns if c.startswith("error_")])
    print(shown.to_string(float_format=lambda v: f"{v:,.2f}"), file=out)
    best = table["bic"].idxmin()
    print(f"Lowest BIC: {table.loc[best, 'model']}", file=out)


def cmd_compare(args, out) -> int:
    output = Path(args.output) if args.output else None
    if output is not None:
        _table_format(output)
        _prepare_output(args)
    if not args.quantity_col and args.negative_amounts == "refuse":
        args.amount_col = None  # who bought when is enough: amounts matter only to a returns policy
    log = _transaction_log(args.input, args)
    if all(name in OPPORTUNITY_MODELS for name in args.models):  # one opportunity per --period
        from .discrete import opportunity_summary, opportunity_train_test_split

        period = args.period or "Y"
        data = opportunity_summary(log, period=period, observation_period_end=args.test_end) \
            if args.train_end is None else opportunity_train_test_split(
                log, period=period, train_period_end=args.train_end, test_period_end=args.test_end)
        return _compare_and_print(data, args, output, out)
    summary = {"time_unit": args.time_unit, "regularity": _needs_regularity(args.models)}
    if args.train_end is None:
        data = log.rfm(observation_period_end=args.test_end, **summary)
    else:
        data = log.split(train_period_end=args.train_end, test_period_end=args.test_end, **summary)
    return _compare_and_print(data, args, output, out)


def _compare_and_print(data, args, output, out) -> int:
    from . import compare_models

    table = compare_models(data, args.models, penalizer_coef=args.penalizer)
    _print_comparison(table, out)
    if output is not None:
        _write_table(table, output)
        print(f"Comparison written to {output}", file=out)
    return 0


def cmd_report(args, out) -> int:
    from . import load_model
    from .report import write_report

    _prepare_output(args)
    model = load_model(args.model)
    if _is_contract_model(model):
        return _report_contracts(model, args, out)
    progress = _progress(args)
    try:
        with progress.step("reading"):
            log = _transaction_log(args.input, args)  # read and checked once, for every part of the report
        if getattr(model, "purchase_model_", None) is not None and model.purchase_model_.name in OPPORTUNITY_MODELS:
            from .discrete_report import write_opportunity_report

            with progress.step("evaluating, plotting and writing"):
                path = write_opportunity_report(args.output, model, log, train_period_end=args.train_end,
                                                test_period_end=args.test_end, margin=args.margin,
                                                discount_rate=args.discount_rate, horizon=args.horizon or 5,
                                                source=Path(args.input).name)
            print(f"Report written to {path}", file=out)
            return 0
        log = _with_customers(log, args, _model_covariates(model))
        sections = []
        if args.compare:
            with progress.step("fitting every purchase model"):
                sections += _comparison_sections(model, log, args)
        with progress.step("scoring"):
            sections += _value_sections(
                model, log, margin=args.margin, discount_rate=args.discount_rate,
                **_report_settings(model, log, train_period_end=args.train_end, test_period_end=args.test_end),
            )
        with progress.step("evaluating, plotting and writing"):
            path = write_report(
                args.output,
                model,
                log,
                train_period_end=args.train_end,
                test_period_end=args.test_end,
                source=Path(args.input).name,
                customer_id=args.customer,
                sections=sections,
                margin=args.margin,
                discount_rate=args.discount_rate,
            )
    finally:
        progress.finish()
    print(f"Report written to {path}", file=out)
    return 0


# ---------------------------------------------------------------------------------------------- contracts (sBG)


def _is_contract_model(model) -> bool:
    """Whether a loaded model is a contract model (sBG), by the registry of contract models."""
    return type(model).__name__ in {name for _, name in CONTRACT_MODELS.values()}


def _add_contract_columns(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("contracts (--model sbg, or an sBG model file)")
    group.add_argument("--start-col", default="start", help="subscription start date column (default: start)")
    group.add_argument("--end-col", default="end",
                       help="subscription end date column, empty while active (default: end)")
    group.add_argument("--renewals", action="store_true",
                       help="the input is a log of payments, one row per paid period (--customer-col, --date-col), "
                            "not one row per subscription")
    group.add_argument("--segment-col", help="column naming each customer's segment or cohort: one sBG per segment")


def _contract_summary(args, path: str, period: str, end=None, covariates=()):
    """The contract summary of a subscription table or a log of renewals, in contract periods of ``period``, with
    the segment column and the ``covariates`` (from the input where it has them, else from --customers)."""
    from .customers import join_customers
    from .discrete import renewal_summary, subscription_summary
    from .io import read_transactions

    frame = read_transactions(path, sep=args.sep, decimal=args.decimal, string_columns=(args.customer_col,))
    wanted = [args.segment_col] if getattr(args, "segment_col", None) else []
    wanted += [column for column in covariates if column not in wanted]
    own = [column for column in wanted if column in frame.columns or column == getattr(args, "segment_col", None)]
    if args.renewals:
        summary = renewal_summary(frame, customer_id_col=args.customer_col, datetime_col=args.date_col, period=period,
                                  observation_period_end=end)
        first = frame.drop_duplicates(args.customer_col).set_index(args.customer_col)
        for column in own:
            summary[column] = first[column].reindex(summary.index).to_numpy()
    else:
        summary = subscription_summary(frame, customer_id_col=args.customer_col, start_col=args.start_col,
                                       end_col=args.end_col, period=period, observation_period_end=end, keep=own)
    table = _customer_table(args, [column for column in covariates if column not in own])
    if table is not None:
        attrs = dict(summary.attrs)
        summary = join_customers(summary, table, [column for column in covariates if column not in own],
                                 source=f"--customers {args.customers}")
        summary.attrs = attrs
    return summary


def _fit_contracts(args, out) -> int:
    from . import ShiftedBetaGeoModel
    from .exceptions import DataError

    _prepare_output(args, inputs=("input",))
    if args.purchase_covariates or args.dropout_covariates or args.spend_covariates:
        raise DataError("--model sbg takes --retention-covariates (retention is all it models), not "
                        "--purchase-covariates, --dropout-covariates or --spend-covariates")
    covariates = list(dict.fromkeys(args.retention_covariates))
    summary = _contract_summary(args, args.input, args.period or "M", args.observation_end, covariates)
    model = ShiftedBetaGeoModel(penalizer_coef=args.penalizer, covariates=covariates or None,
                                covariate_penalizer=args.covariate_penalizer,
                                covariate_reference=_reference_levels(args) or None).fit(summary)
    model.save(args.output)
    print(f"Fitted on {plural(model.n_customers_, 'customer')} ({model.n_repeat_customers_:,} churned), contract period "
          f"{model.period_!r}, observation end {model.observation_period_end_}", file=out)
    print(model.summary().to_string(float_format=lambda v: f"{v:.4f}"), file=out)
    from .contracts import fit_segments, lifetime_table

    table = lifetime_table(model)
    columns = ["customers", "churned", "alpha", "beta", "retention_1", "expected_lifetime", "median_lifetime",
               "discounted_lifetime"]
    print(table[columns].to_string(float_format=lambda v: f"{v:.4f}"), file=out)
    if table["note"].iloc[0]:
        print(table["note"].iloc[0], file=out)
    if model.covariate_encoding_ is not None:
        reference = ", ".join(f"{column}={level}" for column, level in model.covariate_encoding_.reference.items())
        print("With covariates, alpha, beta and the lifetimes above are the reference profile's"
              + (f" ({reference}; numeric covariates at 0)" if reference else " (numeric covariates at 0)"), file=out)
    if args.segment_col:
        segments = lifetime_table(fit_segments(summary, args.segment_col))
        print(f"By {args.segment_col}:", file=out)
        print(segments[columns].to_string(float_format=lambda v: f"{v:.4f}"), file=out)
    print(f"Model saved to {args.output}", file=out)
    return 0


def _score_contracts(model, args, out) -> int:
    from .contracts import score_contracts

    summary = _contract_summary(args, args.input, model.period_ or "M", args.observation_end,
                                _model_covariates(model))
    scores = score_contracts(model, summary, discount_rate=args.discount_rate, margin=args.margin * args.price,
                             horizon=args.horizon, interval=args.interval)
    _write_table(scores, Path(args.output))
    within = "" if args.horizon is None else f" over the next {plural(args.horizon, 'period')}"
    bounds = "" if args.interval is None else f", with {args.interval:.0%} bounds"
    print(f"Scored {plural(len(scores), 'customer')} ({int((~scores['churned']).sum()):,} active); residual value"
          f"{within} {scores['clv'].sum():,.2f}{bounds}; wrote {args.output}", file=out)
    return 0


def _report_contracts(model, args, out) -> int:
    from .discrete_report import write_contract_report

    summary = _contract_summary(args, args.input, model.period_ or "M", args.test_end, _model_covariates(model))
    path = write_contract_report(args.output, model, summary, discount_rate=args.discount_rate,
                                 margin=args.margin * args.price, segment_col=args.segment_col,
                                 source=Path(args.input).name)
    print(f"Report written to {path}", file=out)
    return 0


def _comparison_sections(model, log, args) -> list:
    """The report's "Model comparison" section: every purchase model fitted on the report's training period."""
    from .comparison import fit_models, model_comparison_section
    from .exceptions import DataError

    train_end = args.train_end or model.observation_period_end_
    if train_end is None:
        raise DataError("--compare needs the end of the training period: give --train-end")
    summary = {"time_unit": model.time_unit_, "regularity": _needs_regularity(PURCHASE_MODELS)}
    if log.last_purchase > pd.Timestamp(train_end):
        data = log.split(train_period_end=train_end, test_period_end=args.test_end, **summary)
    else:
        data = log.rfm(observation_period_end=train_end, **summary)
    return [model_comparison_section(fit_models(data), data, log.transactions(), train_period_end=train_end)]


def _report_settings(model, log, **periods) -> dict:
    """One as-of date and horizon for every section of the report (see report.forecast_settings)."""
    from .clv import CLVModel
    from .report import forecast_settings

    return forecast_settings(model, log, **periods) if isinstance(model, CLVModel) else {}


def _value_sections(model, transactions, **options) -> list:
    """The report's customer-value section, for a model that forecasts value (a CLVModel)."""
    from .clv import CLVModel

    if not isinstance(model, CLVModel):
        return []
    from .value_report import customer_value_section

    return [customer_value_section(transactions, model, **options)]


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write an analytics table to CSV or Parquet (by suffix), its index as columns, through a temporary file."""
    from .scoring import _atomic_output

    kind = _table_format(path)
    table = frame.reset_index()
    table.columns = [str(c) for c in table.columns]
    unit = frame.attrs.get("time_unit")
    if unit and "time_unit" not in table.columns:  # durations in the table are in this unit: the file says so
        table["time_unit"] = unit
    for column in table.columns:
        if isinstance(table[column].dtype, (pd.PeriodDtype, pd.CategoricalDtype)):
            table[column] = table[column].astype(str)
    with _atomic_output(path) as partial:
        if kind == "parquet":
            table.to_parquet(partial, index=False)
        else:
            table.to_csv(partial, index=False, compression="gzip" if path.name.lower().endswith(".gz") else None)


def _table_format(path: Path) -> str:
    from .exceptions import DataError

    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise DataError(f"cannot tell the format of --output {str(path)!r}: use a .csv, .csv.gz or .parquet file name")


def cmd_cohorts(args, out) -> int:
    from . import analytics

    output = Path(args.output)
    _table_format(output)
    _prepare_output(args)
    if args.table == "retention":
        args.amount_col = None  # who bought when is enough: the file need not have amounts
    log = _transaction_log(args.input, args)  # read and checked once, for every table below
    keywords = {"observation_period_end": args.observation_end}
    if args.table == "retention":
        table = analytics.retention_matrix(log, period=args.period, **keywords)
    elif args.table == "cumulative":
        table = analytics.cumulative_value(log, period=args.period, margin=args.margin, **keywords)
    else:
        table = analytics.acquisition_cohorts(log, period=args.period, **keywords)
        if args.model:
            from . import load_model

            model = load_model(args.model)
            value = analytics.cohort_clv(log, model, period=args.period, horizon=args.horizon,
                                         discount_rate=args.discount_rate, margin=args.margin, **keywords)
            table = table.join(value.drop(columns="customers"))
    _write_table(table, output)
    from ._validation import plural

    print(f"{plural(len(table), 'acquisition cohort')} ({args.period}); {args.table} table written to {output}", file=out)
    return 0


def cmd_segments(args, out) -> int:
    from . import load_model

    output = Path(args.output)
    _table_format(output)
    _prepare_output(args)
    model = load_model(args.model)
    progress = _progress(args)
    try:
        with progress.step("reading"):
            log = _transaction_log(args.input, args)  # read and checked once, for every table below
            log = _with_customers(log, args, _model_covariates(model))
        with progress.step("scoring"):
            table, message = _segments_table(args, model, log)
        with progress.step("writing"):
            _write_table(table, output)
    finally:
        progress.finish()
    print(f"{message}. {args.table.capitalize()} table written to {output}", file=out)
    return 0


def _segments_table(args, model, log):
    """The table ``segments`` writes and the sentence that tells of it."""
    from . import analytics

    settings = {"horizon": args.horizon, "discount_rate": args.discount_rate, "margin": args.margin,
                "period": args.period, "observation_period_end": args.observation_end}
    if args.table == "budget" and args.covariate:
        # a new customer's worth by level of a covariate, from the model of the covariates
        rfm = log.rfm(observation_period_end=args.observation_end, time_unit=model.time_unit_)
        table = analytics.acquisition_budget_by_profile(
            model, rfm, args.covariate, horizon=args.horizon, margin=args.margin, target_ratio=args.target_ratio,
            discount_rate=args.discount_rate, interval=args.interval,
        )
        cheapest, dearest = table["max_acquisition_cost"].idxmin(), table["max_acquisition_cost"].idxmax()

        def cost(level) -> str:
            text = f"{table.loc[level, 'max_acquisition_cost']:,.2f}"
            if args.interval is not None:
                text += (f" [{table.loc[level, 'max_acquisition_cost_lower']:,.2f}, "
                         f"{table.loc[level, 'max_acquisition_cost_upper']:,.2f}]")
            return f"{text} ({level})"

        message = (f"Affordable acquisition cost at CLV/CAC {args.target_ratio:g} by {args.covariate}: from "
                   f"{cost(cheapest)} to {cost(dearest)} per new customer"
                   + (f" ({args.interval:.0%} bounds of the parameter uncertainty)" if args.interval is not None else ""))
    elif args.interval is not None:
        from .exceptions import DataError

        raise DataError("--interval applies to the budget of a new customer by covariate level: give --table budget "
                        "and --covariate COLUMN")
    elif args.table == "budget":
        table = analytics.acquisition_budget(log, model, target_ratio=args.target_ratio, **settings)
        overall = table.loc[("overall", "all customers"), "max_acquisition_cost"]
        message = (f"Affordable acquisition cost at CLV/CAC {args.target_ratio:g}: {overall:,.2f} per customer "
                   f"overall; {plural(len(table) - 1, 'group')} by cohort, value tier and RFM segment")
    else:
        segments = analytics.customer_segments(
            log, model, at_risk_value_quantile=args.at_risk_quantile, at_risk_p_alive=args.at_risk_p_alive,
            **settings,
        )
        tiers = analytics.segment_summary(segments)
        top = tiers.iloc[0]
        lost = int(segments["at_risk"].sum())
        message = (f"{plural(len(segments), 'customer')}; the {tiers.index[0]} tier ({top['share_of_customers']:.0%} "
                   f"of customers) holds {top['share_of_predicted_value']:.0%} of predicted value; "
                   f"{plural(lost, 'high-value customer')} likely lost (column at_risk: revenue of at least "
                   f"{segments.attrs['at_risk_value_threshold']:,.2f}, P(alive) below "
                   f"{segments.attrs['at_risk_p_alive']:g})")
        table = segments if args.table == "customers" else analytics.segment_summary(segments, by=args.by)
    return table, message


def _add_value_settings(parser: argparse.ArgumentParser, *, period: str) -> None:
    parser.add_argument("--observation-end", help="analyse the log as of this date, YYYY-MM-DD (default: last date)")
    parser.add_argument("--period", choices=["M", "Q", "Y"], default=period,
                        help=f"calendar period of the acquisition cohorts: month, quarter, year (default: {period})")
    parser.add_argument("--horizon", type=int, default=52, help="forecast horizon in the model's time unit (default: 52)")
    parser.add_argument("--discount-rate", type=float, default=0.0, help="discount rate per time unit (default: 0)")
    parser.add_argument("--margin", type=float, default=1.0, help="profit margin applied to revenue (default: 1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clv-predict",
        description="Customer lifetime value from transaction logs (BG/NBD, Pareto/NBD, MBG/NBD, BG/CNBD-k, "
                    "MBG/CNBD-k + Gamma-Gamma).",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"clv-predict {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    fit = commands.add_parser("fit", help="fit a purchase model + Gamma-Gamma on a transaction file and save the model",
                              description="Fit a purchase model (--model, default BG/NBD) + Gamma-Gamma on a "
                                          "transaction file (CSV or Parquet) and save the model.")
    fit.add_argument("--input", required=True, help="transactions, .csv/.csv.gz/.parquet")
    _add_columns(fit)
    fit.add_argument("--time-unit", default="W", choices=["D", "W", "M"], help="time unit of the model (default: W)")
    fit.add_argument("--observation-end", help="end of the training period, YYYY-MM-DD (default: last date in the file)")
    fit.add_argument("--penalizer", type=float, default=0.0, help="L2 penalizer of both fits (default: 0)")
    fit.add_argument("--engine", choices=["native", "lifetimes"], default="native",
                     help="optimiser: the package's own (default) or lifetimes' fitters (the reference: same "
                          "estimates, much slower on millions of customers)")
    fit.add_argument("--model", default="bg_nbd",
                     choices=list(PURCHASE_MODELS) + list(OPPORTUNITY_MODELS) + list(CONTRACT_MODELS),
                     help="purchase model (default: bg_nbd); spend is always Gamma-Gamma. bg_bb: purchases at "
                          "discrete opportunities, one per --period; sbg: contract renewals from a subscription "
                          "table (--start-col, --end-col) or a log of renewals (--renewals)")
    fit.add_argument("--period", choices=["Y", "Q", "M", "W", "D"],
                     help="bg_bb: one opportunity per period (default: Y); sbg: the contract period (default: M)")
    _add_contract_columns(fit)
    _add_customers(fit, covariates=True)
    fit.add_argument("--output", required=True, help="model file to write (.joblib)")
    _add_progress_options(fit, buckets=True)
    fit.set_defaults(handler=cmd_fit)

    score = commands.add_parser("score", help="score a transaction or RFM file with a saved model",
                                description="Score every customer of a file with a saved model; writes CSV or Parquet.")
    score.add_argument("--model", required=True, help="model file written by 'fit' or 'demo'")
    score.add_argument("--input", required=True, help="transactions or RFM table, .csv/.csv.gz/.parquet or a Parquet folder")
    _add_columns(score)
    score.add_argument("--input-kind", choices=["transactions", "rfm"], default="transactions",
                       help="'transactions' (default) or a ready 'rfm' table in the model's time unit")
    score.add_argument("--time-unit", choices=["D", "W", "M"],
                       help="time unit of an --input-kind rfm file that does not state its own (files written by "
                            "clv-predict as Parquet do); must be the model's")
    score.add_argument("--observation-end", help="date the RFM summary is built as of (default: last date in the input)")
    score.add_argument("--horizon", type=int, default=None,
                       help="forecast horizon in the model's time unit (default: 52); a bg_bb model counts "
                            "opportunities and needs it given; an sbg model counts renewals (default: all)")
    score.add_argument("--discount-rate", type=float, default=0.0, help="discount rate per time unit (default: 0)")
    score.add_argument("--margin", type=float, default=1.0, help="profit margin applied to spend (default: 1)")
    score.add_argument("--interval", type=float, default=None, metavar="LEVEL",
                       help="also write bounds at this level, such as 0.9: predictive (purchases_lower/upper, "
                            "clv_lower/upper; renewals_lower/upper for an sbg model) and confidence "
                            "(..._ci_lower/upper) (default: none)")
    _add_customers(score)
    score.add_argument("--output", required=True, help="scores to write, .csv or .parquet")
    score.add_argument("--price", type=float, default=1.0,
                       help="sBG model: price per contract period; residual value = margin x price x DERL (default: 1)")
    _add_contract_columns(score)
    score.add_argument("--output-parts", action="store_true",
                       help="write --output as a folder of Parquet parts, one per chunk (the folder must be new or empty)")
    _add_progress_options(score, buckets=True)
    score.set_defaults(handler=cmd_score)

    demo = commands.add_parser("demo", help="run the whole path on the embedded CDNOW data",
                               description="Fit on CDNOW to 1997-09-30 (weekly), save the model, forecast the holdout.")
    demo.add_argument("--output-dir", default="clv_output", help="folder for forecasts (default: clv_output)")
    demo.add_argument("--model-path", default="models/cdnow.joblib", help="where to save the model (default: models/cdnow.joblib)")
    demo.add_argument("--train-end", default="1997-09-30", help="end of the training period (default: 1997-09-30)")
    demo.add_argument("--margin", type=float, default=1.0, help="profit margin applied to spend (default: 1)")
    demo.add_argument("--discount-rate", type=float, default=0.0, help="weekly discount rate (default: 0)")
    demo.add_argument("--full", action="store_true", help="use the 23,570-customer master file instead of the sample")
    demo.set_defaults(handler=cmd_demo)

    compare = commands.add_parser("compare", help="fit the purchase models side by side and compare them",
                                  description="Fit the family of purchase models on one transaction file and print "
                                              "log-likelihood, AIC, BIC and, with --train-end, the holdout forecasts.")
    compare.add_argument("--input", required=True, help="transactions, .csv/.csv.gz/.parquet")
    _add_columns(compare)
    compare.add_argument("--models", nargs="+", choices=list(PURCHASE_MODELS) + list(OPPORTUNITY_MODELS),
                         default=list(PURCHASE_MODELS),
                         help="models to compare (default: every continuous-time model); models of discrete "
                              "opportunities (bg_bb) are compared among themselves, one opportunity per --period")
    compare.add_argument("--period", choices=["Y", "Q", "M", "W"],
                         help="opportunity models: one opportunity per period (default: Y)")
    compare.add_argument("--time-unit", default="W", choices=["D", "W", "M"], help="time unit (default: W)")
    compare.add_argument("--train-end", help="end of the training period, YYYY-MM-DD; later purchases are the holdout "
                                             "(default: fit on the whole file, no holdout)")
    compare.add_argument("--test-end", help="end of the holdout (or of the data), YYYY-MM-DD (default: last date)")
    compare.add_argument("--penalizer", type=float, default=0.0, help="L2 penalizer of every fit (default: 0)")
    compare.add_argument("--output", help="table to write as well, .csv, .csv.gz or .parquet")
    compare.set_defaults(handler=cmd_compare)

    report = commands.add_parser("report", help="write an HTML report judging a saved model on a holdout period",
                                 description="Write one self-contained HTML file: parameters, holdout evaluation "
                                             "against simple baselines, and every diagnostic plot.")
    report.add_argument("--model", required=True, help="model file written by 'fit' or 'demo'")
    report.add_argument("--input", required=True,
                        help="transactions covering training and holdout (without a holdout: the fit alone), "
                             ".csv/.csv.gz/.parquet")
    _add_columns(report)
    report.add_argument("--train-end", help="end of the training period, YYYY-MM-DD (default: the model's observation end)")
    report.add_argument("--test-end", help="end of the holdout period, YYYY-MM-DD (default: last date in the file)")
    report.add_argument("--margin", type=float, default=1.0,
                        help="profit margin of the customer value section (default: 1)")
    report.add_argument("--discount-rate", type=float, default=0.0,
                        help="discount rate per time unit of the customer value section (default: 0)")
    report.add_argument("--customer", help="customer whose P(alive) history is drawn (default: highest predicted CLV)")
    report.add_argument("--horizon", type=int, help="bg_bb model: opportunities of the customer value section "
                                                    "(default: 5)")
    report.add_argument("--price", type=float, default=1.0, help="sBG model: price per contract period (default: 1)")
    _add_contract_columns(report)
    report.add_argument("--compare", action="store_true",
                        help="add a 'Model comparison' section: every purchase model fitted on the training period")
    _add_customers(report)
    report.add_argument("--output", default="report.html", help="HTML file to write (default: report.html)")
    _add_progress_options(report, buckets=False)
    report.set_defaults(handler=cmd_report)

    cohorts = commands.add_parser("cohorts", help="acquisition cohorts: sizes and value, retention matrix, cumulative value",
                                  description="Group customers by the period of their first purchase and write one "
                                              "table (CSV or Parquet, by the output's suffix).")
    cohorts.add_argument("--input", required=True, help="transactions, .csv/.csv.gz/.parquet")
    _add_columns(cohorts)
    cohorts.add_argument("--table", choices=["summary", "retention", "cumulative"], default="summary",
                         help="summary: size, revenue (and predicted value with --model) per cohort; retention: share "
                              "of each cohort buying in each period since acquisition; cumulative: value per customer "
                              "by cohort age (default: summary)")
    cohorts.add_argument("--model", help="model file: adds predicted CLV per cohort to the summary")
    _add_value_settings(cohorts, period="M")
    cohorts.add_argument("--output", required=True, help="table to write, .csv, .csv.gz or .parquet")
    cohorts.set_defaults(handler=cmd_cohorts)

    segments = commands.add_parser("segments", help="value tiers, RFM segments, at-risk customers, acquisition budgets",
                                   description="Score customers with a saved model and write a per-customer segment "
                                               "table, a segment summary or acquisition budgets (CSV or Parquet).")
    segments.add_argument("--model", required=True, help="model file written by 'fit' or 'demo'")
    segments.add_argument("--input", required=True, help="transactions, .csv/.csv.gz/.parquet")
    _add_columns(segments)
    segments.add_argument("--table", choices=["customers", "summary", "budget"], default="customers",
                          help="customers: one row per customer; summary: one row per segment (see --by); budget: "
                               "maximum acquisition cost overall, per cohort and per segment (default: customers)")
    segments.add_argument("--by", choices=["clv_tier", "rfm_segment", "cohort", "at_risk"], default="clv_tier",
                          help="grouping of the summary table (default: clv_tier)")
    segments.add_argument("--covariate", metavar="COLUMN",
                          help="with --table budget and a model with covariates: the budget of a new customer by "
                               "level of this categorical covariate (the acquisition channel, say)")
    segments.add_argument("--target-ratio", type=float, default=3.0,
                          help="required CLV-to-acquisition-cost ratio of the budget table (default: 3)")
    segments.add_argument("--interval", type=float, default=None, metavar="LEVEL",
                          help="with --table budget --covariate: also the bounds of each level's value and affordable "
                               "cost at this level, such as 0.9 (the uncertainty of the fitted parameters, "
                               "coefficients included)")
    segments.add_argument("--at-risk-quantile", type=float, default=0.8,
                          help="'high past value' is revenue at or above this quantile (default: 0.8)")
    segments.add_argument("--at-risk-p-alive", type=float, default=0.5,
                          help="'low P(alive)' is below this (default: 0.5)")
    _add_value_settings(segments, period="M")
    _add_customers(segments)
    segments.add_argument("--output", required=True, help="table to write, .csv, .csv.gz or .parquet")
    _add_progress_options(segments, buckets=False)
    segments.set_defaults(handler=cmd_segments)
    return parser


class _Terminated(BaseException):
    """SIGTERM, raised where the process is so that every atomic writer removes its temporary file."""


def _raise_terminated(signum, frame):
    raise _Terminated()


#: The library's keywords and the flags that set them: a message raised under the command line names the flag.
_FLAGS = {
    "observation_period_end": "--observation-end",
    "train_period_end": "--train-end",
    "test_period_end": "--test-end",
    "discount_rate": "--discount-rate",
    "horizon": "--horizon",
    "margin": "--margin",
    "interval": "--interval",
    "time_unit": "--time-unit",
    "penalizer_coef": "--penalizer",
    "customer_id_col": "--customer-col",
    "datetime_col": "--date-col",
    "monetary_value_col": "--amount-col",
    "quantity_col": "--quantity-col",
    "unit_price_col": "--unit-price-col",
    "transaction_col": "--invoice-col",
    "negative_amounts": "--negative-amounts",
    "missing_ids": "--missing-ids",
    "chunk_rows": "--chunk-rows",
    "input_kind": "--input-kind",
    "target_ratio": "--target-ratio",
    "at_risk_value_quantile": "--at-risk-quantile",
    "at_risk_p_alive": "--at-risk-p-alive",
    "period": "--period",
    "sep": "--sep",
    "decimal": "--decimal",
}
_KEYWORDS = "|".join(sorted(_FLAGS, key=len, reverse=True))
#: The flags naming input columns, by their attribute on the parsed arguments.
_COLUMN_FLAGS = {"customer_col": "--customer-col", "date_col": "--date-col", "amount_col": "--amount-col",
                 "quantity_col": "--quantity-col", "unit_price_col": "--unit-price-col", "invoice_col": "--invoice-col"}


def _with_flags(message: str, args=None) -> str:
    """A library message as the command line's user reads it: flags instead of keywords.

    ``'discount_rate'`` becomes ``--discount-rate``, ``negative_amounts='net'`` becomes ``--negative-amounts net``,
    ``dayfirst=True`` ``--dayfirst``, a keyword with an underscore written bare becomes its flag, a column that is
    missing is followed by the flag that named it, and a parenthesis that only repeats flags already said goes.
    """
    message = re.sub(r"\bdayfirst=True\b", "--dayfirst", message)
    message = re.sub(r"\bdayfirst=False\b", "--monthfirst", message)
    message = re.sub(
        rf"\b({_KEYWORDS})=(?:'([^']*)'|(\w+))",
        lambda m: f"{_FLAGS[m.group(1)]} {m.group(2) if m.group(2) is not None else m.group(3)}",
        message,
    )
    message = re.sub(rf"'({_KEYWORDS})'", lambda m: _FLAGS[m.group(1)], message)
    message = re.sub(rf"(?<![\w'-])({_KEYWORDS})(?![\w'])",
                     lambda m: _FLAGS[m.group(1)] if "_" in m.group(1) else m.group(1), message)

    def repeated(match) -> str:
        said = message[: match.start()]
        flags = re.findall(r"--[a-z-]+", match.group(1))
        return "" if flags and all(flag in said for flag in flags) else match.group(0)

    message = re.sub(r" \((--[^()]*)\)", repeated, message)
    if args is not None and "no column " in message:
        columns = {getattr(args, name): flag for name, flag in _COLUMN_FLAGS.items() if getattr(args, name, None)}

        def named(match) -> str:
            return re.sub(r"'([^']*)'", lambda q: q.group(0) + (f" ({columns[q.group(1)]})" if q.group(1) in columns else ""),
                          match.group(0))

        message = re.sub(r"no column [^;]*", named, message)
    return message


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import signal
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args) -> int:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ClvWarning)
            code = args.handler(args, sys.stdout)
        said = set()
        for warning in caught:
            message = _with_flags(str(warning.message), args)
            if issubclass(warning.category, ClvWarning) and message not in said:  # a check made twice: said once
                said.add(message)
                print(f"clv-predict: warning: {message}", file=sys.stderr)
        return code
    except (ClvError, ValueError) as exc:
        print(f"clv-predict: error: {_with_flags(str(exc), args)}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"clv-predict: error: {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        _remove_own_partials(args)
        print("clv-predict: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        _remove_own_partials(args)
        print("clv-predict: terminated", file=sys.stderr)
        return 128 + 15


def _remove_own_partials(args) -> None:
    """After an interruption, no temporary file of this process is left beside any output (see _files)."""
    from ._files import remove_own_partials

    for name in ("output", "model_path"):
        if getattr(args, name, None):
            remove_own_partials(getattr(args, name))
    if getattr(args, "output_dir", None):  # demo: the report, the forecasts and the plots
        for folder in (Path(args.output_dir), Path(args.output_dir) / "plots"):
            remove_own_partials(folder, every_output_in_folder=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
