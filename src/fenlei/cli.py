"""The ``fenlei`` command: train, evaluate, predict, explain, compare, tune, auto, report, serve, export,
data, models.

A FenleiError (anything the user can fix) prints as one line and exits with code 2.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import typer

from fenlei.cli_audit import audit  # registered below, with the search commands
from fenlei.cli_explain import explain  # registered below
from fenlei.cli_search import SetOpt, auto, tune  # the search commands, registered below
from fenlei.errors import ERROR_FILE_ENV, FenleiError, TrainingInterrupted

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train, compare and use text classifiers (English and Chinese).",
)
data_app = typer.Typer(no_args_is_help=True, help="Built-in data sets: list, fetch, show; profile any files.")
app.add_typer(data_app, name="data")


@app.command()
def train(
    config: str = typer.Argument(None, help="YAML config; omit to start from the defaults."),
    set_: list[str] = SetOpt,
    output: Path = typer.Option(
        None, "--output", "-o", help="Run directory (default runs/<data>-<model>-<time>)."
    ),
    resume: Path = typer.Option(
        None,
        "--resume",
        help="Continue this run directory from its last checkpoint, with its saved config.yaml "
        "(--set may change train.epochs and other keys that do not change the results so far).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete -o first if it holds a run."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress bar or tables; only the final line."
    ),
) -> None:
    """Train a model, evaluate it on dev and test, and write the run directory."""
    from fenlei.config import load_config
    from fenlei.training.pipeline import final_line
    from fenlei.training.pipeline import train as run_train

    if resume is not None:
        from fenlei.training.pipeline import config_for_resume

        if output is not None and output.resolve() != resume.resolve():
            raise FenleiError(f"--resume {resume} and -o {output} name different runs; give only --resume")
        cfg, output = config_for_resume(resume, config, set_ or []), resume
    else:
        cfg = load_config(config, set_ or [])
    if overwrite and output is not None and output.exists() and resume is None:
        shutil.rmtree(output)
    result = run_train(cfg, output, quiet=quiet, resume=resume is not None)
    if result.is_main:  # under torchrun only rank 0 prints
        print(final_line(result.metrics, result.run_dir))


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="A finished run directory."),
    data: Path = typer.Option(..., "--data", "-d", help="A labelled file in the run's data format."),
    unseen_labels: str = typer.Option(None, help="error | skip: labels the run never saw."),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the metrics JSON here."),
) -> None:
    """Print metrics JSON of a trained run on any labelled file."""
    from fenlei.evaluation.evaluate import evaluate_file

    metrics = evaluate_file(run_dir, data, unseen_labels)
    text = json.dumps(metrics, indent=2, ensure_ascii=False)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    print(text)


@app.command()
def predict(
    run_dir: Path = typer.Argument(..., help="A finished run directory."),
    texts: list[str] = typer.Argument(None, help="Texts to classify; none = read --file or stdin."),
    file: str = typer.Option(None, "--file", "-f", help="A file with one text per line ('-' = stdin)."),
    top_k: int = typer.Option(1, "--top-k", "-k", help="How many labels to return per text."),
    backend: str = typer.Option(
        "auto",
        help="auto (numpy for fastText; torch-bf16 for TextCNN on a CPU with AMX; else torch), torch "
        "(fp32), torch-bf16, numpy, onnx (int8 if exported so), onnx-fp32.",
    ),
) -> None:
    """Print one JSON line per text: label, probability and the top-k labels."""
    from fenlei.cli_input import read_texts

    predictor = _predictor(run_dir, backend)
    items = read_texts(texts, file, predictor.config.data.encoding)
    for result in predictor.predict(items, top_k=top_k):
        print(json.dumps(result, ensure_ascii=False))


def _predictor(run_dir: Path, backend: str):
    from fenlei.inference import load

    return load(run_dir, backend)


@app.command()
def export(
    run_dir: Path = typer.Argument(..., help="A finished run directory."),
    format_: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
    quantize: str = typer.Option(None, "--quantize", help="int8: also write a dynamically quantised model."),
    max_texts: int = typer.Option(0, help="Parity check on the first N test texts (0 = all)."),
) -> None:
    """Export a run to ONNX (dynamic batch and length) and check it against the torch model."""
    if format_ != "onnx":
        raise FenleiError(f"--format {format_}: only onnx is supported")
    from fenlei.inference.onnx_export import export_onnx

    meta = export_onnx(run_dir, quantize, max_texts)
    fixed = meta["fixed_length"]
    shape = f"length fixed at {fixed} (padded)" if fixed else "dynamic batch and length"
    print(f"wrote {', '.join(str(run_dir / f) for f in meta['files'].values())} ({shape})")
    parity = meta["parity"]
    for kind in ("fp32", "int8"):
        if kind in parity:
            p = parity[kind]
            acc = f", accuracy {p['accuracy']:.4f}" if "accuracy" in p else ""
            print(
                f"parity {kind} on {parity['texts']} texts: max |dp| {p['max_abs_diff']:.2e}, "
                f"argmax agreement {p['argmax_agreement']:.4%}{acc}"
            )
    if "torch_accuracy" in parity:
        print(f"torch accuracy on the same texts: {parity['torch_accuracy']:.4f}")


@app.command()
def compare(
    configs: list[str] = typer.Argument(..., help="Configs to train on the same data."),
    output: Path = typer.Option(
        Path("runs/compare"), "--output", "-o", help="Folder for the runs, compare.json and compare.html."
    ),
    seeds: int = typer.Option(
        1, "--seeds", min=1, help="Train each config with seeds 1..N (1: its own seed)."
    ),
    set_: list[str] = SetOpt,
) -> None:
    """Train several configs, print a comparison table, write compare.json and compare.html."""
    from rich.console import Console
    from rich.table import Table

    from fenlei.evaluation.compare import compare as run_compare
    from fenlei.evaluation.compare_report import SUMMARY_HEADER, summary_rows, write_compare_report

    rows = run_compare(configs, output, set_ or [], seeds=seeds)
    models = json.loads((output / "compare.json").read_text(encoding="utf-8"))["models"]
    title = f"fenlei compare -> {output}" + (f" (mean ± std over {seeds} seeds)" if seeds > 1 else "")
    table = Table(title=title)
    for col in SUMMARY_HEADER:
        table.add_column(col, justify="left" if col in ("model", "metric", "runs ok") else "right")
    for cells in summary_rows(models):
        style = "red" if cells[2] == "failed" else None
        table.add_row(*cells, style=style)
    Console(width=150).print(table)
    print(write_compare_report(output))
    if any(row.status != "ok" for row in rows):
        raise typer.Exit(1)


@app.command()
def serve(
    run_dirs: list[str] = typer.Argument(
        ..., help="Run directories, or name=RUN_DIR to choose the URL name."
    ),
    host: str = typer.Option("127.0.0.1", help="Interface to bind; 0.0.0.0 exposes it to the network."),
    port: int = typer.Option(8000, help="TCP port."),
    token: str = typer.Option(
        None, envvar="FENLEI_TOKEN", help="Require 'Authorization: Bearer TOKEN' (or set FENLEI_TOKEN)."
    ),
    backend: str = typer.Option(
        "torch", help="torch, or onnx (from `fenlei export`; int8 if exported so), onnx-fp32, onnx-int8."
    ),
    max_texts: int = typer.Option(256, help="Texts per request (422 above)."),
    max_chars: int = typer.Option(20_000, help="Characters per text (422 above)."),
    max_batch: int = typer.Option(64, help="Texts per forward pass, across concurrent requests."),
    max_wait_ms: float = typer.Option(5.0, help="How long a request waits for others to batch with."),
) -> None:
    """Serve run directories over HTTP: POST /predict /explain, GET /health /labels /metadata, demo at /."""
    try:
        import uvicorn

        from fenlei.serving.app import ServeSettings, create_app, load_predictors
    except ImportError as err:
        raise FenleiError(
            f"serving needs the serve extra ({err.name} is missing): pip install 'fenlei[serve]'"
        ) from None
    predictors = load_predictors(run_dirs, backend)  # every run is checked before the port opens
    settings = ServeSettings(max_texts, max_chars, max_batch, max_wait_ms, token or None)
    names = ", ".join(predictors)
    print(f"serving {names} on http://{host}:{port} (demo page at /, API docs at /docs)", file=sys.stderr)
    uvicorn.run(create_app(predictors, settings), host=host, port=port, log_level="warning")


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A finished run directory."),
    output: Path = typer.Option(None, "--output", "-o", help="HTML file (default RUN_DIR/report.html)."),
) -> None:
    """Write a self-contained HTML report (plots embedded, also saved under plots/)."""
    from fenlei.evaluation.report import write_report

    print(write_report(run_dir, output))


app.command()(tune)
app.command()(auto)
app.command()(explain)
app.command()(audit)


@app.command()
def models() -> None:
    """List registered models and objectives with their parameters and defaults."""
    import dataclasses

    from fenlei.models import list_models, model_class
    from fenlei.objectives import list_objectives, objective_spec

    print("models (model.name):")
    for name in list_models():
        cls = model_class(name)
        params = ", ".join(f"{f.name}={_default(f)}" for f in dataclasses.fields(cls.params_class))
        print(f"  {name:<12} [{'/'.join(cls.tokenizer_kinds)}] {params}")
        print(f"  {'':<12} tune: {_space_line(cls.params_class, 'model', not cls.closed_form)}")
    print("objectives (objective.name):")
    for name in list_objectives():
        spec = objective_spec(name)
        params = ", ".join(f"{f.name}={_default(f)}" for f in dataclasses.fields(spec.params_class))
        print(f"  {name:<14} [{spec.needs.labels}] {params or '-'}  {spec.description}")
        space = _space_line(spec.params_class, "objective", False)
        if space != "-":
            print(f"  {'':<14} tune: {space}")


def _space_line(params_class: type, section: str, loop: bool) -> str:
    """The search space ``fenlei tune`` uses for a family or an objective, in one line."""
    from fenlei.tuning.space import LOOP_SPACE, declared_space, merge_spaces

    space = merge_spaces(LOOP_SPACE if loop else {}, declared_space(params_class, section))
    return ", ".join(f"{k} {d.describe()}" for k, d in space.items()) or "-"


def _default(f) -> str:
    import dataclasses

    if f.default is not dataclasses.MISSING:
        return repr(f.default)
    if f.default_factory is not dataclasses.MISSING:
        return repr(f.default_factory())
    return "?"


@data_app.command("list")
def data_list() -> None:
    """List the built-in data sets: language, labels, rows per split, size on disk once fetched."""
    from fenlei.data.catalog import disk_bytes, list_datasets

    specs = list_datasets()
    width = max(len(spec.name) for spec in specs)
    print(f"{'name':<{width}}  lang  labels   train /    dev /   test   on disk  description")
    for spec in specs:
        rows = " / ".join(
            f"{spec.sizes[s]:>6,}" if s in spec.sizes else "     -" for s in ("train", "dev", "test")
        )
        size = disk_bytes(spec.name)  # None until fetched (or found in FENLEI_DATA_DIR)
        disk = "-" if size is None else f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"
        cells = [f"{spec.name:<{width}}", f"{spec.language:<4}", f"{spec.num_classes:>6}", rows, f"{disk:>8}"]
        print("  ".join([*cells, spec.description]))


@data_app.command("fetch")
def data_fetch(name: str = typer.Argument(..., help="A data set from `fenlei data list`.")) -> None:
    """Download and convert a data set into the cache (once), then print its files."""
    from fenlei.data.catalog import fetch

    for split, path in fetch(name).items():
        print(f"{split}\t{path}")


@data_app.command("show")
def data_show(name: str = typer.Argument(..., help="A data set from `fenlei data list`.")) -> None:
    """Describe a data set: source, licence, files and a few examples."""
    from fenlei.data.catalog import show

    print(show(name))


@data_app.command("profile")
def data_profile(
    files: list[Path] = typer.Argument(..., help="The train file, then any dev/test files (named by stem)."),
    format_: str = typer.Option("auto", "--format", help="auto (from the name), tsv, csv, jsonl, ..."),
    text_column: str = typer.Option("text", help="Column (or JSON key) holding the text."),
    label_column: str = typer.Option("label", help="Column holding the label ('' = text only)."),
    multi_label: bool = typer.Option(
        False, "--multi-label", help="A list of labels per row ('|' in TSV/CSV)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the profile as JSON instead."),
) -> None:
    """Profile data files: language, lengths, classes, repeats, conflicts, train/dev/test overlap."""
    from fenlei.data.profile import profile_data, show_profile
    from fenlei.data.readers import read_examples
    from fenlei.task import make_task

    cells = make_task({"multi_label": multi_label}).cells
    named = {}
    for i, path in enumerate(files):
        name = "train" if i == 0 else path.name.split(".")[0]
        name = f"{name}-{i + 1}" if name in named or not name else name
        columns = {"text_column": text_column, "label_column": label_column or None}
        named[name] = read_examples(path, format=format_, split=name, cells=cells, **columns)
    profile = profile_data(named)
    if as_json:
        print(json.dumps(profile.to_dict(), indent=2, ensure_ascii=False))
    else:
        show_profile(profile, file=sys.stdout)


def _record_error(line: str) -> None:
    import os

    path = os.environ.get(ERROR_FILE_ENV)
    if path:
        Path(path).write_text(line + "\n", encoding="utf-8")


def main() -> None:
    """Console entry point: user errors become one line and exit code 2 (130 when interrupted)."""

    try:
        app()
    except TrainingInterrupted as err:  # a checkpoint was saved: exit like an interrupted command
        print(f"interrupted: {err}", file=sys.stderr)
        _record_error(f"interrupted: {err}")
        sys.exit(130)
    except FenleiError as err:
        print(f"error: {err}", file=sys.stderr)
        _record_error(f"error: {err}")
        sys.exit(2)
    except Exception as err:  # a bug: keep the traceback, but let a parent compare name the cause
        _record_error(f"{type(err).__name__}: {err}")
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
