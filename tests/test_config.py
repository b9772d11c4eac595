"""Config: YAML in/out, overrides, validation messages that name the key."""

from __future__ import annotations

import pytest

from fenlei.config import Config, load_config
from fenlei.errors import ConfigError
from fenlei.resolve import resolve


def test_defaults_roundtrip(tmp_path):
    cfg = resolve(Config(), in_memory=True).cfg
    path = tmp_path / "c.yaml"
    cfg.save(path)
    again = load_config(path)
    assert again.to_dict() == cfg.to_dict()
    # family params are written flat beside the model keys, with defaults filled in; no model
    # named is the tfidf family
    assert again.to_dict()["model"]["name"] == "tfidf" and again.to_dict()["model"]["C"] is None
    # the task's defaults are filled in once the run resolves its config
    assert (again.objective.name, again.train.metric) == ("cross_entropy", "accuracy")


def test_overrides_parse_values():
    cfg = load_config(
        None,
        ["train.lr=3e-5", "train.epochs=2", "model.name=textrnn", "model.hidden_size=16", "data.dev=null"],
    )
    assert cfg.train.lr == pytest.approx(3e-5)
    assert cfg.train.epochs == 2
    assert resolve(cfg, in_memory=True).cfg.model.params["hidden_size"] == 16
    assert cfg.data.dev is None


def test_paths_relative_to_config_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "c.yaml"
    path.write_text("data:\n  train: ../train.tsv\n")
    assert load_config(path).data.train == str((tmp_path / "train.tsv").resolve())


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("train.epochs=two", "train.epochs"),
        ("train.bogus=1", "train.bogus"),
        ("nosection.x=1", "nosection"),
        ("model.name=nope", "unknown model 'nope'"),
        ("model.num_filterz=3", "model.num_filterz"),
        ("optim.schedule=zigzag", "optim.schedule"),
        ("train.progress=maybe", "train.progress"),
        ("data.unseen_labels=ignore", "data.unseen_labels"),
        ("train.lr=-1", "train.lr"),
        ("trainepochs", "section.key=value"),
    ],
)
def test_bad_values_name_the_key(override, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        resolve(load_config(None, [override]), in_memory=True)


def test_bad_yaml_names_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: [1\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.yaml")
