"""The C API under AddressSanitizer and UBSan: null pointers, wrong buffer sizes, bad ids,
bad thread counts, truncated and corrupted weights files, and the weights of other models
each give their status and a clear message, never a crash (a file of another format
version too); a batch split over the
handle's worker threads agrees with one thread (c/api_errors.c runs the cases)."""
import os
import shutil

import numpy as np
import pytest

from export_builds import C_DIR, missing_tools, run


def _ids_model(activation):
    """Two inputs (Embedding ids, floats) and two outputs; explicit names, so that two
    builds with another activation have the same weight names and shapes. The hidden
    layer is wide enough that its product at 256 rows splits over the worker threads."""
    from kcc.layers import Dense, Embedding, Flatten, Input, concatenate
    from kcc.models import Model
    ids = Input(shape=(4,), dtype="int32", name="ids")
    x = Input(shape=(3,), name="x")
    e = Flatten(name="flat")(Embedding(20, 5, name="embed")(ids))
    h = Dense(1024, activation=activation, name="hidden")(concatenate([e, x], name="joined"))
    return Model([ids, x], [Dense(2, activation="softmax", name="probs")(h),
                            Dense(1, name="score")(h)], name="ids_net")


def test_c_api_errors_under_sanitizers(tmp_path):
    reason = missing_tools()
    if reason or shutil.which("g++") is None or shutil.which("gcc") is None:
        pytest.skip(f"needs gcc and g++: {reason or 'missing'}")
    from kcc.export import export_model, write_weights
    from kcc.layers import Dense, Input
    from kcc.models import Model

    folder = export_model(_ids_model("relu"), tmp_path / "export", name="idsnet")
    twin = write_weights(_ids_model("tanh"), tmp_path / "twin.safetensors")
    inp = Input(shape=(7,))
    other = write_weights(Model(inp, Dense(2)(inp)), tmp_path / "other.safetensors")
    good = (folder / "idsnet.safetensors").read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(good[: len(good) // 2])
    from safetensors.numpy import load_file, save_file
    from safetensors import safe_open
    with safe_open(str(folder / "idsnet.safetensors"), "np") as f:
        meta = dict(f.metadata())
    save_file(load_file(str(folder / "idsnet.safetensors")), str(tmp_path / "v99.safetensors"),
              metadata={**meta, "version": "99"})

    flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g", "-O1",
             "-pthread"]
    objs = []
    for src in ("src/model.cpp", "src/idsnet.cpp"):
        obj = tmp_path / (os.path.basename(src) + ".o")
        run(["g++", "-std=c++17", *flags, "-I", folder / "src", "-I", folder / "include",
             "-Dkcc_model_info=idsnet_kcc_model_info", "-Dkcc_predict=idsnet_kcc_predict",
             "-c", folder / src, "-o", obj])
        objs.append(obj)
    test_obj = tmp_path / "api_errors.o"
    run(["gcc", "-std=c11", *flags, "-Wall", "-Werror", "-I", C_DIR, "-I", folder / "include",
         "-DKCC_MODEL=idsnet", "-DKCC_MODEL_UPPER=IDSNET", "-c", C_DIR / "api_errors.c", "-o", test_obj])
    exe = tmp_path / "api_errors"
    run(["g++", *flags, *objs, test_obj, "-o", exe])

    env = dict(os.environ, ASAN_OPTIONS="abort_on_error=0:detect_leaks=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    out = run([exe, folder / "idsnet.safetensors", twin, other, tmp_path / "truncated.safetensors",
               tmp_path / "v99.safetensors"],
              env=env, timeout=600)
    print(out)
    assert "PASSED: 0 failures" in out
    assert "fingerprint" in out and "truncated" in out and "needs" in out
