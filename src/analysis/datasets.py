"""Bundled datasets: the real CDNOW data and the synthetic ``retail-demo`` chain retailer.

Nothing is downloaded at run time. CDNOW is read from the data files that the installed
``lifetimes`` package carries; we locate them without importing ``lifetimes.datasets`` (it
imports ``pkg_resources``, which recent setuptools no longer ship). ``retail-demo`` is generated
from a seed by :mod:`analysis.demo`.

Every loader returns a :class:`Dataset` of *raw* tables: they go through the same data contract,
cleaning and ledger as a user's own files.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.errors import ConfigError

__all__ = ["Dataset", "DATASETS", "load_dataset", "load_cdnow", "cdnow_path"]


@dataclass
class Dataset:
    """Raw input tables and where they came from.

    Attributes
    ----------
    name
        Dataset name or file path.
    transactions
        Raw transaction lines, canonical or user column names, plus ``source_row`` (1-based row
        number in the source, as a user would count data rows).
    customers
        Optional customers table (attributes; customers with no purchase are potential customers).
    source
        Human-readable origin, used in error messages and provenance.
    description
        One sentence for reports.
    truth
        Ground truth for synthetic data (per-customer parameters), else None.
    parameters
        Generator parameters for synthetic data, else an empty dict.
    customers_source
        The customers file, when one was read.
    fingerprint
        A content fingerprint computed where the data was read (a ``source:`` on an engine);
        empty: the run fingerprints the file or the table.
    campaigns
        A campaign log that came with the data (``retail-demo`` with a planted campaign: see
        :func:`analysis.demo_campaign.plant_campaign`), else None.
    """

    name: str
    #: a pandas DataFrame, or an Ibis table for a ``source:`` read by an engine
    transactions: pd.DataFrame
    customers: pd.DataFrame | None = None
    source: str = ""
    description: str = ""
    truth: pd.DataFrame | None = None
    parameters: dict = field(default_factory=dict)
    customers_source: str = ""
    campaigns: pd.DataFrame | None = None
    fingerprint: str = ""
    #: ``{their header: canonical name}`` still to apply: a source read by an engine is renamed
    #: when it is validated, so that messages use the user's column names
    columns: dict = field(default_factory=dict)


_CDNOW_FILES = {"cdnow": "CDNOW_master.txt", "cdnow-sample": "CDNOW_sample.txt"}


def cdnow_path(sample: bool = False) -> Path:
    """Path of the CDNOW data file shipped inside the installed ``lifetimes`` package.

    Raises
    ------
    FileNotFoundError
        When lifetimes is not installed or its data files are missing.
    """
    spec = importlib.util.find_spec("lifetimes")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("The lifetimes package is not installed; run `make report`.")
    name = _CDNOW_FILES["cdnow-sample" if sample else "cdnow"]
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / name
    if not path.is_file():
        raise FileNotFoundError(f"CDNOW file {path} is missing from the lifetimes installation.")
    return path


def load_cdnow(sample: bool = False) -> Dataset:
    """Load the CDNOW transaction log (Fader & Hardie), full or the 1/10 sample.

    Returns
    -------
    Dataset
        ``transactions`` with columns ``customer_id`` (str, zero-padded as in the file),
        ``timestamp`` (datetime64, a date), ``quantity`` (CDs bought), ``amount`` (US dollars),
        ``source_row``. Full data: 23,570 customers, 69,659 rows; sample: 2,357 customers,
        6,919 rows. All customers made their first purchase in Q1 1997; the log ends 1998-06-30.
    """
    path = cdnow_path(sample)
    if sample:
        # columns: original customer id, sample customer id, date, CDs, dollars
        names = ["customer_id", "sample_id", "timestamp", "quantity", "amount"]
        frame = pd.read_csv(path, sep=r"\s+", header=None, names=names, dtype=str)
        frame = frame.drop(columns="sample_id")
    else:
        names = ["customer_id", "timestamp", "quantity", "amount"]
        frame = pd.read_csv(path, sep=r"\s+", header=0, names=names, dtype=str)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="%Y%m%d")
    frame["quantity"] = pd.to_numeric(frame["quantity"])
    frame["amount"] = pd.to_numeric(frame["amount"])
    first_row = 1 if sample else 2  # line numbers in the file; the full file has a header line
    frame.insert(0, "source_row", range(first_row, first_row + len(frame)))
    name = "cdnow-sample" if sample else "cdnow"
    description = (
        "CDNOW: real purchases of CDs by a cohort of customers who first bought in Q1 1997, "
        "followed to June 1998 (Fader & Hardie)."
    )
    if sample:
        description = description.replace("CDNOW:", "CDNOW 1/10 sample:")
    return Dataset(name=name, transactions=frame, source=str(path), description=description)


def _load_retail_demo(*, campaign_uplift: float = 0.0, **options) -> Dataset:
    """``retail-demo``; ``campaign_uplift > 0`` plants a campaign with that uplift (seeded by the
    generator's seed; see :func:`analysis.demo_campaign.plant_campaign`)."""
    from analysis.demo import generate_retail_demo
    from analysis.demo_campaign import plant_campaign

    demo = generate_retail_demo(**options)
    if campaign_uplift:
        demo = plant_campaign(demo, uplift=campaign_uplift, seed=demo.parameters["seed"])
    transactions = demo.transactions.reset_index(drop=True)
    transactions.insert(0, "source_row", range(1, len(transactions) + 1))
    return Dataset(
        name="retail-demo",
        transactions=transactions,
        customers=demo.customers,
        source=f"retail-demo generator (seed {demo.parameters.get('seed')})",
        description=(
            "retail-demo: a synthetic lighting chain retailer with known BG/NBD purchasing, "
            "Gamma-Gamma spend and deliberate data mess."
        ),
        truth=demo.truth,
        parameters=demo.parameters,
        campaigns=demo.campaigns,
    )


#: Bundled dataset names and their loaders.
DATASETS = {
    "cdnow": lambda **_: load_cdnow(sample=False),
    "cdnow-sample": lambda **_: load_cdnow(sample=True),
    "retail-demo": _load_retail_demo,
}


def load_dataset(name: str, **options) -> Dataset:
    """Load a bundled dataset by name (``cdnow``, ``cdnow-sample``, ``retail-demo``).

    Parameters
    ----------
    name
        One of :data:`DATASETS`.
    **options
        Passed to the generator for ``retail-demo`` (e.g. ``n_customers``, ``seed``);
        ``campaign_uplift`` (default 0: none) plants a campaign with that uplift.

    Raises
    ------
    ConfigError
        For an unknown name.
    """
    if name not in DATASETS:
        known = ", ".join(DATASETS)
        raise ConfigError(
            f"Unknown dataset '{name}'. Bundled datasets: {known}; "
            "or give a file path with `transactions:` in the run config."
        )
    return DATASETS[name](**options)
