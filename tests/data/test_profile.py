"""The data profile: lengths, classes, repeats, conflicts and leakage on tiny hand-made splits;
each warning appears when its finding is there and not on clean data; the CLI and a run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import FAST, write_tsv
from fenlei.data import profile as prof
from fenlei.data.examples import Examples
from fenlei.data.loading import Splits
from fenlei.data.profile import Profile, normalise, profile_data

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
]


def distinct(n: int, offset: int = 0, words: int = 6) -> list[str]:
    """``n`` different texts of ``words`` words (numbers spelt out of WORDS, so none repeats)."""
    out = []
    for i in range(offset, offset + n):
        digits = [WORDS[(i // 12**k) % 12] for k in range(4)]
        out.append(" ".join((digits * words)[:words]))
    return out


def balanced(n: int, offset: int = 0, classes=("pos", "neg"), words: int = 6) -> Examples:
    return Examples(distinct(n, offset, words), [classes[i % len(classes)] for i in range(n)])


def clean() -> dict[str, Examples]:
    return {"train": balanced(200), "dev": balanced(40, 1000), "test": balanced(40, 2000)}


def warning(p: Profile, fragment: str) -> str:
    hits = [w for w in p.warnings if fragment in w]
    assert len(hits) == 1, (fragment, p.warnings)
    return hits[0]


def test_clean_data_has_no_warnings_and_plain_json():
    p = profile_data(clean())
    assert p.warnings == []
    assert p.language == "en" and p.token_unit == "whitespace words"
    assert p.splits["train"].labels == {"neg": 100, "pos": 100}
    assert p.imbalance == {"largest": ["neg", 100], "smallest": ["pos", 100], "ratio": 1.0}
    assert p.duplicates == {"exact": 0, "normalised": 0} and p.conflicts["count"] == 0
    assert p.splits["test"].in_train == {"exact": 0, "normalised": 0, "examples": []}
    data = json.loads(json.dumps(p.to_dict()))  # plain JSON: no numpy scalars
    assert Profile.from_dict(data) == p


def test_percentiles_are_nearest_rank_in_characters_and_words():
    texts = ["x" * n for n in range(1, 101)]
    p = profile_data(Examples(texts, None))
    assert p.splits["train"].chars == {"p50": 50, "p90": 90, "p95": 95, "p99": 99, "max": 100}
    words = [" ".join(["w"] * n) for n in range(1, 101)]
    assert profile_data(Examples(words, None)).splits["train"].tokens["p90"] == 90
    # a tokenizer, with a limit: lengths in its tokens, and the share of texts it cuts
    p = profile_data(Examples(texts, None), tokenize=lambda ts: [list(t) for t in ts], max_length=80)
    assert p.splits["train"].tokens["p50"] == 50 and p.splits["train"].tokens["truncated"] == 0.21
    assert "texts reach max_length (80 tokens) and are cut: train 21%" in p.warnings


def test_chinese_counts_characters_and_script_shares():
    ex = Examples(["足球比赛 NBA 2024", "股票银行！", "  "], None)
    p = profile_data(ex)
    assert p.language == "zh" and p.token_unit == "characters"
    # 足球比赛股票银行 8 CJK, NBA 3 Latin, 2024 and ！ 5 other: 16 non-space characters
    assert p.script == {"cjk": 0.5, "latin": 0.1875, "other": 0.3125}
    assert p.splits["train"].tokens["max"] == 11  # non-space characters of the first text


def test_given_token_lengths_for_train_and_a_tokenizer_for_the_rest():
    data = clean()
    calls = []

    def tokenize(texts):
        calls.append(len(texts))
        return [t.split() + ["[SEP]"] for t in texts]

    p = profile_data(data, tokenize=tokenize, token_lengths={"train": [3] * 200}, token_unit="hf tokens")
    assert calls == [40, 40]  # train's lengths were known
    assert p.splits["train"].tokens["max"] == 3 and p.splits["dev"].tokens["p50"] == 7
    assert p.token_unit == "hf tokens"


def test_conflicts_and_repeats_in_train():
    train = balanced(100)
    train.texts += ["same words here", "same words here", "Same words here!", "other one", "other one"]
    train.labels += ["pos", "neg", "pos", "neg", "neg"]
    p = profile_data({"train": train})
    assert p.duplicates == {"exact": 2, "normalised": 3}
    assert p.conflicts == {"count": 1, "examples": [{"text": "same words here", "labels": ["neg", "pos"]}]}
    line = warning(p, "with different labels")
    assert line.startswith("1 texts occur in train with different labels (e.g. 'same words here': neg vs")
    assert line.endswith("training goes on")
    assert not any("repeat an earlier" in w for w in p.warnings)  # 2 of 105 is under 5%
    train.texts += ["other one"] * 10
    train.labels += ["neg"] * 10
    assert "10.4% of train texts (12) repeat an earlier train text exactly" in profile_data(train).warnings


def test_leakage_exact_versus_normalised():
    data = clean()
    data["test"].texts[:2] = [data["train"].texts[0], data["train"].texts[1]]  # exact copies
    t = data["train"].texts[2]  # "gamma alpha ...": full-width G, capitals, commas, tabs, "!!"
    data["test"].texts[2] = "\uff27" + t[1:].upper().replace(" ", ",\t ") + "!!"
    data["dev"].texts[0] = data["train"].texts[5].upper()  # 1 of 40 dev texts: 2.5%
    p = profile_data(data)
    assert p.splits["test"].in_train["exact"] == 2 and p.splits["test"].in_train["normalised"] == 3
    assert p.splits["dev"].in_train["exact"] == 0 and p.splits["dev"].in_train["normalised"] == 1
    line = warning(p, "of test texts also occur in train")
    assert line.startswith("7.5% of test texts also occur in train (normalised; 5.0% exactly): test accuracy")
    assert "2.5% of dev texts also occur in train (normalised; 0.0% exactly)" in warning(p, "of dev texts")
    assert normalise("ＡＬＰＨＡ,  Beta!!  gamma\t") == "alpha beta gamma"


def test_normalise_nfkc_casefold_punctuation_whitespace():
    assert normalise("  Straße — ＦＵＬＬ\u3000width,\tok?! ") == "strasse full width ok"
    assert normalise("你好，世界！") == normalise("你好世界")
    assert normalise("a_b") == "ab"


def test_small_classes_one_line_each_and_many_at_once():
    train = balanced(200)
    train.texts += distinct(4, 5000)
    train.labels += ["rare"] * 4
    p = profile_data({"train": train, "test": balanced(40, 1000)})
    assert warning(p, "has 4 train texts") == "class 'rare' has 4 train texts, 4% of the largest"
    assert "test has no texts of 1 train classes ('rare')" in p.warnings
    classes = [f"c{i}" for i in range(6)]
    many = Examples(distinct(600, 0), ["big"] * 550 + [classes[i % 6] for i in range(50)])
    line = warning(profile_data(many), "classes have under 10%")
    assert line.startswith("6 classes have under 10% of the largest's 550 texts: ")
    assert line.endswith(" and 3 more")


def test_length_and_language_shifts():
    data = clean()
    data["test"] = balanced(40, 2000, words=60)  # every test text is longer than every train text
    p = profile_data(data)
    assert warning(p, "test texts are longer than every train text").endswith(
        f"p50 {p.splits['test'].chars['p50']:,} vs {p.splits['train'].chars['p50']:,} characters"
    )
    data["test"] = balanced(40, 2000, words=2)
    assert any(w.startswith("test texts are shorter than train texts") for w in profile_data(data).warnings)
    data["test"] = Examples(["足球比赛今天很好"] * 20 + ["股票银行基金市场"] * 20, ["pos", "neg"] * 20)
    assert "test texts read as zh but train texts as en" in warning(profile_data(data), "read as zh")


def test_skips_and_unseen_labels():
    data = clean()
    data["train"].skipped = {"empty_text": 2}
    data["test"].skipped = {"empty_text": 1}
    data["test"].labels[:3] = ["maybe", "maybe", "other"]
    p = profile_data(data)
    assert "empty texts were skipped: 3 (train 2, test 1)" in p.warnings
    assert p.splits["test"].unseen_labels == {"maybe": 2, "other": 1}
    assert warning(p, "train never has").startswith("test has labels train never has ('maybe', 'other')")


def test_multi_label_counts_and_conflicts():
    texts = distinct(6) + ["shared text", "shared text", "shared text"]
    labels = [["a"], ["a", "b"], ["b", "c"], ["a", "b", "c"], ["a"], ["c"], ["a", "b"], ["b", "a"], ["a"]]
    p = profile_data({"train": Examples(texts, labels)})
    t = p.splits["train"]
    assert p.multi_label is True
    assert t.labels == {"a": 7, "b": 5, "c": 3}
    assert t.labels_per_text == {"1": 4, "2": 4, "3": 1}
    # ["a", "b"] and ["b", "a"] are the same set; ["a"] is another
    assert p.conflicts["count"] == 1 and p.conflicts["examples"][0]["labels"] == ["a", "a | b"]
    assert "label 'c' has 3 train texts, 43% of the largest" in p.warnings  # under 10 texts
    assert profile_data(clean()).splits["train"].labels_per_text is None


def test_splits_input_and_a_streamed_train():
    from fenlei.data.labels import LabelMap
    from fenlei.data.streaming import DiskExamples

    data = clean()
    labels = LabelMap(["neg", "pos"])
    notes = {"train_empty_text": 2, "dev_unseen_label": 1}
    splits = Splits(data["train"], data["dev"], None, labels, [], [], None, notes)
    p = profile_data(splits)
    assert list(p.splits) == ["train", "dev"]
    assert p.splits["dev"].skipped == {"unseen_label": 1}
    assert "rows with a label train does not have were skipped: 1 (dev 1)" in p.warnings
    ids = np.array([0, 1, 1, 1, 1])
    streamed = Splits(DiskExamples(5, "big.tsv"), data["dev"], None, labels, ids, [], None)
    p = profile_data(streamed)
    assert p.splits["train"].texts == 5 and p.splits["train"].labels == {"pos": 4, "neg": 1}
    assert p.splits["train"].chars is None and p.splits["dev"].in_train is None
    assert p.notes == ["train is streamed from disk: only its size and labels are profiled"]


def test_speed_is_linear_in_the_texts():
    """30k texts of ~80 characters: well under the seconds a run's data loading takes."""
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, 12)) for _ in range(30_000)]
    train, test = Examples(texts[:20_000], ["a"] * 20_000), Examples(texts[20_000:], None)
    p = profile_data({"train": train, "test": test})
    assert p.seconds < 5
    assert p.splits["test"].in_train["exact"] == 0


# ------------------------------------------------------------------------------ CLI and a run


def test_cli_profile_table_warnings_and_json(cli, tmp_path):
    train = [("pos" if i % 2 else "neg", t) for i, t in enumerate(distinct(100))]
    train += [("pos", "same words here"), ("neg", "same words here")]
    test = [("pos", "Same words, here!")] + [("neg", t) for t in distinct(20, 500)]
    files = [write_tsv(tmp_path / "train.tsv", train), write_tsv(tmp_path / "heldout.tsv.gz.tsv", test)]
    code, out, err = cli("data", "profile", *files)
    assert code == 0, err
    assert "data profile: en" in out and "heldout" in out
    assert "warning: 1 texts occur in train with different labels" in out
    assert "of heldout texts also occur in train (normalised; 0.0% exactly)" in out
    code, out, err = cli("data", "profile", *files, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["splits"]["heldout"]["in_train"]["normalised"] == 1
    assert data["splits"]["train"]["labels"] == {"neg": 51, "pos": 51}


def test_cli_profile_multi_label_and_bad_column(cli, tmp_path):
    rows = [("a|b", "first text"), ("b", "second text"), ("a|b|c", "third text")]
    path = write_tsv(tmp_path / "ml.tsv", rows, header=("tags", "body"))
    args = ("data", "profile", path, "--text-column", "body", "--label-column", "tags", "--json")
    code, out, err = cli(*args, "--multi-label")
    assert code == 0, err
    train = json.loads(out)["splits"]["train"]
    assert train["labels"] == {"b": 3, "a": 2, "c": 1}
    assert train["labels_per_text"] == {"1": 1, "2": 1, "3": 1}
    code, _, err = cli("data", "profile", path, "--text-column", "nope", "--label-column", "tags")
    assert code == 2 and "nope" in err and "Traceback" not in err


@pytest.mark.report
def test_a_run_writes_profile_json_and_its_report_shows_it(cli, tiny_data, tmp_path):
    from fenlei.evaluation.report import write_report
    from fenlei.rundir import PROFILE, RunDir

    run = tmp_path / "run"
    data = [f"data.train={tiny_data['train']}", f"data.test={tiny_data['test']}"]
    sets = [*data, "model.name=fasttext", *FAST]
    code, _, err = cli("train", "-o", str(run), "--quiet", *[x for s in sets for x in ("--set", s)])
    assert code == 0, err
    saved = RunDir(run).read_json(PROFILE)
    assert set(saved["splits"]) == {"train", "dev", "test"}
    assert saved["token_unit"] == "word tokens" and saved["splits"]["train"]["tokens"]["max"] > 0
    assert "data profile:" not in err  # --quiet: no table, only the warnings
    assert all(f"warning: {w}" in err for w in saved["warnings"])
    html = (run / "report.html").read_text(encoding="utf-8")
    assert 'id="data-profile"' in html and "Splits and lengths" in html and "Texts per label" in html
    (run / PROFILE).unlink()
    html = write_report(run).read_text(encoding="utf-8")
    assert "This run has no profile.json" in html


def test_thresholds_are_module_constants():
    assert 0 < prof.LEAK_SHARE < prof.DUPLICATE_SHARE < prof.MINORITY_SHARE <= prof.TRUNCATED_SHARE
