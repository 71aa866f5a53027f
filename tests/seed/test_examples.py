"""The examples run as a user runs them and reach what they promise."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_example(name, timeout=300):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name)],
                         capture_output=True, text=True, timeout=timeout,
                         cwd=os.path.join(ROOT, "examples"))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out.stdout


def test_mnist_mlp_reaches_95_percent_on_real_digits():
    stdout = run_example("mnist_mlp.py")
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", stdout).group(1))
    assert accuracy >= 0.95
    predicted = re.search(r"predicted: ([0-9 ]+)", stdout).group(1).split()
    assert len(predicted) == 10


def test_headline_learns_both_outputs():
    stdout = run_example("headline.py")
    after = re.search(r"after training: main_output accuracy ([0-9.]+), "
                      r"aux_output accuracy ([0-9.]+)", stdout)
    assert float(after.group(1)) > 0.9 and float(after.group(2)) > 0.9
