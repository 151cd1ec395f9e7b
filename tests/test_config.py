"""AuditConfig: defaults, TOML and pyproject sources, CLI overrides, validation errors."""

from __future__ import annotations

import pytest

from ftaudit.pipeline import plan
from ftaudit.config import AuditConfig, load_config
from ftaudit.errors import UsageError


def test_defaults_without_a_file(tmp_path):
    config = load_config(None, {}, cwd=tmp_path)
    assert config == AuditConfig()
    assert plan(config).threshold("max_gap") == 0.10
    assert config.output.out == "ftaudit-report" and config.output.fail_on == "fail"


def test_ftaudit_toml_is_found_and_relative_paths_resolve(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\na,x\n")
    (tmp_path / "ftaudit.toml").write_text(
        '[data]\ntrain = "train.csv"\nmax_length = 64\n[thresholds]\nmax_gap = 0.05\n[output]\nfail_on = "warn"\n')
    config = load_config(None, {}, cwd=tmp_path)
    assert config.data.train == str(tmp_path / "train.csv")
    assert config.data.max_length == 64
    assert plan(config).threshold("max_gap") == 0.05
    assert config.output.fail_on == "warn"
    assert config.source.endswith("ftaudit.toml")


def test_pyproject_tool_table_and_cli_overrides_win(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.ftaudit.train]\nlr = 1e-4\nepochs = 5\n')
    config = load_config(None, {"train": {"lr": 3e-5}, "thresholds": {"max_gap": 0.2}}, cwd=tmp_path)
    assert config.train.lr == 3e-5 and config.train.epochs == 5
    assert plan(config).threshold("max_gap") == 0.2


def test_a_pyproject_without_our_table_is_ignored(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert load_config(None, {}, cwd=tmp_path).source == ""


@pytest.mark.parametrize("text, needle", [
    ("[data]\ntrian = 'x.csv'\n", "unknown option data.trian"),
    ("[train]\nepochs = 'three'\n", "train.epochs must be an integer"),
    ("[train]\nlr = true\n", "train.lr must be a number"),
    ("[thresholds]\nmax_gapp = 0.1\n", "unknown threshold 'max_gapp'"),
    ("[nonsense]\nx = 1\n", "unknown section or key 'nonsense'"),
    ("[train]\nlr = -1.0\n", "--lr must be positive"),
    ("[data\n", "not valid TOML"),
    ("[probes.nope]\nx = 1\n", "unknown probe table [probes.nope]"),
    ("[output]\nfail_on = 'never'\n", "output.fail_on must be one of warn, fail, got 'never'"),
    ("[probes.attribution]\nprecision = 'fp8'\n", "probes.attribution.precision must be one of auto, fp32, bf16"),
])
def test_config_file_errors_are_usage_errors(tmp_path, text, needle):
    """Loading checks values; the plan checks names against the registries; both before any work is done."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        plan(load_config(str(path), {}, cwd=tmp_path))
    assert needle in str(info.value)
    assert "\n" not in info.value.one_line()


def test_missing_config_file(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_config(str(tmp_path / "nope.toml"), {}, cwd=tmp_path)


def test_config_is_frozen():
    config = AuditConfig()
    with pytest.raises(Exception):
        config.train.lr = 1.0  # type: ignore[misc]


def test_probe_list_accepts_comma_string(tmp_path):
    config = load_config(None, {"run": {"probes": "gap,drift"}}, cwd=tmp_path)
    assert config.run.probes == ("gap", "drift")
