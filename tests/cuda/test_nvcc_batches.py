"""nvcc_check's batches (tests/shared/nvcc_check.py) check what nvcc checks one unit at a
time: every unit of a batch is compiled, and an error in one is reported against that unit
alone. If the batch hid a unit (a macro, a namespace or a hoisted #include gone wrong),
the suite's nvcc check would pass models that do not compile."""
import pytest

from kcc.build.toolchain import find_nvcc
from kcc.layers import Dense, Input, LSTM
from kcc.models import Model
from kcc.runtime.cuda import cuda_source
from kcc.runtime.native import include_dir

pytestmark = pytest.mark.skipif(find_nvcc() is None, reason="nvcc (the CUDA toolkit) is not installed")


def _units():
    x = Input(shape=(6,))
    dense = Model(x, Dense(3, activation="softmax")(Dense(5, activation="relu")(x)))
    dense.compile("adam", "categorical_crossentropy")
    s = Input(shape=(4, 3))
    lstm = Model(s, Dense(1, activation="sigmoid")(LSTM(5)(s)))
    lstm.compile("rmsprop", "binary_crossentropy")
    return [cuda_source(dense._native), cuda_source(lstm._native)]


def test_a_batch_reports_each_units_own_error(tmp_path, monkeypatch):
    import nvcc_check
    from nvcc_check import batch_source, check_batch

    runs = []
    run = nvcc_check.check
    monkeypatch.setattr(nvcc_check, "check", lambda *a: runs.append(a[2].name) or run(*a))

    good, other = _units()
    # an error inside the LSTM unit's device code, where only nvcc's device pass sees it
    marker = "__device__(int64_t r) {"
    assert marker in other
    broken = other.replace(marker, marker + " undefined_in_unit(r);", 1)
    paths = []
    for k, text in enumerate([good, broken, good + "\n// the same model again\n"]):
        paths.append(tmp_path / f"unit{k}.cu")
        paths[-1].write_text(text, encoding="utf-8")
    # each unit sits in its own namespace with its entry points renamed
    batched = batch_source(paths)
    assert batched.count("#define kcc_predict kcc_predict_") == 3
    assert batched.count('#include "kcc/model_abi.h"') == 1

    results = check_batch(find_nvcc(), str(include_dir()), paths, full=False)
    assert results[0] is None and results[2] is None
    assert results[1] is not None and "undefined_in_unit" in results[1] and "unit1.cu" in results[1]
    assert runs == ["batch-unit0.cu", "unit0.cu", "unit1.cu", "unit2.cu"]   # the batch, then one by one

    # the same units without the error compile as one batch
    paths[1].write_text(other, encoding="utf-8")
    runs.clear()
    assert check_batch(find_nvcc(), str(include_dir()), paths, full=True) == [None, None, None]
    assert runs == ["batch-unit0.cu"]
