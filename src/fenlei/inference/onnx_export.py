"""``fenlei export RUN_DIR --format onnx [--quantize int8]``: ONNX files next to the run's weights,
checked against the torch model on the run's own texts.

The graph takes ``input_ids`` [batch, length] and ``lengths`` [batch] (int64) and returns the
probabilities; a run with ``data.window`` also takes ``windows`` [documents] (int64: how many
rows of the batch are each document's windows, data/windows.py) and returns one row per
document. Batch and length are dynamic where ``torch.export`` can keep them so; a model whose
graph fixes the length (DPCNN's pyramid, the attention RNNs) is exported at
``data.max_length`` and the ONNX predictor pads every batch to it, which the models' masking
makes exact.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from fenlei.data.batching import collate
from fenlei.data.windows import Windows
from fenlei.errors import FenleiError
from fenlei.inference.predictor import Predictor
from fenlei.rundir import ONNX as ONNX_FILE
from fenlei.rundir import ONNX_INT8 as INT8_FILE
from fenlei.rundir import ONNX_META as META_FILE
from fenlei.task import Task

OPSET = 18
MIN_LENGTH = 16  # batches are padded to at least this many tokens for the ONNX graph


class _Probabilities(torch.nn.Module):
    """The run's model with its output activation, taking plain tensors (ONNX has no dicts)."""

    def __init__(self, model: torch.nn.Module, task: Task) -> None:
        super().__init__()
        self.model, self.task = model, task

    def forward(
        self, input_ids: torch.Tensor, lengths: torch.Tensor, windows: torch.Tensor | None = None
    ) -> torch.Tensor:
        batch = {"input_ids": input_ids, "lengths": lengths}
        if windows is not None:
            batch["windows"] = windows
        logits = self.model(batch)
        return self.task.probabilities(logits.float())


def export_onnx(run_dir: str | Path, quantize: str | None = None, max_texts: int = 0) -> dict:
    """Write model.onnx (and model.int8.onnx) and onnx.json; returns the parity report."""
    try:
        import onnxruntime as ort  # noqa: F401
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError:
        raise FenleiError("ONNX export needs the export extra: pip install 'fenlei[export]'") from None
    if quantize not in (None, "int8"):
        raise FenleiError(f"--quantize {quantize}: only int8 is supported")
    predictor = Predictor(run_dir)
    run_dir = predictor.run_dir
    texts, gold = _parity_texts(predictor, max_texts)
    module = _Probabilities(predictor.model, predictor.task).eval()
    t0 = time.perf_counter()
    fixed = _export(module, predictor, texts, run_dir / ONNX_FILE)
    meta: dict = {
        "opset": OPSET,
        "inputs": _input_names(predictor),
        "output": "probabilities",
        "fixed_length": fixed,
        "min_length": MIN_LENGTH,
        "files": {"fp32": ONNX_FILE},
        "export_seconds": time.perf_counter() - t0,
    }
    if quantize == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Dynamic quantisation: int8 weights (one scale per output channel), activations quantised
        # on the fly, matrix products only. MiniLM on SST-2, argmax agreement with fp32: 95.8%
        # with onnxruntime's defaults, 98.5% per channel; 99.3% when the products fed by a GELU
        # also stay in float (one activation scale per tensor cannot hold GELU's outliers).
        quantize_dynamic(
            str(run_dir / ONNX_FILE),
            str(run_dir / INT8_FILE),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm"],
            per_channel=True,
            nodes_to_exclude=_after_gelu(run_dir / ONNX_FILE),
        )
        meta["files"]["int8"] = INT8_FILE
    (run_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    from fenlei.inference.onnx_predictor import OnnxPredictor

    reference = predictor.predict_proba(texts)

    def compare(quantized: bool) -> dict:
        other = OnnxPredictor(run_dir, quantized=quantized).predict_proba(texts)
        return _compare(reference, other, gold, predictor)

    meta["parity"] = {"texts": len(texts), "fp32": compare(False)}
    if quantize == "int8":
        meta["parity"]["int8"] = compare(True)
    if gold is not None:
        meta["parity"]["torch_accuracy"] = _accuracy(predictor, gold, reference)
    (run_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def _input_names(predictor: Predictor) -> list[str]:
    return ["input_ids", "lengths"] + (["windows"] if predictor.encoder.window else [])


def _example(predictor: Predictor, texts: list[str]) -> dict[str, torch.Tensor]:
    """A batch of varied lengths (batch > 1); with windows, one document of several windows."""
    picked = sorted(texts, key=len)[-4:] + ["a"]
    if predictor.encoder.window:
        long = " ".join(picked) or "a"
        for _ in range(16):  # doubled until it takes more than one window
            if isinstance(predictor.encoder.encode([long])[0], Windows):
                break
            long = f"{long} {long}"
        picked.append(long)
    example = collate(predictor.encoder.encode(picked), predictor.encoder.pad_id, None)
    if predictor.encoder.window and "windows" not in example:  # a window as long as max_length
        example["windows"] = torch.ones(len(picked), dtype=torch.int64)
    return example


def _export(module: torch.nn.Module, predictor: Predictor, texts: list[str], path: Path) -> int | None:
    """Export with dynamic batch and length; if the graph cannot keep the length dynamic, export at
    ``data.max_length``. Returns the fixed length, or None."""
    example = _example(predictor, texts)
    ids, lengths, windows = example["input_ids"], example["lengths"], example.get("windows")
    names = _input_names(predictor)
    # Shapes below the example's length may take other branches (a CNN padding a text shorter
    # than its widest filter), so the ONNX predictor pads every batch to at least MIN_LENGTH;
    # the models' masking makes extra padding exact.
    if ids.shape[1] < MIN_LENGTH:
        ids = torch.nn.functional.pad(ids, (0, MIN_LENGTH - ids.shape[1]), value=predictor.encoder.pad_id)
    batch_dim = torch.export.Dim("batch", min=1, max=65536)
    length_dim = torch.export.Dim("length", min=1, max=1 << 16)
    docs = {"windows": {0: torch.export.Dim("documents", min=1, max=65536)}} if windows is not None else {}
    args = (ids, lengths) if windows is None else (ids, lengths, windows)
    try:
        _onnx_export(
            module,
            args,
            {"input_ids": {0: batch_dim, 1: length_dim}, "lengths": {0: batch_dim}, **docs},
            names,
            path,
        )
        if _same_at_other_lengths(path, module, ids, lengths, windows, predictor.encoder.pad_id):
            return None
    except Exception:  # the length got specialised (or could not be traced): fall back below
        pass
    fixed = int(predictor.config.data.max_length)
    if predictor.encoder.window:
        raise FenleiError(
            "the windowed model did not export with a dynamic length; export it without data.window"
        )
    if ids.shape[1] > fixed:
        raise FenleiError(f"example batch longer than data.max_length ({fixed}); cannot export")
    ids = torch.nn.functional.pad(ids, (0, fixed - ids.shape[1]), value=predictor.encoder.pad_id)
    _onnx_export(
        module, (ids, lengths), {"input_ids": {0: batch_dim}, "lengths": {0: batch_dim}}, names, path
    )
    return fixed


def _onnx_export(module, args, dynamic_shapes, names: list[str], path: Path) -> None:
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            args,
            input_names=names,
            output_names=["probabilities"],
            dynamic_shapes=dynamic_shapes,
            opset_version=OPSET,
            dynamo=True,
            verbose=False,
        )
        program.save(str(path), external_data=False)


def _same_at_other_lengths(
    path: Path, module, ids: torch.Tensor, lengths: torch.Tensor, windows: torch.Tensor | None, pad_id: int
) -> bool:
    """True when onnxruntime gives torch's probabilities for batches padded longer and shorter
    than the export example (and, windowed, other window counts). Running is not enough: a loop
    unrolled for the example's length (DPCNN's pyramid) still runs at other lengths, with the
    wrong number of stages."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    longest = int(lengths.argmax())
    real = ids[longest, : int(lengths[longest])]
    tiled = real.repeat(4)[: 4 * len(real) + 3].unsqueeze(0)  # a longer real text, not just more padding
    one = torch.ones(1, dtype=torch.int64)
    short = lengths == lengths.min()
    cases = [
        (torch.nn.functional.pad(ids, (0, 2 * ids.shape[1] + 7), value=pad_id), lengths, windows),
        (tiled, torch.tensor([tiled.shape[1]]), one),
        (ids[short][:1], lengths[short][:1], one),  # one short text
    ]
    if windows is not None:  # every row its own document; then all rows one document
        rows = torch.ones(len(lengths), dtype=torch.int64)
        cases += [(ids, lengths, rows), (ids, lengths, torch.tensor([len(lengths)]))]
    try:
        for case_ids, case_lengths, case_windows in cases:
            args = (case_ids, case_lengths) if windows is None else (case_ids, case_lengths, case_windows)
            with torch.no_grad():
                want = module(*args).numpy()
            feed = dict(zip(["input_ids", "lengths", "windows"], (a.numpy() for a in args), strict=False))
            got = session.run(None, feed)[0]
            if got.shape != want.shape or np.abs(got - want).max() > 1e-4:
                return False
    except Exception:
        return False
    return True


def _after_gelu(path: Path) -> list[str]:
    """Names of the MatMul/Gemm nodes whose input comes straight from a GELU."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    # A Gelu op, or the dynamo exporter's decomposition of one (its last node is named node_gelu...).
    gelu_outputs = {o for n in graph.node if "gelu" in (n.op_type + n.name).lower() for o in n.output}
    return [n.name for n in graph.node if n.op_type in ("MatMul", "Gemm") and n.input[0] in gelu_outputs]


def _parity_texts(predictor: Predictor, max_texts: int) -> tuple[list[str], np.ndarray | None]:
    """The run's test (else dev) texts from predictions.tsv, with their gold labels."""
    pred = predictor.rundir.read_predictions(predictor.task, predictor.label_names)
    if pred is None:
        return ["a short text", "another one, a little longer than the first"], None
    n = max_texts or len(pred.texts)
    return pred.texts[:n], pred.y_true[:n]


def _compare(reference: np.ndarray, other: np.ndarray, gold: np.ndarray | None, predictor: Predictor) -> dict:
    out = {
        "max_abs_diff": float(np.abs(reference - other).max()) if len(reference) else 0.0,
        "argmax_agreement": float(np.mean(reference.argmax(1) == other.argmax(1))) if len(reference) else 1.0,
    }
    if gold is not None:
        out["accuracy"] = _accuracy(predictor, gold, other)
    return out


def _accuracy(predictor: Predictor, gold: np.ndarray, probs: np.ndarray) -> float:
    """Accuracy at the run's decision rule (subset accuracy for multi-label)."""
    return float(predictor.task.score(gold, probs, predictor.label_names)["accuracy"])
