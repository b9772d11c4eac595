"""ONNX export of every model family: parity with torch, dynamic batch/length, int8, the onnx backend."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import FAST
from fenlei.errors import FenleiError
from fenlei.inference.onnx_export import export_onnx
from fenlei.inference.onnx_predictor import OnnxPredictor
from fenlei.inference.predictor import Predictor
from fenlei.models import list_models, model_class


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    yield


def _tiny(name: str, workdir) -> list[str]:
    """The family's own tiny params as --set overrides."""
    return [
        f"model.{k}={json.dumps(list(v) if isinstance(v, tuple) else v)}"
        for k, v in model_class(name).tiny_params(workdir).items()
    ]


def _train(cli, tmp_path, tiny_data, name: str, extra: list[str]) -> str:
    run = tmp_path / name
    sets = [
        f"data.train={tiny_data['train']}",
        f"data.test={tiny_data['test']}",
        f"model.name={name}",
        *FAST,
        *extra,
    ]
    code, _, err = cli("train", "-o", str(run), "--quiet", *[x for s in sets for x in ("--set", s)])
    assert code == 0, err
    return str(run)


@pytest.mark.parametrize("name", list_models())
def test_every_family_exports_with_parity(cli, tmp_path, tiny_data, name):
    run = _train(cli, tmp_path, tiny_data, name, [*_tiny(name, tmp_path), "data.max_length=40"])
    meta = export_onnx(run, quantize="int8")
    fp32, int8 = meta["parity"]["fp32"], meta["parity"]["int8"]
    assert fp32["max_abs_diff"] < 1e-4 and fp32["argmax_agreement"] == 1.0, fp32
    assert int8["argmax_agreement"] >= 0.9, int8
    # Batches of other sizes and lengths than the export example, results in input order.
    texts = ["good", "the film was really quite boring and the plot was dull , awful", "fine acting", "bad"]
    torch_probs = Predictor(run).predict_proba(texts)
    onnx = OnnxPredictor(run, quantized=False, batch_size=3)
    assert np.abs(onnx.predict_proba(texts) - torch_probs).max() < 1e-4
    assert np.abs(onnx.predict_proba(texts[1:2]) - torch_probs[1:2]).max() < 1e-4
    assert OnnxPredictor(run).backend == "onnx-int8"


def test_fasttext_joint_pooling_exports_with_parity(cli, tmp_path, tiny_data):
    tiny = [s for s in _tiny("fasttext", tmp_path) if not s.startswith(("model.ngram_dim", "model.dropout"))]
    run = _train(cli, tmp_path, tiny_data, "fasttext", [*tiny, "model.solver=sgd", "data.max_length=40"])
    fp32 = export_onnx(run)["parity"]["fp32"]
    assert fp32["max_abs_diff"] < 1e-4 and fp32["argmax_agreement"] == 1.0, fp32
    assert Predictor(run).model.joint


def test_cli_export_and_predict_with_the_onnx_backend(cli, tmp_path, tiny_data):
    run = _train(cli, tmp_path, tiny_data, "textcnn", _tiny("textcnn", tmp_path))
    code, out, err = cli("export", run, "--format", "onnx", "--quantize", "int8")
    assert code == 0, err
    assert "dynamic batch and length" in out and "argmax agreement 100.0000%" in out
    code, out, err = cli("predict", run, "a great film", "dull and boring", "--backend", "onnx-fp32")
    assert code == 0, err
    onnx_rows = [json.loads(line) for line in out.splitlines()]
    _, out, _ = cli("predict", run, "a great film", "dull and boring", "--backend", "torch")  # fp32, as onnx
    torch_rows = [json.loads(line) for line in out.splitlines()]
    assert [r["label"] for r in onnx_rows] == [r["label"] for r in torch_rows]
    for a, b in zip(onnx_rows, torch_rows, strict=True):
        assert a["probability"] == pytest.approx(b["probability"], abs=1e-5)


def test_onnx_backend_errors(cli, tmp_path, tiny_data):
    run = _train(cli, tmp_path, tiny_data, "fasttext", _tiny("fasttext", tmp_path))
    with pytest.raises(FenleiError, match="no ONNX export; run `fenlei export"):
        OnnxPredictor(run)
    export_onnx(run)  # fp32 only
    with pytest.raises(FenleiError, match="no int8 model"):
        OnnxPredictor(run, quantized=True)
    (tmp_path / "fasttext" / "model.onnx").write_bytes(b"garbage")
    with pytest.raises(FenleiError, match="model.onnx: cannot be loaded by onnxruntime"):
        OnnxPredictor(run)
    code, _, err = cli("export", run, "--quantize", "int4")
    assert code == 2 and "only int8" in err
