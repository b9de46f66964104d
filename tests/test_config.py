import pytest

from analysis.config import check_parameters, load_run_config
from analysis.errors import ConfigError

DECLARED = {
    "language": {"inferred_type_name": "str", "help": "zh or en"},
    "demo_customers": {"inferred_type_name": "int", "help": "size"},
    "columns": {"inferred_type_name": "dict", "help": "mapping"},
    "observation_end": {"inferred_type_name": "str", "help": "ISO date"},
}


def write(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_to_parameters(tmp_path):
    (tmp_path / "data").mkdir()
    config = load_run_config(write(tmp_path, """
transactions: data/orders.csv
observation_end: 2024-12-31
columns: {客户: customer_id}
notebooks: [10-data-quality.ipynb]
run_name: monthly
parameters: {10-data-quality: {language: en, customers: data/c.csv}}
"""))
    assert config.parameters["observation_end"] == "2024-12-31"  # a YAML date becomes a string
    assert config.parameters["transactions"] == str(tmp_path / "data" / "orders.csv")
    assert config.notebooks == ["10-data-quality"]
    assert config.per_notebook == {"10-data-quality": {
        "language": "en", "customers": str(tmp_path / "data" / "c.csv")}}
    assert config.run_name == "monthly"


@pytest.mark.parametrize("text, message", [
    ("- a\n- b\n", "must be a mapping"),
    ("notebooks: 10-data-quality\n", "must be a list"),
    ("parameters: [1]\n", "must map notebook names"),
    ("a: [unclosed\n", "not valid YAML"),
])
def test_bad_config_shapes(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_run_config(write(tmp_path, text))


def test_missing_config(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_run_config(tmp_path / "nope.yaml")


def test_unknown_parameter_is_rejected_with_a_suggestion():
    with pytest.raises(ConfigError, match="unknown parameter 'langauge'.*Did you mean 'language'"):
        check_parameters({"langauge": "en"}, DECLARED, where="the selected notebooks")


@pytest.mark.parametrize("given", [{"demo_customers": "5000"}, {"columns": ["a"]},
                                   {"demo_customers": True}, {"language": 3}])
def test_wrong_type_is_rejected(given):
    with pytest.raises(ConfigError, match="must be"):
        check_parameters(given, DECLARED, where="x")


def test_right_types_pass():
    check_parameters({"demo_customers": 10, "columns": {}, "language": "en"}, DECLARED, where="x")
