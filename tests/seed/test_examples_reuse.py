"""examples/shared_lstm.py and examples/reuse_model.py run as a user runs them (from any
directory) and print what they promise."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_example(name, cwd, timeout=300):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name)],
                         capture_output=True, text=True, timeout=timeout, cwd=cwd)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out.stdout


def _number(pattern, text):
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the output:\n{text[-3000:]}"
    return float(match.group(1))


def test_shared_lstm_learns_from_chance(tmp_path):
    stdout = run_example("shared_lstm.py", tmp_path)
    assert "shared_lstm has 2 nodes and one set of weights" in stdout
    before = _number(r"before training: test loss [0-9.]+, test accuracy ([0-9.]+)", stdout)
    after = _number(r"after training: test loss [0-9.]+, test accuracy ([0-9.]+)", stdout)
    assert 0.35 < before < 0.65
    assert after > 0.9
    assert os.listdir(tmp_path) == []                 # writes nothing where it runs


def test_reuse_model_is_the_model_at_every_timestep(tmp_path):
    stdout = run_example("reuse_model.py", tmp_path)
    assert _number(r"image model: test accuracy ([0-9.]+)", stdout) > 0.9
    assert "y = model(x): shape (None, 10)" in stdout
    assert "TimeDistributed(model)(input_sequences): shape (None, 20, 10)" in stdout
    assert "videos (17, 20, 784) -> predictions (17, 20, 10)" in stdout
    assert _number(r"reused model vs model on the test images: max difference (\S+)",
                   stdout) < 1e-6
    assert _number(r"video model vs model at each of the 20 timesteps: max difference (\S+)",
                   stdout) < 1e-5
    assert _number(r"video model: frame accuracy ([0-9.]+)", stdout) > 0.9
    assert _number(r"the video model moved by (\S+)", stdout) > 1e-3
