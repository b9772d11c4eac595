"""``fenlei explain``: why a run gave its label (tokens coloured by attribution), and how faithful
those explanations are (``--faithfulness``).

Registered on the app in cli.py; the work is in fenlei.inference, imported when the command runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from fenlei.errors import FenleiError


def explain(
    run_dir: Path = typer.Argument(..., help="A finished run directory."),
    texts: list[str] = typer.Argument(None, help="Texts to explain; '-' or none = read --file or stdin."),
    file: str = typer.Option(None, "--file", "-f", help="A file with one text per line ('-' = stdin)."),
    label: str = typer.Option(None, "--label", "-l", help="Explain this label (default: the predicted one)."),
    top: int = typer.Option(5, "--top", min=1, help="Tokens listed for and against the label."),
    html: Path = typer.Option(None, "--html", help="Also write a self-contained HTML page here."),
    json_out: Path = typer.Option(None, "--json", help="Also write the explanations (or figures) as JSON."),
    data: Path = typer.Option(None, "--data", "-d", help="With --faithfulness: the texts to sample from."),
    faithful: bool = typer.Option(
        False, "--faithfulness", help="Score the explanations on --data: remove top tokens vs random ones."
    ),
    samples: int = typer.Option(500, "--samples", min=1, help="With --faithfulness: texts sampled."),
    seed: int = typer.Option(
        0, "--seed", help="With --faithfulness: seed of the sample and the random tokens."
    ),
) -> None:
    """Colour each token by how much it pushed the model toward (green) or away from (red) the label."""
    from fenlei.inference import load

    if faithful or data is not None:
        if not (faithful and data is not None):
            raise FenleiError(
                "--faithfulness needs --data FILE (texts to sample), and --data is only for "
                "--faithfulness; to explain a file's texts use --file FILE"
            )
        if texts or file:
            raise FenleiError("--faithfulness reads its texts from --data; leave out the texts and --file")
        _faithfulness(load(run_dir, "torch"), run_dir, data, samples, seed, json_out)
        return
    from fenlei.cli_input import read_texts
    from fenlei.inference.explain_render import html_page, print_terminal

    predictor = load(run_dir, "torch")
    items = read_texts(texts, file, predictor.config.data.encoding)
    explanations = _explainer(predictor)(items, label=label)
    print_terminal(explanations, top=top, file=sys.stdout)
    if html is not None:
        html.write_text(html_page(explanations, f"fenlei explain: {run_dir.name}", top), encoding="utf-8")
        print(f"wrote {html}", file=sys.stderr)
    if json_out is not None:
        body = [e.to_dict() for e in explanations]
        json_out.write_text(json.dumps(body, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _explainer(predictor):
    """The predictor's ``explain``, or a one-line error for a backend that has none (ONNX)."""
    fn = getattr(predictor, "explain", None)
    if fn is None:
        backend = getattr(predictor, "backend", "this")
        raise FenleiError(
            f"the {backend} backend cannot explain; use the run directory with the torch backend"
        )
    return fn


def _faithfulness(
    predictor, run_dir: Path, data: Path, samples: int, seed: int, json_out: Path | None
) -> None:
    """Print the comprehensiveness/sufficiency table; save it as the run's faithfulness.json."""
    from rich.console import Console
    from rich.table import Table

    from fenlei.data.loading import read_split
    from fenlei.inference.faithfulness import HEADLINE, TABLE_HEADER, faithfulness
    from fenlei.rundir import FAITHFULNESS, RunDir

    _explainer(predictor)
    examples = read_split(predictor.config.data, str(data), "test", with_labels=False)
    err = Console(stderr=True)

    def progress(done: int, total: int) -> None:
        err.print(f"explained {done}/{total}", end="\r", highlight=False)

    result = faithfulness(predictor, examples.texts, samples=samples, seed=seed, progress=progress)
    table = Table(title=f"faithfulness of {result.method} on {result.texts} texts of {data.name}")
    for i, col in enumerate(TABLE_HEADER):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in result.rows():
        table.add_row(*row)
    Console(file=sys.stdout, width=100).print(table)
    h = str(HEADLINE)
    print(
        f"comprehensiveness at {HEADLINE:.0%}: {result.comprehensiveness[h]:+.4f} "
        f"(random {result.comprehensiveness_random[h]:+.4f}; higher is better), "
        f"sufficiency {result.sufficiency[h]:+.4f} (random {result.sufficiency_random[h]:+.4f}; "
        f"lower is better); {result.ms_per_text:.1f} ms per text explained"
        + (f"; {result.skipped} texts had no token to remove" if result.skipped else "")
    )
    body = {**result.to_dict(), "data": str(data)}
    RunDir(run_dir).write_json(FAITHFULNESS, body)  # the run's report shows it
    if json_out is not None:
        json_out.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
