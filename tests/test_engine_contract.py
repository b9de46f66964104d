"""validate_table: a typed source's columns renamed, checked and cast on the engine."""

import math

import pandas as pd
import pytest

from analysis.cleaning import clean_transactions
from analysis.engine_contract import validate_table
from analysis.errors import DataContractError


@pytest.fixture
def orders(tmp_path):
    """A lake file as a warehouse would export it: typed columns, the users' own headers."""
    frame = pd.DataFrame({
        "source_row": range(2, 10),
        "CustomerKey": pd.array([7, 7, 8, None, 9, 9, 10, 11], dtype="Int64"),
        "OrderDate": pd.to_datetime(["2024-01-05 10:00", "2024-01-06 11:00", None,
                                     "2024-01-08 09:00", None, "2024-01-10 12:00",
                                     "2024-01-11 08:00", "2024-01-12 08:00"]),
        "Paid": [10.0, 20.0, 30.0, 40.0, 50.0, float("nan"), 70.0, None],
        "Invoice": ["A1", " A2 ", "A3", "A4", "A5", "A6", "NULL", "C8"],
    })
    path = tmp_path / "orders.parquet"
    frame.to_parquet(path, coerce_timestamps="us", allow_truncated_timestamps=True)
    return path


MAPPING = {"CustomerKey": "customer_id", "OrderDate": "timestamp", "Paid": "amount",
           "Invoice": "invoice_id"}


def test_columns_are_renamed_typed_and_cleaned_text(orders):
    typed = validate_table(orders, columns=MAPPING, source="orders", invalid_values="exclude")
    schema = typed.schema()
    assert schema["customer_id"].is_string() and schema["timestamp"].is_timestamp()
    assert schema["amount"].is_float64() and schema["invalid_reason"].is_string()
    frame = typed.execute().sort_values("source_row")
    assert frame["customer_id"].tolist()[:3] == ["7", "7", "8"]  # integers read as text
    assert frame["invoice_id"].tolist()[1] == "A2"  # trimmed
    assert pd.isna(frame["invoice_id"].tolist()[6])  # "NULL" is missing


def test_bad_lines_are_booked_and_missing_customers_are_revenue_only(orders):
    typed = validate_table(orders, columns=MAPPING, source="orders", invalid_values="exclude")
    result = clean_transactions(typed)
    rows = dict(zip(result.ledger["reason"], result.ledger["rows"], strict=True))
    assert rows == {"clean": 3, "missing_customer_id": 1, "invalid_timestamp": 2,
                    "invalid_amount": 2}
    assert result.ledger.set_index("reason").loc["invalid_amount", "amount"] == 0.0
    assert math.isclose(result.input_amount, 10 + 20 + 30 + 40 + 50 + 70)


def test_a_missing_date_stops_with_the_column_count_and_first_rows(orders):
    with pytest.raises(DataContractError) as caught:
        validate_table(orders, columns=MAPPING, source="lake/orders")
    message = str(caught.value)
    assert "file lake/orders, column 'OrderDate' (read as timestamp)" in message
    assert "2 line(s) have no date" in message
    assert "source_row=4, CustomerKey='8', OrderDate=None" in message
    assert "invalid_values: exclude" in message


def test_a_missing_amount_lists_at_most_five_rows(tmp_path):
    frame = pd.DataFrame({"customer_id": [f"c{i}" for i in range(8)],
                          "timestamp": pd.date_range("2024-01-01", periods=8),
                          "amount": [None] * 7 + [1.0]})
    with pytest.raises(DataContractError, match="7 line\\(s\\) have no number") as caught:
        validate_table(frame, source="orders")
    assert str(caught.value).count("customer_id=") == 5


@pytest.mark.parametrize("change, column, message", [
    ({"OrderDate": lambda f: f["OrderDate"].dt.tz_localize("UTC")}, "OrderDate",
     "with a time zone"),
    ({"Paid": lambda f: f["Paid"].astype(str)}, "Paid", "has type string, expected numeric"),
    ({"CustomerKey": lambda f: f["CustomerKey"].astype(float)}, "CustomerKey",
     "expected text or whole numbers"),
])
def test_wrong_types_are_named(orders, change, column, message):
    frame = pd.read_parquet(orders).assign(**change)
    with pytest.raises(DataContractError, match=f"column '{column}'.*{message}"):
        validate_table(frame, columns=MAPPING, source="orders")


def test_required_columns_and_options_are_checked(orders):
    without_amount = pd.read_parquet(orders).drop(columns="Paid")
    with pytest.raises(DataContractError, match="no column for 'amount'"):
        validate_table(without_amount, columns={"CustomerKey": "customer_id"}, source="orders")
    with pytest.raises(DataContractError, match="names 'Member'.*no such column"):
        validate_table(orders, columns={"Member": "customer_id"}, source="orders")
    with pytest.raises(DataContractError, match="invalid_values must be"):
        validate_table(orders, columns=MAPPING, source="orders", invalid_values="drop")


def test_amount_is_quantity_times_price_without_an_amount_column():
    frame = pd.DataFrame({"customer_id": ["a", "b", "c"],
                          "timestamp": pd.date_range("2024-01-01", periods=3),
                          "qty": [2, None, 1], "price": [1.5, 2.0, float("inf")]})
    typed = validate_table(frame, source="orders", invalid_values="exclude").execute()
    assert typed["amount"].tolist() == [3.0, 0.0, 0.0]
    assert typed["invalid_reason"].tolist()[1:] == ["invalid_quantity", "invalid_unit_price"]
