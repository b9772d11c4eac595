"""The one small Registry behind models, objectives, encoders, readers, tasks and backends."""

from __future__ import annotations

import pytest

from fenlei.errors import ConfigError, FenleiError
from fenlei.registry import Registry


def test_register_get_names_and_membership():
    reg: Registry = Registry("widget")

    @reg.register("b")
    def b():
        return "B"

    reg.register("a")(str.upper)
    assert reg.get("b") is b and reg.get("a") is str.upper
    assert reg.names() == ["a", "b"] and list(reg) == ["a", "b"] and len(reg) == 2
    assert "a" in reg and "c" not in reg


def test_unknown_name_lists_the_known_ones_in_the_registry_error_type():
    reg: Registry = Registry("widget", ConfigError)
    reg.register("gear")(object)
    with pytest.raises(ConfigError, match="unknown widget 'cog'; known widgets: gear"):
        reg.get("cog")
    empty: Registry = Registry("thing")
    with pytest.raises(FenleiError, match=r"known things: \(none\)"):
        empty.get("x")


def test_a_name_registers_once():
    reg: Registry = Registry("widget")
    reg.register("a")(object)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(object)


def test_the_package_registries_are_populated():
    from fenlei.data.encoders import encoder_class
    from fenlei.data.readers import READERS
    from fenlei.inference import BACKENDS
    from fenlei.models import list_models
    from fenlei.objectives import list_objectives
    from fenlei.task import TASKS

    assert {"fasttext", "textcnn", "transformer"} <= set(list_models())
    assert {"cross_entropy", "bce", "rdrop", "uda", "distill", "focal"} <= set(list_objectives())
    assert encoder_class("vocab").streamable and not encoder_class("hf").streamable
    assert {"tsv", "csv", "jsonl", "aclimdb", "cola", "thucnews"} <= set(READERS.names())
    assert TASKS.names() == ["multi_label", "single_label"]
    assert {"auto", "torch", "torch-bf16", "numpy", "onnx", "onnx-fp32", "onnx-int8"} == set(BACKENDS.names())
