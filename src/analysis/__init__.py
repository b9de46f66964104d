"""Fenqun (分群): customer segmentation, CLV and churn research kit.

The public API is listed in ``__all__``. Report helpers live in :mod:`analysis.report` and
plots in :mod:`analysis.plotting`; neither is imported here, so ``import analysis`` stays
light and has no side effects.
"""

from analysis.cleaning import (
    CleaningPolicy,
    CleaningResult,
    clean_transactions,
    prepare_transactions,
)
from analysis.contract import resolve_columns, validate_customers, validate_transactions
from analysis.datasets import Dataset, load_dataset
from analysis.errors import (
    ConfigError,
    DataContractError,
    FenqunError,
    InsufficientDataError,
    NotebookFailedError,
)
from analysis.loading import load_inputs, read_table
from analysis.quality import overview_metrics, purchase_gaps, revenue_by_facet, revenue_by_month
from analysis.rules import load_rules
from analysis.summary import calibration_holdout_summary, customer_summary

__all__ = [
    "CleaningPolicy",
    "CleaningResult",
    "ConfigError",
    "DataContractError",
    "Dataset",
    "FenqunError",
    "InsufficientDataError",
    "NotebookFailedError",
    "calibration_holdout_summary",
    "clean_transactions",
    "customer_summary",
    "load_dataset",
    "load_inputs",
    "load_rules",
    "overview_metrics",
    "prepare_transactions",
    "purchase_gaps",
    "read_table",
    "resolve_columns",
    "revenue_by_facet",
    "revenue_by_month",
    "validate_customers",
    "validate_transactions",
]
