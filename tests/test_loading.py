"""Reading files and the data contract: every documented error is triggered and checked."""

import duckdb
import pandas as pd
import pytest

from analysis.contract import resolve_columns, validate_customers, validate_transactions
from analysis.errors import ConfigError, DataContractError
from analysis.loading import load_inputs, read_table

CHINESE = [["订单号", "客户ID", "下单时间", "数量", "单价", "渠道"],
           ["A1", "000123", "2024年1月5日", "2", "\"￥1,299.50\"", "门店"],
           ["A2", "000456", "2024/02/01 13:05", "1", "88", "线上"]]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_chinese_headers_in_any_common_encoding(write_csv, encoding):
    data = load_inputs(transactions=write_csv(CHINESE, encoding=encoding))
    frame = validate_transactions(data.transactions, source=data.source)
    assert list(frame["customer_id"]) == ["000123", "000456"]  # leading zeros kept
    assert list(frame["amount"]) == [2599.0, 88.0]
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2024-01-05")
    assert list(frame["source_row"]) == [2, 3]  # as a spreadsheet numbers them
    assert frame.attrs["source_columns"]["customer_id"] == "客户ID"


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_delimiter_is_sniffed(write_csv, sep):
    data = load_inputs(transactions=write_csv(CHINESE, sep=sep))
    assert {"customer_id", "timestamp", "quantity", "unit_price"} <= set(data.transactions)


def test_online_retail_headers_need_no_mapping(write_csv):
    rows = [["Invoice", "StockCode", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"],
            ["489434", "85048", "12", "12/1/2009 7:45", "6.95", "13085.0", "United Kingdom"],
            ["C489449", "22087", "-12", "12/1/2009 10:33", "0.85", "16321.0", "Australia"]]
    data = load_inputs(transactions=write_csv(rows))
    frame = validate_transactions(data.transactions, source=data.source)
    assert list(frame["customer_id"]) == ["13085.0", "16321.0"]
    assert frame["amount"].tolist() == pytest.approx([83.4, -10.2])
    assert frame["timestamp"].iloc[1] == pd.Timestamp("2009-12-01 10:33")


def test_user_mapping_wins_over_aliases(write_csv):
    rows = [["buyer", "when", "paid", "amount"], ["x", "2024-01-01", "5", "999"]]
    data = load_inputs(transactions=write_csv(rows),
                       columns={"buyer": "customer_id", "when": "timestamp", "paid": "amount"})
    assert data.transactions["amount"].tolist() == ["5"]


def test_missing_required_column_names_file_and_fix(write_csv):
    path = write_csv([["客户ID", "金额"], ["1", "5"]])
    with pytest.raises(DataContractError) as error:
        load_inputs(transactions=path)
    message = str(error.value)
    assert path in message and "no column for 'timestamp'" in message
    assert "客户ID, 金额" in message and "columns:" in message


def test_mapping_typo_suggests_the_right_header(write_csv):
    path = write_csv(CHINESE)
    with pytest.raises(DataContractError, match="did you mean '下单时间'"):
        load_inputs(transactions=path, columns={"下单时": "timestamp"})


def test_mapping_to_unknown_canonical_name(write_csv):
    with pytest.raises(DataContractError, match="not a transactions column"):
        load_inputs(transactions=write_csv(CHINESE), columns={"渠道": "sales_channel"})


def test_ambiguous_headers_must_be_mapped(write_csv):
    rows = [["客户ID", "日期", "订单日期", "金额"], ["1", "2024-01-01", "2024-01-02", "5"]]
    with pytest.raises(DataContractError, match="several columns could be 'timestamp'"):
        load_inputs(transactions=write_csv(rows))


def test_bad_dates_list_row_numbers_and_values(write_csv):
    rows = [["客户ID", "下单时间", "金额"]] + [[str(i), "2024-01-01", "5"] for i in range(6)]
    rows[3][1], rows[6][1] = "2024-13-45", "昨天"
    path = write_csv(rows)
    data = load_inputs(transactions=path)
    with pytest.raises(DataContractError) as error:
        validate_transactions(data.transactions, source=path)
    message = str(error.value)
    assert "column '下单时间' (read as timestamp)" in message
    assert "row 4: '2024-13-45'" in message and "row 7: '昨天'" in message
    assert "2 value(s)" in message and "invalid_values: exclude" in message
    assert error.value.rows == [(4, "2024-13-45"), (7, "昨天")]


def test_bad_values_can_be_excluded_instead(write_csv):
    rows = [["客户ID", "下单时间", "金额"], ["1", "2024-01-01", "abc"], ["2", "2024-01-02", "5"]]
    data = load_inputs(transactions=write_csv(rows))
    frame = validate_transactions(data.transactions, source="x", invalid_values="exclude")
    assert frame["invalid_reason"].tolist() == ["invalid_amount", pd.NA]


def test_amount_formats():
    frame = pd.DataFrame({"source_row": [2, 3, 4, 5], "customer_id": ["a"] * 4,
                          "timestamp": ["2024-01-01"] * 4,
                          "amount": ["1,234.50", "￥20", "(15.00)", " 7 "]})
    typed = validate_transactions(frame, source="x")
    assert typed["amount"].tolist() == [1234.5, 20.0, -15.0, 7.0]


def test_timestamps_with_offsets_are_normalised():
    frame = pd.DataFrame({"source_row": [2, 3], "customer_id": ["a", "b"],
                          "timestamp": ["2024-01-01T23:30:00+08:00", "2024-01-01T10:00:00Z"],
                          "amount": [1, 2]})
    utc = validate_transactions(frame, source="x", timezone="UTC")["timestamp"]
    assert utc.tolist() == [pd.Timestamp("2024-01-01 15:30"), pd.Timestamp("2024-01-01 10:00")]
    local = validate_transactions(frame, source="x", timezone="Asia/Shanghai")["timestamp"]
    assert local.iloc[0] == pd.Timestamp("2024-01-01 23:30")


def test_compact_and_excel_dates():
    frame = pd.DataFrame({"source_row": [2], "customer_id": ["a"], "timestamp": [19970101],
                          "amount": [1.0]})
    first = validate_transactions(frame, source="x")["timestamp"].iloc[0]
    assert first == pd.Timestamp("1997-01-01")
    frame["timestamp"] = [45292]  # Excel's day number of 2024-01-01
    first = validate_transactions(frame, source="x")["timestamp"].iloc[0]
    assert first == pd.Timestamp("2024-01-01")


def test_empty_file(write_csv):
    data = load_inputs(transactions=write_csv([["客户ID", "下单时间", "金额"]]))
    with pytest.raises(DataContractError, match="no data rows"):
        validate_transactions(data.transactions, source=data.source)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(DataContractError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(DataContractError, match="unknown file type '.json'"):
        read_table(tmp_path / "x.json")


def test_wrong_encoding_given(write_csv):
    path = write_csv(CHINESE, encoding="gbk")
    with pytest.raises(DataContractError, match="not text in utf-8"):
        read_table(path, encoding="utf-8")


def test_excel_with_sheet(tmp_path):
    path = tmp_path / "orders.xlsx"
    frame = pd.DataFrame(CHINESE[1:], columns=CHINESE[0])
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"说明": ["封面"]}).to_excel(writer, sheet_name="封面", index=False)
        frame.to_excel(writer, sheet_name="订单", index=False)
    data = load_inputs(transactions=str(path), read_options={"sheet": "订单"})
    assert data.transactions["customer_id"].tolist() == ["000123", "000456"]
    with pytest.raises(DataContractError, match="Sheets: 封面, 订单"):
        read_table(path, sheet="Orders")


def test_parquet_and_duckdb_query(tmp_path):
    frame = pd.DataFrame({"customer_id": ["a", "b"], "order_date": pd.to_datetime(
        ["2024-01-01", "2024-01-02"]), "sales": [1.5, 2.5]})
    parquet = tmp_path / "orders.parquet"
    frame.to_parquet(parquet)
    data = load_inputs(transactions=str(parquet))
    assert data.transactions["source_row"].tolist() == [1, 2]
    database = tmp_path / "shop.duckdb"
    with duckdb.connect(str(database)) as con:
        con.sql(f"CREATE TABLE orders AS SELECT * FROM read_parquet('{parquet}')")
    data = load_inputs(transactions=str(database),
                       read_options={"sql": "SELECT * FROM orders WHERE sales > 2"})
    assert data.transactions["customer_id"].tolist() == ["b"]
    with pytest.raises(DataContractError, match="needs a query"):
        read_table(database)
    with pytest.raises(DataContractError, match="the query failed"):
        read_table(database, sql="SELECT * FROM missing_table")


def test_unknown_read_option(write_csv):
    with pytest.raises(ConfigError, match="unknown keys"):
        load_inputs(transactions=write_csv(CHINESE), read_options={"sheeet": "x"})


def test_customers_table_contract(write_csv):
    rows = [["客户编号", "注册日期", "地区", "行业"], ["000123", "2023-05-01", "华东", "家居"],
            ["000789", "2023-06-01", "华南", "商业"]]
    data = load_inputs(transactions=write_csv(CHINESE), customers=write_csv(rows, name="c.csv"))
    assert data.customers["customer_id"].tolist() == ["000123", "000789"]
    assert data.customers["signup_date"].iloc[0] == pd.Timestamp("2023-05-01")


def test_duplicate_customer_ids_hide_the_ids():
    frame = pd.DataFrame({"source_row": [2, 3, 4], "customer_id": ["secret-1", "secret-1", "b"]})
    frame = resolve_columns(frame, None, source="c.csv", table="customers")
    with pytest.raises(DataContractError) as error:
        validate_customers(frame, source="c.csv")
    assert "row 2" in str(error.value) and "row 3" in str(error.value)
    assert "secret-1" not in str(error.value)


def test_bundled_cdnow_is_read_from_the_lifetimes_package():
    data = load_inputs("cdnow")
    assert len(data.transactions) == 69_659
    assert data.transactions["customer_id"].nunique() == 23_570
    sample = load_inputs("cdnow-sample")
    assert sample.transactions["customer_id"].nunique() == 2_357


def test_unknown_dataset():
    with pytest.raises(ConfigError, match="Unknown dataset 'cdnwo'"):
        load_inputs("cdnwo")


def test_empty_and_mislabelled_files(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(DataContractError, match="the file is empty"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "orders.xlsx").write_text("客户ID,下单时间,金额\n1,2024-01-01,5\n")
    with pytest.raises(DataContractError, match="rename it to .csv"):
        read_table(tmp_path / "orders.xlsx")


def test_decimal_comma_is_recognised(write_csv):
    rows = [["CustomerID", "InvoiceDate", "Amount"], ["1", "2024-01-01", "5,50"],
            ["2", "2024-01-02", "1.234,75"]]
    data = load_inputs(transactions=write_csv(rows, sep=";"))
    typed = validate_transactions(data.transactions, source=data.source)
    assert typed["amount"].tolist() == [5.5, 1234.75]
    thousands = pd.DataFrame({"source_row": [2, 3], "customer_id": ["a", "b"],
                              "timestamp": ["2024-01-01"] * 2, "amount": ["1,234", "5,50"]})
    assert validate_transactions(thousands, source="x", decimal=",")["amount"].tolist() == [
        1.234, 5.5]
    # 5,50 shows the column uses decimal commas, so 1,234 is 1.234 here too
    assert validate_transactions(thousands, source="x")["amount"].tolist()[0] == 1.234


def test_title_row_above_the_header(write_csv):
    rows = [["订单报表 2024年"], ["客户ID", "下单时间", "金额"], ["1", "2024-01-01", "5"]]
    path = write_csv(rows)
    with pytest.raises(DataContractError, match="header_row: 2"):
        load_inputs(transactions=path)
    data = load_inputs(transactions=path, read_options={"header_row": 2})
    assert data.transactions["source_row"].tolist() == [3]
    with pytest.raises(ConfigError, match="header_row must be a row number"):
        load_inputs(transactions=path, read_options={"header_row": 0})


def test_no_line_left_for_customer_analytics(write_csv):
    from analysis import customer_summary, prepare_transactions
    from analysis.errors import InsufficientDataError

    rows = [["CustomerID", "InvoiceDate", "Amount"], ["", "2024-01-01", "5"]]
    result = prepare_transactions(load_inputs(transactions=write_csv(rows)))
    assert result.ledger["reason"].tolist() == ["missing_customer_id"]
    with pytest.raises(InsufficientDataError, match="the ledger shows where the rows went"):
        customer_summary(result.transactions)


def test_day_first_dates_are_not_guessed():
    frame = pd.DataFrame({"source_row": [2, 3, 4], "customer_id": ["a", "b", "c"],
                          "timestamp": ["1/2/2024", "13/2/2024", "2024-03-01"],
                          "amount": [1, 2, 3]})
    with pytest.raises(DataContractError, match="dayfirst: true") as error:
        validate_transactions(frame, source="x")
    assert error.value.rows == [(3, "13/2/2024")]  # not silently read as 13 February
    typed = validate_transactions(frame, source="x", dayfirst=True)
    assert typed["timestamp"].tolist() == [pd.Timestamp("2024-02-01"),
                                           pd.Timestamp("2024-02-13"),
                                           pd.Timestamp("2024-03-01")]


@pytest.mark.parametrize("values, expected", [
    (["2,50", "0,125", "1,99"], [2.5, 0.125, 1.99]),  # three decimals are not thousands here
    (["1.234,50", "5,5"], [1234.5, 5.5]),
    (["1,234.50", "7", "￥2,000", "(3.5)"], [1234.5, 7.0, 2000.0, -3.5]),
])
def test_decimal_marks_are_read_per_column(values, expected):
    frame = pd.DataFrame({"source_row": range(2, 2 + len(values)), "customer_id": "a",
                          "timestamp": "2024-01-01", "amount": values})
    assert validate_transactions(frame, source="x")["amount"].tolist() == expected


def test_contradicting_decimal_marks_are_an_error_not_a_guess():
    frame = pd.DataFrame({"source_row": [2, 3], "customer_id": "a", "timestamp": "2024-01-01",
                          "amount": ["1,234.50", "5,50"]})
    with pytest.raises(DataContractError, match="decimal: ','"):
        validate_transactions(frame, source="x")
    typed = validate_transactions(frame, source="x", decimal=".", invalid_values="exclude")
    assert typed["invalid_reason"].tolist() == [pd.NA, "invalid_amount"]  # 5,50 is no number


def test_infinite_amounts_are_invalid():
    frame = pd.DataFrame({"source_row": [2, 3], "customer_id": "a", "timestamp": "2024-01-01",
                          "amount": ["inf", "5"]})
    with pytest.raises(DataContractError, match="row 2: 'inf'"):
        validate_transactions(frame, source="x")


def test_offsets_and_local_times_share_one_clock():
    frame = pd.DataFrame({"source_row": [2, 3, 4], "customer_id": ["a", "b", "c"],
                          "timestamp": ["2024-01-01 23:00", "2024-01-01 23:00+08:00",
                                        "2024-01-01T15:00:00Z"], "amount": [1, 2, 3]})
    local = validate_transactions(frame, source="x", timezone="Asia/Shanghai")["timestamp"]
    assert local.tolist() == [pd.Timestamp("2024-01-01 23:00")] * 3
    with pytest.raises(DataContractError, match="different UTC offsets"):
        validate_transactions(frame, source="x")
    same_offset = frame.iloc[:2]
    kept = validate_transactions(same_offset, source="x")["timestamp"]
    assert kept.tolist() == [pd.Timestamp("2024-01-01 23:00")] * 2  # the offset's local time


def test_bad_timezone_and_date_format_are_config_errors():
    frame = pd.DataFrame({"source_row": [2], "customer_id": ["a"], "timestamp": ["2024-01-01"],
                          "amount": [1]})
    with pytest.raises(ConfigError, match="Asia/Shanghai"):
        validate_transactions(frame, source="x", timezone="Beijing")
    with pytest.raises(ConfigError, match="date_format"):
        validate_transactions(frame, source="x", date_format="%Q")


def test_customers_may_leave_dates_empty(write_csv):
    rows = [["客户ID", "注册日期", "生日"], ["a", "2023-01-01", ""], ["b", "", "1990-05-01"]]
    data = load_inputs(transactions=write_csv(CHINESE),
                       customers=write_csv(rows, name="c.csv"))
    assert data.customers["signup_date"].isna().tolist() == [False, True]
    assert data.customers["birthday"].iloc[1] == pd.Timestamp("1990-05-01")


def test_sql_over_a_csv_file_keeps_ids_as_text(write_csv):
    path = write_csv([["客户ID", "下单时间", "金额"], ["00123", "2024-01-01", "5"],
                      ["00456", "2024-01-02", "50"]])
    frame = read_table(path, sql="SELECT * FROM input WHERE CAST(金额 AS DOUBLE) > 10")
    assert frame["客户ID"].tolist() == ["00456"]


def test_trailing_delimiters_and_blank_lines(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("customer,date,amount\na,2024-01-01,10,\n\nb,2024-01-02,oops,\n")
    data = load_inputs(transactions=str(path), columns={"customer": "customer_id",
                                                        "date": "timestamp"})
    assert data.transactions["customer_id"].tolist() == ["a", "b"]
    with pytest.raises(DataContractError) as error:
        validate_transactions(data.transactions, source=str(path))
    assert error.value.rows == [(4, "oops")]  # line 4 of the file, after the blank line


def test_corrupt_parquet_and_utf16_without_bom(tmp_path):
    (tmp_path / "x.parquet").write_text("customer,date\n")
    with pytest.raises(DataContractError, match="cannot be read as Parquet"):
        read_table(tmp_path / "x.parquet")
    (tmp_path / "x.csv").write_bytes("客户ID,日期\n".encode("utf-16-le"))
    with pytest.raises(DataContractError, match="is not text in utf-16"):
        read_table(tmp_path / "x.csv", encoding="utf-16")


def test_rows_longer_than_the_header_are_an_error(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("customer,date,amount\na,2024-01-01,10\nb,2024-01-02,1,234\n")
    with pytest.raises(DataContractError, match="line 3 has 4 fields where the header has 3"):
        read_table(path)
    path.write_text("customer,date,amount\na,2024-01-01,10,x\nb,2024-01-02,1,234\n")
    with pytest.raises(DataContractError, match="more fields than the header") as error:
        read_table(path)  # every row is longer: pandas would silently drop the last fields
    assert [row for row, _ in error.value.rows] == [2, 3]
