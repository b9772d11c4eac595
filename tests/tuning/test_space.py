"""Search spaces: every family's declared keys are real config keys, and recipes narrow them."""

from __future__ import annotations

import pytest

from fenlei.config import load_config
from fenlei.errors import ConfigError
from fenlei.models import list_models, make_params, model_class
from fenlei.tuning.limits import parse_duration, parse_size_mb
from fenlei.tuning.space import Choice, Dim, Float, Int, apply_recipe, override
from fenlei.tuning.study import search_space


def _edge_values(dim: Dim) -> list:
    """Both ends of a range, or every choice: the values a sampler can hand the config."""
    if dim.choices is not None:
        return list(dim.choices)
    return [dim.low, dim.high]


# Families that load pretrained weights resolve against their model files: checked below instead.
TRAINED_HERE = [n for n in list_models() if not model_class(n).pretrained_weights]


@pytest.mark.parametrize("name", TRAINED_HERE)
def test_every_value_of_every_declared_key_makes_a_valid_config(name, tiny_data):
    cfg = load_config(None, [f"data.train={tiny_data['train']}", f"model.name={name}"])
    space = search_space(cfg)
    assert space, f"{name} declares no search space"
    for key, dim in space.items():
        for value in _edge_values(dim):
            c = load_config(
                None, [f"data.train={tiny_data['train']}", f"model.name={name}", override(key, value)]
            )
            make_params(name, c.model.params)  # the family's own checks accept it


def test_transformer_space_values_pass_its_params_checks():
    space = search_space(load_config(None, ["model.name=transformer", "data.train=x.tsv"]))
    assert {"train.lr", "train.epochs", "model.layer_decay"} <= set(space)
    for key, dim in space.items():
        if key.startswith("model."):
            for value in _edge_values(dim):
                make_params("transformer", {key.removeprefix("model."): value})


def test_closed_form_family_has_no_loop_keys(tiny_data):
    space = search_space(load_config(None, [f"data.train={tiny_data['train']}", "model.name=tfidf"]))
    assert model_class("tfidf").closed_form
    assert not {"train.lr", "train.epochs"} & set(space)
    assert "model.C" in space


def test_objective_space_joins_the_family_space(tiny_data):
    cfg = load_config(
        None, [f"data.train={tiny_data['train']}", "model.name=textcnn", "objective.name=rdrop"]
    )
    assert "objective.rdrop_alpha" in search_space(cfg)


def test_recipe_narrows_fixes_adds_and_selects_keys():
    space = {"train.lr": Float(1e-4, 1e-2, log=True), "model.ngrams": Choice(1, 2, 3), "model.k": Int(1, 9)}
    out = apply_recipe(
        space,
        {
            "train.lr": [1e-3, 3e-3],
            "model.ngrams": [1, 2],
            "model.k": 4,
            "model.dropout": {"low": 0.1, "high": 0.3},
        },
        None,
    )
    assert (out["train.lr"].low, out["train.lr"].high, out["train.lr"].log) == (1e-3, 3e-3, True)
    assert out["model.ngrams"].choices == (1, 2)
    assert out["model.k"].choices == (4,)
    assert out["model.dropout"].kind == "float"
    assert list(apply_recipe(space, {}, ["model.k"])) == ["model.k"]


@pytest.mark.parametrize(
    ("narrow", "keys", "needle"),
    [
        ({"model.nonsense": 3}, None, "not in this model's search space"),
        ({"train.lr": [1e-2, 1e-4]}, None, "is above high"),
        ({"train.lr": {"low": 0, "high": 1, "log": True}}, None, "log range needs low > 0"),
        ({"train.lr": {"lo": 1}}, None, "unknown field 'lo'"),
        ({"train.lr": [1, 2, 3]}, None, "takes [low, high]"),
        ({}, ["train.momentum"], "tune.keys: train.momentum is not in the search space"),
    ],
)
def test_bad_search_space_names_the_key(narrow, keys, needle):
    with pytest.raises(ConfigError, match=None) as err:
        apply_recipe({"train.lr": Float(1e-4, 1e-2, log=True)}, narrow, keys)
    assert needle in str(err.value)


def test_list_choices_travel_through_optuna_as_text_and_come_back():
    dim = Choice([3, 4, 5], [2, 3])
    encoded = dim.distribution().choices
    assert all(isinstance(c, str) for c in encoded)
    assert dim.value(encoded[0]) == [3, 4, 5]
    assert override("model.filter_sizes", [3, 4, 5]) == "model.filter_sizes=[3, 4, 5]"


def test_durations_and_sizes_parse():
    assert parse_duration("90s") == 90 and parse_duration("30m") == 1800 and parse_duration("1.5h") == 5400
    assert parse_size_mb("20MB") == 20 and parse_size_mb("500kB") == 0.5
    for bad in ("soon", "-5m", "0"):
        with pytest.raises(ConfigError, match="--time"):
            parse_duration(bad)
    with pytest.raises(ConfigError, match="--max-size"):
        parse_size_mb("big")
