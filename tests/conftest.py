"""Shared fixtures: tiny labelled data sets made on the fly, and a CLI runner."""

from __future__ import annotations

import random
import sys

import pytest

POS = ["good", "great", "fine", "lovely", "superb", "charming", "moving"]
NEG = ["bad", "awful", "poor", "dull", "boring", "clumsy", "tedious"]
FILL = ["the", "film", "a", "story", "is", "was", "plot", "acting", "really", "quite", "and", "it"]


def make_sentiment(n: int, seed: int) -> list[tuple[str, str]]:
    """Short English sentences whose label is given away by one sentiment word."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.choices(FILL, k=rng.randint(2, 9))
        words.insert(rng.randint(0, len(words)), rng.choice(POS if label == "pos" else NEG))
        rows.append((label, " ".join(words)))
    return rows


def write_tsv(path, rows, header=("label", "text")) -> str:
    lines = ["\t".join(header)] + ["\t".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def sentiment_files(folder, n_train: int, n_test: int) -> dict[str, str]:
    """train/dev/test TSV files of the easy two-class task in a new ``folder`` (40 dev rows)."""
    folder.mkdir()
    sizes = {"train": n_train, "dev": 40, "test": n_test}
    return {
        split: write_tsv(folder / f"{split}.tsv", make_sentiment(n, seed))
        for seed, (split, n) in enumerate(sizes.items())
    }


@pytest.fixture
def tiny_data(tmp_path):
    """train/dev/test TSV files of an easy two-class task."""
    return sentiment_files(tmp_path / "data", 160, 40)


@pytest.fixture
def few_label_data(tmp_path):
    """The same task with 200 training rows and 60 test rows."""
    return sentiment_files(tmp_path / "d", 200, 60)


ZH = {
    "sports": ["足球", "比赛", "球队", "冠军", "篮球"],
    "finance": ["股票", "银行", "基金", "市场", "利率"],
    "game": ["游戏", "玩家", "网游", "副本", "电竞"],
}


@pytest.fixture
def tiny_zh(tmp_path):
    """train/test TSV files of an easy three-class Chinese task."""
    rng = random.Random(0)
    filler = list("的了在是我有和就不人都一个上也很到说要去你会着没看好自己这")

    def rows(n):
        out = []
        for i in range(n):
            label = list(ZH)[i % 3]
            text = "".join(rng.choices(filler, k=rng.randint(3, 8))) + rng.choice(ZH[label])
            out.append((label, text + "".join(rng.choices(filler, k=3))))
        return out

    d = tmp_path / "zh"
    d.mkdir()
    return {"train": write_tsv(d / "train.tsv", rows(150)), "test": write_tsv(d / "test.tsv", rows(30))}


@pytest.fixture(autouse=True)
def _no_report_unless_asked(request, monkeypatch):
    """Train's end-of-run report costs a second or two of plotting per run; only tests marked
    ``report`` (and the report tests, which call it directly) pay for it."""
    if request.node.get_closest_marker("report") is None:
        import fenlei.evaluation.report as report

        monkeypatch.setattr(report, "write_report", lambda run_dir, output=None: None)


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module of tiny-tensor tests: on a busy 2-core machine the
    intra-op threads' spin-waiting made such a file 7x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run the fenlei CLI in-process: returns (exit code, stdout, stderr)."""
    from fenlei.cli import main

    def run(*args: str):
        monkeypatch.setattr(sys, "argv", ["fenlei", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def make_objective(name: str = "cross_entropy", ids=(0, 1, 2), k: int = 3, **kw):
    """The objective ``name`` for a training set with label ids ``ids`` of ``k`` classes; keyword
    arguments are ObjectiveConfig keys (label_smoothing, class_weights, adversarial) or the
    objective's own parameters."""
    from fenlei.config import ObjectiveConfig
    from fenlei.data.labels import LabelMap
    from fenlei.objectives import Context, build_objective
    from fenlei.task import SingleLabel

    shared = {key: kw.pop(key) for key in ("label_smoothing", "class_weights", "adversarial") if key in kw}
    cfg = ObjectiveConfig(name=name, params=kw, **shared)
    return build_objective(cfg, Context(SingleLabel(), LabelMap([str(i) for i in range(k)]), list(ids)))


FAST = ["train.epochs=3", "train.tensorboard=false", "train.progress=false", "train.batch_size=16"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A Hugging Face folder: random BERT weights, WordPiece vocab of the test words, 64 positions."""
    from fenlei.models.transformer import write_tiny_bert

    folder = tmp_path_factory.mktemp("tiny-bert")
    return str(write_tiny_bert(folder, sorted(set(POS + NEG + FILL)) + list("!,.")))


# ---------------------------------------------------------------- serving (tests/serving/)


@pytest.fixture(scope="module")
def served_runs(tmp_path_factory):
    """Two tiny trained runs: sentiment (fasttext) and Chinese topics (fasttext, char)."""
    from fenlei.config import load_config
    from fenlei.training.pipeline import train

    d = tmp_path_factory.mktemp("serve")
    en = write_tsv(d / "en.tsv", make_sentiment(160, 0))
    zh_rows = [
        ("sports" if i % 2 else "finance", ("足球比赛" if i % 2 else "股票银行") + "今天") for i in range(80)
    ]
    zh = write_tsv(d / "zh.tsv", zh_rows)
    out = {}
    for name, path in (("sentiment", en), ("topics", zh)):
        sets = [f"data.train={path}", "model.name=fasttext", "model.embed_dim=16", *FAST, "train.lr=0.02"]
        cfg = load_config(None, [*sets, "train.epochs=6"])
        out[name] = str(train(cfg, d / name, quiet=True).run_dir)
    return out


@pytest.fixture(scope="module")
def predictors(served_runs):
    """The two runs loaded as the server loads them."""
    from fenlei.serving.app import load_predictors

    runs = served_runs
    return load_predictors([f"sentiment={runs['sentiment']}", f"topics={runs['topics']}"])


# ---------------------------------------------------------------- audit (tests/auditing/)

FRUIT = ["apple", "banana", "cherry", "grape", "lemon", "mango", "peach", "plum"]
TOOLS = ["hammer", "wrench", "drill", "saw", "chisel", "pliers", "spanner", "rasp"]


def make_flipped(n: int = 200, flips: int = 10, seed: int = 0) -> tuple[list[tuple[str, str]], list[int]]:
    """(label, text) rows of two clearly separable classes (three fruit or three tool words among
    filler), with the labels of ``flips`` rows swapped; returns the rows and the flipped indices."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "fruit" if i % 2 == 0 else "tool"
        words = rng.choices(FRUIT if label == "fruit" else TOOLS, k=3) + rng.choices(FILL, k=3)
        rng.shuffle(words)
        rows.append((label, " ".join(words)))
    flipped = sorted(rng.sample(range(n), flips))
    for i in flipped:
        label, text = rows[i]
        rows[i] = ("tool" if label == "fruit" else "fruit", text)
    return rows, flipped
