"""Progbar output as the user sees it: verbose 1 on a terminal and in a pipe, verbose 2."""

import sys
import types

import pytest

from kcc.training import progbar as progbar_module
from kcc.training.progbar import Progbar


@pytest.fixture
def clock(monkeypatch):
    """A fake time.time(): set clock.now to move time."""
    fake = types.SimpleNamespace(now=100.0)
    fake.time = lambda: fake.now
    monkeypatch.setattr(progbar_module, "time", fake)
    return fake


def epoch(bar, clock, steps):
    for current, t, values in steps:
        clock.now = 100.0 + t
        bar.update(current, values)


STEPS = [
    (512, 0.1, [("loss", 0.41234), ("acc", 0.87651)]),
    (8192, 0.2, [("loss", 0.40001), ("acc", 0.88)]),
    (8704, 0.21, [("loss", 0.4), ("acc", 0.881)]),  # within 50 ms: not drawn
    (16384, 0.4915, [("loss", 0.39904), ("acc", 0.88123)]),
]


def test_verbose_1_terminal_redraws_in_place(capsys, clock, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    bar = Progbar(16384, unit_name="sample")
    epoch(bar, clock, STEPS)
    out = capsys.readouterr().out
    lines = out.split("\r")[1:]
    assert lines == [
        "  512/16384 [..............................] - ETA: 3s - loss: 0.4123 - acc: 0.8765",
        " 8192/16384 [==============>...............] - ETA: 0s - loss: 0.4000 - acc: 0.8800",
        "16384/16384 [==============================] - 0s 30us/sample - loss: 0.3990"
        " - acc: 0.8812\n",
    ]


def test_verbose_1_pipe_prints_only_the_final_line(capsys, clock):
    bar = Progbar(16384, unit_name="sample")  # capsys's stdout is not a terminal
    epoch(bar, clock, STEPS)
    assert capsys.readouterr().out == (
        "16384/16384 [==============================] - 0s 30us/sample - loss: 0.3990"
        " - acc: 0.8812\n")


def test_verbose_2_one_line_per_epoch(capsys, clock, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    bar = Progbar(16384, verbose=2)
    epoch(bar, clock, STEPS[:-1])
    assert capsys.readouterr().out == ""
    clock.now = 101.6
    bar.update(16384, [("loss", 0.39904), ("acc", 0.88123), ("val_loss", 0.00012)])
    assert capsys.readouterr().out == \
        "16384/16384 - 2s - loss: 0.3990 - acc: 0.8812 - val_loss: 1.2000e-04\n"


def test_verbose_0_prints_nothing(capsys, clock):
    epoch(Progbar(16384, verbose=0), clock, STEPS)
    assert capsys.readouterr().out == ""


def test_shorter_line_blanks_the_rest_of_the_previous_one(capsys, clock, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    bar = Progbar(100, width=10)
    clock.now = 100.1
    bar.update(10, [("loss", 123.456789)])
    clock.now = 100.2
    bar.update(20, [("loss", 0.5)])
    first, second = capsys.readouterr().out.split("\r")[1:]
    assert len(second) == len(first)
    assert second.startswith(" 20/100 [=>........] - ETA: 0s - loss: 0.5000")


def test_keras_averaging_for_names_not_listed_as_stateful(capsys, clock):
    bar = Progbar(4, verbose=2, stateful_metrics=["acc"])
    clock.now = 101.0
    bar.update(2, [("loss", 1.0), ("acc", 0.5)])
    bar.update(4, [("loss", 3.0), ("acc", 0.75)])
    # loss is averaged over samples ((1*2 + 3*2) / 4); acc is shown as given
    assert capsys.readouterr().out == "4/4 - 1s - loss: 2.0000 - acc: 0.7500\n"


def test_eta_and_time_formats():
    assert progbar_module._format_eta(30) == "30s"
    assert progbar_module._format_eta(125) == "2:05"
    assert progbar_module._format_eta(3725) == "1:02:05"
    assert progbar_module._format_time(2.4, "step") == " 2s/step"
    assert progbar_module._format_time(0.0123, "step") == " 12ms/step"
    assert progbar_module._format_time(3e-5, "sample") == " 30us/sample"
