"""A `source:` (lake Parquet or a table) is read and cleaned by the engine, never loaded whole."""

import ibis
import pandas as pd
import pytest

from analysis.config import load_run_config
from analysis.errors import ConfigError, DataContractError
from analysis.loading import load_inputs
from analysis.sources import is_table_name, open_source, source_fingerprint


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """The raw demo lines as a lake: a folder of two Parquet part files, typed columns."""
    from analysis.cleaning import prepare_transactions
    from analysis.datasets import load_dataset

    typed = prepare_transactions(load_dataset("retail-demo", n_customers=300, seed=5)).lines
    folder = tmp_path_factory.mktemp("lake") / "orders"
    folder.mkdir()
    columns = ["customer_id", "timestamp", "amount", "invoice_id", "product_id", "quantity"]
    lines = typed[columns].rename(columns={"customer_id": "会员编号"})
    half = len(lines) // 2
    for i, part in enumerate((lines.iloc[:half], lines.iloc[half:])):
        part.to_parquet(folder / f"part-{i}.parquet", index=False, coerce_timestamps="us")
    return folder, lines


def test_table_names_and_paths_are_told_apart(tmp_path):
    assert is_table_name("order_lines") and is_table_name("sales.order_lines")
    assert not is_table_name("orders.parquet")
    assert not is_table_name("lake/orders/*.parquet")
    (tmp_path / "orders").mkdir()
    assert not is_table_name(str(tmp_path / "orders"))


def test_a_folder_and_a_glob_read_the_same_lines(lake):
    folder, lines = lake
    mapping = {"会员编号": "customer_id"}
    for source in (str(folder), str(folder / "*.parquet")):
        data = open_source(source, columns=mapping)
        assert isinstance(data.transactions, ibis.Table)
        assert "会员编号" in data.transactions.columns and data.columns == mapping
        assert data.transactions.count().execute() == len(lines)
        assert data.fingerprint.startswith("sha256:")


def test_the_fingerprint_changes_with_the_content(lake, tmp_path):
    folder, lines = lake
    lines.iloc[:10].to_parquet(tmp_path / "a.parquet", coerce_timestamps="us")
    before = source_fingerprint(str(tmp_path / "a.parquet"))
    assert before == source_fingerprint(str(tmp_path / "a.parquet"))
    lines.iloc[:11].to_parquet(tmp_path / "a.parquet", coerce_timestamps="us")
    assert source_fingerprint(str(tmp_path / "a.parquet")) != before


def test_bad_sources_are_explained(lake, tmp_path):
    folder, _ = lake
    with pytest.raises(DataContractError, match="Parquet file not found"):
        open_source(str(tmp_path / "nowhere" / "*.parquet"))
    with pytest.raises(ConfigError, match="reads as a table name.*no such table"):
        open_source("sales.order_lines")
    with pytest.raises(DataContractError, match="no column 'member'"):
        open_source(str(folder), columns={"member": "customer_id"})
    with pytest.raises(ConfigError, match="either source .* or transactions"):
        load_inputs(source=str(folder), transactions="orders.csv")


def test_run_config_resolves_source_paths_but_not_table_names(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("source: lake/orders/*.parquet\nengine: spark\n", encoding="utf-8")
    assert load_run_config(config).parameters["source"] == str(tmp_path / "lake/orders/*.parquet")
    config.write_text("source: sales.order_lines\n", encoding="utf-8")
    assert load_run_config(config).parameters["source"] == "sales.order_lines"


def test_a_source_is_cleaned_on_the_engine_like_the_same_file_loaded_into_python(lake, tmp_path):
    from analysis.cleaning import prepare_transactions
    from analysis.summary import customer_summary

    folder, lines = lake
    data = load_inputs(source=str(folder), columns={"会员编号": "customer_id"})
    on_engine = prepare_transactions(data)
    file = tmp_path / "lines.parquet"
    lines.to_parquet(file, index=False)
    in_python = prepare_transactions(load_inputs(transactions=str(file),
                                                 columns={"会员编号": "customer_id"}))
    pd.testing.assert_frame_equal(on_engine.ledger, in_python.ledger, rtol=1e-9)
    kept = on_engine.kept_table()
    summary = customer_summary(kept, invoice_col="invoice_id")
    expected = customer_summary(in_python.transactions, invoice_col="invoice_id")
    pd.testing.assert_frame_equal(summary, expected, check_dtype=False, rtol=1e-12)


def test_a_bad_value_in_a_source_is_named_in_the_users_terms(lake, tmp_path):
    from analysis.cleaning import prepare_transactions
    from analysis.errors import DataContractError

    _, lines = lake
    broken = lines.head(50).copy()
    broken.loc[broken.index[[3, 7]], "amount"] = None
    broken.to_parquet(tmp_path / "broken.parquet", index=False, coerce_timestamps="us")
    data = load_inputs(source=str(tmp_path / "broken.parquet"), columns={"会员编号": "customer_id"})
    with pytest.raises(DataContractError, match=r"(?s)broken\.parquet.*amount.*2"):
        prepare_transactions(data)


def test_a_partitioned_folder_is_read_whole(lake, tmp_path):
    """year=2024/part.parquet: the nested files are read, as the fingerprint hashes them."""
    _, lines = lake
    for year, part in ((2023, lines.iloc[:100]), (2024, lines.iloc[100:250])):
        (tmp_path / "orders" / f"year={year}").mkdir(parents=True)
        part.to_parquet(tmp_path / "orders" / f"year={year}" / "part-0.parquet", index=False,
                        coerce_timestamps="us")
    data = open_source(str(tmp_path / "orders"), columns={"会员编号": "customer_id"})
    assert data.transactions.count().execute() == 250
