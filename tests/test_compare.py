"""compare.py: settings, errors before work starts (fast tests; the end-to-end run is in test_e2e.py)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import compare

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_cover_all_models_and_instruments():
    s = compare.parse_settings([])
    assert s.models == ("lr", "xgb", "rf", "cnn")
    assert s.instruments is None
    assert s.seed == 0 and not s.quick and not s.no_cache


def test_flags_override_config_file(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('models = ["lr", "rf"]\nseed = 7\ninstruments = "trumpet,violin"\nquick = true\n')
    s = compare.parse_settings(["--config", str(cfg), "--seed", "3"])
    assert s.models == ("lr", "rf")
    assert s.instruments == ("trumpet", "violin")
    assert s.quick is True
    assert s.seed == 3  # the flag wins over the file


def test_settings_round_trip_through_toml(tmp_path):
    s = compare.parse_settings(["--models", "lr,xgb", "--instruments", "trumpet", "--epochs", "4"])
    text = s.to_toml()
    cfg = tmp_path / "settings.toml"
    cfg.write_text(text)
    assert tomllib.loads(text)["models"] == ["lr", "xgb"]
    assert compare.parse_settings(["--config", str(cfg)]) == s


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--models", "lr,svm"], "valid models: lr, xgb, rf, cnn"),
        (["--instruments", "trumpet,kazoo"], "kazoo"),
        (["--instruments", "trumpet,kazoo"], "valid instruments: accordion, banjo"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--ft-epochs", "0"], "--ft-epochs must be at least 1"),
        (["--demo", "--data", "x"], "choose one of --data, --download and --demo"),
    ],
)
def test_bad_settings_are_refused_with_the_valid_choices(argv, expected):
    with pytest.raises(compare.SettingsError, match=expected):
        compare.parse_settings(argv)


def test_ft_epochs_set_the_chosen_mode_only():
    from pipeline.finetune import finetune_config

    full = compare.parse_settings(["--ft-mode", "full", "--ft-epochs", "2"])
    assert finetune_config(full, "full").epochs == 2
    assert finetune_config(full, "head").epochs == finetune_config(compare.parse_settings([]), "head").epochs
    head = compare.parse_settings(["--ft-epochs", "7"])
    assert finetune_config(head, "head").epochs == 7


def test_unknown_config_key_names_the_file(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("modles = ['lr']\n")
    with pytest.raises(compare.SettingsError, match="modles"):
        compare.parse_settings(["--config", str(cfg)])


def _run(args, cwd, **env):
    return subprocess.run(
        [sys.executable, str(ROOT / "compare.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, **env},
    )


def test_missing_data_folder_offers_the_ways_forward(tmp_path):
    res = _run(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")], tmp_path,
               OPENMIC_COMPARE_CACHE=str(tmp_path / "cache"))
    assert res.returncode == 2
    for hint in ("nowhere", "--download", "--demo"):
        assert hint in res.stderr


def test_unwritable_output_folder_is_refused_before_work(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    res = _run(["--demo", "--out", str(blocker / "run")], tmp_path,
               OPENMIC_COMPARE_CACHE=str(tmp_path / "cache"))
    assert res.returncode == 2
    assert "cannot write to the output folder" in res.stderr and "--out" in res.stderr
    assert not (tmp_path / "cache" / "demo").exists()  # nothing was generated


def test_unknown_model_exits_2_listing_valid_ones(tmp_path):
    res = _run(["--models", "lr,bert"], tmp_path)
    assert res.returncode == 2
    assert "bert" in res.stderr and "lr, xgb, rf, cnn" in res.stderr


def test_help_explains_every_flag_with_its_default():
    res = _run(["--help"], ROOT)
    assert res.returncode == 0
    for flag in ("--data", "--download", "--demo", "--demo-size", "--models", "--instruments",
                 "--quick", "--epochs", "--ft-mode", "--ft-epochs", "--seed", "--jobs", "--out", "--no-cache", "--config"):
        assert flag in res.stdout
    assert "default" in res.stdout


def test_tilde_in_config_paths_is_expanded_once_for_every_stage(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('cache_dir = "~/oc-cache"\nout = "~/oc-run"\n')
    s = compare.parse_settings(["--config", str(cfg)])
    assert s.cache_dir == str(Path("~/oc-cache").expanduser()) and "~" not in s.out


def test_dataset_failing_validation_gives_the_loaders_message(openmic_factory, tmp_path):
    import numpy as np

    root = openmic_factory(n_clips=40, npz_overrides={"Y_mask": np.zeros((40, 20), dtype=np.int8)})
    res = _run(["--data", str(root), "--models", "lr", "--out", str(tmp_path / "run")], tmp_path,
               OPENMIC_COMPARE_CACHE=str(tmp_path / "cache"))
    assert res.returncode == 2
    assert "openmic-2018.npz" in res.stderr and "Y_mask" in res.stderr
    assert "Traceback" not in res.stderr


def test_summary_prints_the_reports_macro_metrics(tmp_path, capsys):
    """The closing table shows build_report's numbers, the same ones metrics.csv holds."""
    import pandas as pd
    from reports_fake_run import make_fake_run

    from reports import build_report

    run = make_fake_run(tmp_path / "run", n=120, models={"lr": 1.5, "cnn": 3.0}, history=False,
                        classes=("bass", "cello", "drums"))
    built = build_report(run, n_boot=20)
    models = {"lr": {"train_time_s": 1.5, "reused_from_cache": False},
              "cnn": {"train_time_s": 30.0, "reused_from_cache": True}}
    compare.print_summary(built.metrics, models)
    lines = capsys.readouterr().out.strip().splitlines()
    on_disk = pd.read_csv(run / "metrics.csv").set_index(["model", "instrument", "metric"])
    assert lines[0].split()[:2] == ["model", "macro"]
    for line, model in zip(lines[1:], ("lr", "cnn"), strict=True):
        assert line.split()[0] == model
        for metric in ("f1_posneg", "roc_auc", "ap"):
            r = on_disk.loc[(model, "macro", metric)]
            assert f"{r['value']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]" in line, (model, metric)
    assert lines[1].endswith("1.5") and lines[2].endswith("30.0 (cached)")


# ------------------------------------------------------------------ data problems before training


def _run_data(root, tmp_path, *flags):
    return _run(["--data", str(root), "--out", str(tmp_path / "run"), "--jobs", "1", *flags],
                tmp_path, OPENMIC_COMPARE_CACHE=str(tmp_path / "cache"))


def test_folder_without_audio_stops_before_training_and_offers_the_ways_forward(
    openmic_factory, tmp_path
):
    root = openmic_factory(n_clips=40, audio=None)
    res = _run_data(root, tmp_path)  # default models: the CNN needs audio
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert str(root / "audio") in res.stderr
    assert "--models lr,xgb,rf --embeddings release" in res.stderr and "--download" in res.stderr
    assert not (tmp_path / "cache" / "models").exists()  # nothing was trained
    assert "Warning: the networks' hold-out (" in res.stderr  # a 40-clip set: too few labels in it


@pytest.mark.slow  # runs the whole pipeline (lr on the release embedding, to the report)
def test_folder_without_audio_trains_on_the_release_embedding_and_lists_every_clip(
    openmic_factory, tmp_path
):
    import pandas as pd

    root = openmic_factory(n_clips=40, audio=None)
    res = _run_data(root, tmp_path, "--models", "lr", "--embeddings", "release", "--cv-folds", "2")
    assert res.returncode == 0, res.stderr[-3000:]
    problems = pd.read_csv(tmp_path / "run" / "data_problems.csv")
    assert list(problems.columns) == ["key", "split", "problem"]
    assert len(problems) == 40 and set(problems["problem"]) == {"audio file missing"}
    assert set(problems["split"]) == {"train", "test"}
    assert "Data problems in 40 clip(s)" in res.stderr
    assert "hold-out" not in res.stderr  # no network is trained: its hold-out is not mentioned
    assert "(classical models: 2-fold CV grouped by artist)" in res.stderr


def test_empty_test_split_stops_with_a_message(openmic_factory, tmp_path):
    root = openmic_factory(n_clips=40)
    (root / "partitions" / "split01_test.csv").write_text("")
    res = _run_data(root, tmp_path, "--models", "lr", "--embeddings", "release")
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert "split01_test" in res.stderr


def test_split_without_observed_label_of_the_selected_instruments_stops(openmic_factory, tmp_path):
    import numpy as np

    root = openmic_factory(n_clips=40)
    with np.load(root / "openmic-2018.npz", allow_pickle=True) as npz:
        arrays = dict(npz)
    from features.openmic import CLASSES

    trumpet = CLASSES.index("trumpet")
    arrays["Y_mask"][:, trumpet] = False
    arrays["Y_true"][:, trumpet] = 0.5
    np.savez(root / "openmic-2018.npz", **arrays)
    res = _run_data(root, tmp_path, "--models", "lr", "--embeddings", "release",
                    "--instruments", "trumpet")
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert "no observed label" in res.stderr and "trumpet" in res.stderr
