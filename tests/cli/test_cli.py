"""The `kcc` command line: help, argument errors, `kcc export model.kcc out/`."""
import importlib
import os
import re
import shutil
import subprocess
import tempfile
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def kcc_cli(*args, cwd=None):
    # `python -m` puts the working directory first on sys.path: run from a folder that is
    # not a kcc checkout, so the installed kcc (with its built runtime) is the one imported.
    return subprocess.run([sys.executable, "-m", "kcc.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd or tempfile.gettempdir())


def test_help_lists_export():
    r = kcc_cli("--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: kcc")
    assert re.search(r"^\s+export\s+write a standalone native inference project", r.stdout, re.M)


def test_export_help_names_its_arguments():
    r = kcc_cli("export", "--help")
    assert r.returncode == 0, r.stderr
    assert "usage: kcc export [-h] [--name NAME] model directory" in r.stdout
    assert "model.save()" in r.stdout


def test_version():
    import kcc
    r = kcc_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"kcc {kcc.__version__}"


def test_no_command_is_a_usage_error():
    r = kcc_cli()
    assert r.returncode == 2
    assert "the following arguments are required: <command>" in r.stderr


def test_export_needs_both_arguments():
    r = kcc_cli("export", "model.kcc")
    assert r.returncode == 2
    assert "the following arguments are required: directory" in r.stderr


def test_export_of_a_missing_file_is_one_clear_line(tmp_path):
    r = kcc_cli("export", "missing.kcc", "out/", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr == ("kcc: error: no model file at 'missing.kcc' (save one with "
                        "model.save(path) first)\n")
    assert r.stdout == ""
    assert not (tmp_path / "out").exists()


def test_export_of_a_file_that_is_not_a_model(tmp_path):
    path = tmp_path / "model.kcc"
    path.write_bytes(b"\x00" * 64)
    r = kcc_cli("export", str(path), str(tmp_path / "out"))
    assert r.returncode == 1
    assert r.stderr.startswith(f"kcc: error: Cannot read a model from '{path}'")
    assert "Traceback" not in r.stderr


def test_console_script_is_declared():
    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    scripts = re.search(r"^\[project\.scripts\]\n(.*?)(?:^\[|\Z)", text, re.M | re.S)
    assert scripts and re.search(r'^kcc = "kcc\.cli:main"$', scripts.group(1), re.M)
    from kcc import cli
    assert callable(cli.main)


def test_installed_kcc_command_runs():
    from importlib.metadata import entry_points
    scripts = [e for e in entry_points(group="console_scripts") if e.name == "kcc"]
    if not scripts or shutil.which("kcc") is None:
        pytest.skip("kcc is not installed with its console script: run "
                    "pip install --no-build-isolation --no-deps -e .")
    assert scripts[0].value == "kcc.cli:main"
    r = subprocess.run(["kcc", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("usage: kcc")


def test_main_returns_the_status_without_exiting(tmp_path, capsys):
    from kcc import cli
    assert cli.main(["export", str(tmp_path / "none.kcc"), str(tmp_path / "out")]) == 1
    assert "no model file at" in capsys.readouterr().err


def _export_module():
    try:
        return importlib.import_module("kcc.export")
    except ImportError:
        return None


@pytest.mark.skipif(getattr(_export_module(), "export_model", None) is None,
                    reason="kcc.export has no export_model yet (written separately)")
def test_export_a_saved_model(tmp_path):
    import kcc
    from kcc.layers import Dense, Input
    from kcc.models import Model
    inputs = Input(shape=(6,))
    x = Dense(4, activation="relu")(inputs)
    model = Model(inputs, Dense(2, activation="softmax")(x), name="tiny")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.save(tmp_path / "tiny.kcc")
    out = tmp_path / "out"
    r = kcc_cli("export", str(tmp_path / "tiny.kcc"), str(out), "--name", "tiny_net")
    assert r.returncode == 0, r.stderr
    assert "exported model 'tiny'" in r.stdout
    written = sorted(p.name for p in out.iterdir())
    assert "CMakeLists.txt" in written, written
    # the same as calling the function itself
    direct = tmp_path / "direct"
    kcc.export.export_model(kcc.models.load_model(tmp_path / "tiny.kcc"), str(direct), "tiny_net")
    assert sorted(p.name for p in direct.iterdir()) == written


@pytest.fixture
def fake_export(monkeypatch):
    """kcc.export replaced by a recorder, to test what the CLI and Model.export hand it."""
    import types
    calls = []
    module = types.ModuleType("kcc.export")

    def export_model(model, directory, name=None):
        calls.append((model, directory, name))
        return f"exported to {directory}"
    module.export_model = export_model
    monkeypatch.setitem(sys.modules, "kcc.export", module)
    return calls


def _saved_model(path):
    from kcc.layers import Dense, Input
    from kcc.models import Model
    inputs = Input(shape=(3,))
    model = Model(inputs, Dense(2)(inputs), name="small")
    model.save(path)
    return model


def test_cli_loads_the_model_and_calls_export_model(tmp_path, capsys, fake_export):
    import numpy as np
    from kcc import cli
    model = _saved_model(tmp_path / "small.kcc")
    status = cli.main(["export", str(tmp_path / "small.kcc"), str(tmp_path / "out"),
                       "--name", "lib_small"])
    assert status == 0, capsys.readouterr().err
    (loaded, directory, name), = fake_export
    assert loaded is not model and loaded.name == "small"
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert (directory, name) == (str(tmp_path / "out"), "lib_small")
    assert "exported model 'small'" in capsys.readouterr().out


def test_cli_name_defaults_to_the_file_name(tmp_path, fake_export, capsys):
    """kcc export digits.kcc out/ makes the library digits (the README's find_package(digits)),
    not one named after the model ('model_1', which depends on the session that built it)."""
    from kcc import cli
    _saved_model(tmp_path / "digits.kcc")
    assert cli.main(["export", str(tmp_path / "digits.kcc"), str(tmp_path / "out")]) == 0
    assert fake_export[0][2] == "digits"
    assert "as library 'digits'" in capsys.readouterr().out
    _saved_model(tmp_path / "my-net.v2.kcc")   # made into a C identifier
    assert cli.main(["export", str(tmp_path / "my-net.v2.kcc"), str(tmp_path / "out2")]) == 0
    assert fake_export[1][2] == "my_net_v2"


def test_model_export_calls_export_model(tmp_path, fake_export):
    model = _saved_model(tmp_path / "small.kcc")
    assert model.export(tmp_path / "dir", name="n") == f"exported to {tmp_path / 'dir'}"
    assert fake_export == [(model, tmp_path / "dir", "n")]
    model.export("other")
    assert fake_export[1] == (model, "other", None)
