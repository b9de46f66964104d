"""Shared fixtures: headless plotting, figures closed after each test, small explicit data."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def write_csv(tmp_path):
    """Write rows to a CSV file in a given encoding and return its path."""

    def write(rows: list[list[object]], *, name: str = "orders.csv", encoding: str = "utf-8",
              sep: str = ",") -> str:
        text = "\n".join(sep.join(str(v) for v in row) for row in rows) + "\n"
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return str(path)

    return write


@pytest.fixture
def typed_lines() -> pd.DataFrame:
    """Validated transaction lines exercising every cleaning rule once."""
    rows = [
        # source_row, invoice, customer, timestamp, product, quantity, amount
        (2, "1001", "007", "2024-01-05 10:00", "P1", 1, 100.0),   # clean
        (3, "1001", "007", "2024-01-05 10:00", "P1", 1, 100.0),   # duplicate of row 2
        (4, "C1001", "007", "2024-01-09 10:00", "P1", -1, -100.0),  # cancellation
        (5, "1002", "008", "2024-02-01 12:00", "POST", 1, 5.0),   # non-product
        (6, "1003", "008", "2024-02-02 12:00", "P2", 1, 0.0),     # zero amount
        (7, "1004", "008", "2024-02-03 12:00", "P2", 1, -3.0),    # negative, not a cancellation
        (8, "1005", None, "2024-02-04 12:00", "P2", 2, 40.0),     # no customer id
        (9, "1006", "009", "2025-01-02 09:00", "P3", 1, 10.0),    # after the window
        (10, "1007", "009", "2024-03-01 09:00", "P3", 1, 20.0),   # clean
        (11, "1008", "010", "2024-12-31 18:00", "P3", 1, 30.0),   # clean: last day of window
    ]
    frame = pd.DataFrame(rows, columns=["source_row", "invoice_id", "customer_id", "timestamp",
                                        "product_id", "quantity", "amount"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    for column in ("invoice_id", "customer_id", "product_id"):
        frame[column] = frame[column].astype("string")
    frame["invalid_reason"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame


@pytest.fixture(scope="session")
def cdnow_paper_lines() -> pd.DataFrame:
    """The CDNOW 1/10 sample cleaned as in the BG/NBD paper: to 1998-06-30, $0 purchases and
    identical lines kept (no invoice ids). Shared by the CLV tests: copy before changing it."""
    import analysis

    data = analysis.load_inputs("cdnow-sample")
    return analysis.prepare_transactions(
        data, cleaning={"zero_amounts": "keep", "duplicates": "keep"},
        observation_end="1998-06-30",
    ).transactions


@pytest.fixture(scope="session")
def spark():
    """One local Spark session (as an Ibis backend) for every engine-parity test; skipped when
    the spark extra is not installed (`make test` installs it)."""
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    from analysis.engines import connect

    return connect("spark")
