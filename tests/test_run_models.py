"""Model ids, labels, embeddings and the rule that picks the compared pairs (reports.run_models),
and the data-problems summary (reports.sections)."""

from __future__ import annotations

import pandas as pd
import pytest

from reports.run_models import comparison_pairs, embeddings_of, model_infos, parse_model_id
from reports.sections import data_problems, problem_kind


@pytest.mark.parametrize(("model_id", "expected"), [
    ("lr@release", ("lr", "release")),
    ("xgb@musicnn", ("xgb", "musicnn")),
    ("rf@my@embedding", ("rf", "my@embedding")),
    ("lr", ("lr", "release")),       # a run from before embeddings were a dimension
    ("cnn", ("cnn", None)),
    ("musicnn-ft", ("musicnn-ft", None)),
])
def test_parse_model_id(model_id, expected):
    assert parse_model_id(model_id) == expected


def test_run_json_overrides_the_id_and_labels_are_unique():
    run_models = {
        "lr@musicnn": {"label": "LR on musicnn"},
        "ft": {"classifier": "cnn", "embedding": "musicnn", "label": "CNN"},
        "cnn": {},
    }
    infos = model_infos(run_models, ["lr@release", "lr@musicnn", "cnn", "ft"])
    assert list(infos) == ["lr@release", "lr@musicnn", "cnn", "ft"]
    assert infos["lr@release"].label == "LR · release" and infos["lr@release"].classical
    assert infos["lr@musicnn"].label == "LR on musicnn"
    assert (infos["ft"].classifier, infos["ft"].embedding) == ("cnn", "musicnn")
    assert not infos["ft"].classical  # a network even with an embedding: a row of its own
    assert infos["cnn"].label == "CNN (cnn)" and infos["ft"].label == "CNN (ft)"
    assert model_infos({"lr@x": {"embedding": None}}, ["lr@x"])["lr@x"].classical is False


def test_single_embedding_compares_every_pair():
    infos = model_infos({}, ["lr", "xgb", "rf", "cnn"])
    pairs, rule = comparison_pairs(infos)
    assert len(pairs) == 6 and ("lr", "xgb") in pairs and ("rf", "cnn") in pairs
    assert "every pair" in rule


def test_several_embeddings_compare_pairs_that_differ_in_one_respect():
    ids = ["lr@release", "xgb@release", "rf@release", "lr@musicnn", "xgb@musicnn", "cnn", "musicnn-ft"]
    infos = model_infos({}, ids)
    pairs, rule = comparison_pairs(infos, listed_embeddings={"musicnn": {}, "release": {}})
    assert pairs == [
        ("lr@musicnn", "lr@release"), ("xgb@musicnn", "xgb@release"),  # per classifier
        ("lr@musicnn", "cnn"), ("lr@musicnn", "musicnn-ft"),          # per embedding, listed order
        ("xgb@musicnn", "cnn"), ("xgb@musicnn", "musicnn-ft"),
        ("lr@release", "cnn"), ("lr@release", "musicnn-ft"),
        ("xgb@release", "cnn"), ("xgb@release", "musicnn-ft"),
        ("rf@release", "cnn"), ("rf@release", "musicnn-ft"),
        ("cnn", "musicnn-ft"),                                         # networks
    ]
    assert len(pairs) < len(ids) * (len(ids) - 1) // 2
    assert "for each embedding, each classifier trained on it against each network" in rule
    assert embeddings_of(infos, {"musicnn": {}, "release": {}, "unused": {}}) == ["musicnn", "release"]


def test_data_problems_counts_by_kind():
    assert problem_kind("duration 7.320 s, expected 10.000 s") == "duration # s, expected # s"
    assert problem_kind("unreadable: Error opening 'x.ogg'") == "unreadable"
    problems = pd.DataFrame({
        "key": ["a", "b", "c", "d"], "split": ["test", "train", "train", "custom"],
        "problem": ["empty", "duration 1.0 s, expected 10.0 s", "duration 2.5 s, expected 10.0 s", "empty"],
    })
    out = data_problems(problems)
    assert out["n"] == 4 and out["splits"] == ["train", "test", "custom"]
    assert out["counts"] == [
        {"kind": "duration # s, expected # s", "per_split": [2, 0, 0], "total": 2},
        {"kind": "empty", "per_split": [0, 1, 1], "total": 2},
    ]
    assert out["listed"][0] == ("a", "test", "empty")
    empty = data_problems(pd.DataFrame(columns=["key", "split", "problem"]))
    assert empty["n"] == 0 and empty["counts"] == [] and empty["listed"] == []
    assert data_problems(None) is None
