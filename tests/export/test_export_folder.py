"""What export_model writes, checked in Python (no compiler needed except where noted)."""
import json
import shutil
import struct

import numpy as np
import pytest
from safetensors.numpy import load_file

from export_builds import run
from export_models import guide_mlp, headline

FILES = ["CMakeLists.txt", "README.md", "include/{n}.h", "src/model.cpp", "src/{n}.cpp", "src/kcc/model_abi.h",
         "src/kcc/common.h", "src/kcc/gemm.h", "src/kcc/ops/dense.h", "src/kcc/ops/activations.h",
         "src/kcc/export/safetensors.h", "src/kcc/export/runtime.h", "{n}.safetensors", "example/main.c",
         "test/parity_test.cpp", "test/parity.safetensors", "cmake/{n}Config.cmake.in"]


def _metadata(path):
    raw = open(path, "rb").read()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length])["__metadata__"]


def test_folder_holds_the_predict_source_and_everything_to_build_it(tmp_path):
    from kcc.export import export_model
    model, xs = guide_mlp(np.random.default_rng(0), 4)
    folder = export_model(model, tmp_path / "out", name="digits")
    assert folder == (tmp_path / "out").resolve()
    for f in FILES:
        assert (folder / f.format(n="digits")).is_file(), f
    assert not (folder / "src/kcc/ops/recurrent.h").exists()   # only the headers it uses
    # The exported code is the code model.predict runs, under the model's own names (the
    # runtime's unit is rendered with canonical ones, kcc/codegen/canonical.py).
    from kcc.codegen import render
    from kcc.codegen.canonical import canonical
    from kcc.export.source import predict_unit
    from kcc.passes import plan_memory
    unit = predict_unit(model)
    exported = (folder / "src/model.cpp").read_text()
    assert exported == unit.source and "dense_" in exported and "'model'" not in exported
    renamed = canonical(unit.graph)
    assert render(renamed, plan_memory(renamed)[0], None) == model._native_for_predict().source
    header = (folder / "include/digits.h").read_text()
    for fn in ("create_from_file", "create_from_memory", "free", "num_inputs", "num_outputs", "input_info",
               "output_info", "predict", "set_threads", "get_threads", "last_error", "status_name"):
        assert f"digits_{fn}(" in header, fn
    assert "Thread safety" in header and "DIGITS_ERROR_MODEL_MISMATCH" in header
    assert "KCC_NUM_THREADS" in header and "OPENBLAS_NUM_THREADS=1" in header
    from kcc.runtime.native import include_dir   # the variable the header names is the one read
    assert 'kThreadsEnv = "KCC_NUM_THREADS"' in (include_dir() / "kcc/export/pool.h").read_text()
    assert "#define DIGITS_INPUT_0_SIZE 784" in header and "#define DIGITS_OUTPUT_0_SIZE 10" in header


def test_weights_and_parity_files(tmp_path):
    from kcc.export import export_model
    model, _ = headline(np.random.default_rng(0), 4)
    folder = export_model(model, tmp_path / "h", name="headline")
    meta = _metadata(folder / "headline.safetensors")
    assert meta["format"] == "kcc-export-weights" and meta["model"] == model.name
    assert f'#define HEADLINE_FINGERPRINT "{meta["fingerprint"]}"' in (folder / "include/headline.h").read_text()
    tensors = load_file(str(folder / "headline.safetensors"))
    lstm = next(l for l in model.layers if type(l).__name__ == "LSTM")
    for w in lstm.weights:
        np.testing.assert_array_equal(tensors[f"{lstm.name}/{w.name}"], np.asarray(w.value))
    parity = load_file(str(folder / "test/parity.safetensors"))
    assert parity["input_0"].dtype == np.int32 and parity["input_0"].max() < 50
    ys = model.predict([parity["input_0"], parity["input_1"]])
    np.testing.assert_array_equal(parity["output_0"], ys[0])
    np.testing.assert_array_equal(parity["output_1"], ys[1])


def test_fingerprint_names_the_architecture_and_write_weights_refreshes(tmp_path):
    from kcc.export import export_model, write_weights
    model, _ = guide_mlp(np.random.default_rng(0), 2)
    folder = export_model(model, tmp_path / "a", name="mlp")
    again = export_model(model, tmp_path / "b", name="mlp")
    fp = _metadata(folder / "mlp.safetensors")["fingerprint"]
    assert _metadata(again / "mlp.safetensors")["fingerprint"] == fp
    kernel = model.layers[1].weights[0]
    kernel.value[...] += 1.0
    path = write_weights(model, tmp_path / "new.safetensors")
    assert _metadata(path)["fingerprint"] == fp
    np.testing.assert_array_equal(load_file(str(path))[f"{model.layers[1].name}/{kernel.name}"], kernel.value)
    other, _ = guide_mlp(np.random.default_rng(0), 2)   # same shapes, other names
    assert _metadata(write_weights(other, tmp_path / "o.safetensors"))["fingerprint"] != fp


def test_names(tmp_path):
    from kcc.export import export_model
    from kcc.export.names import default_name
    model, _ = guide_mlp(np.random.default_rng(0), 2)
    # "model" would overwrite src/model.cpp; "string" would hide <string.h> behind
    # include/string.h; "BLAS" would clash with the BLAS::BLAS target: none builds
    for bad in ("9lives", "has-dash", "", "test", "int", "a b", "model", "string", "math", "BLAS",
                "Threads", "m", "pthread"):
        with pytest.raises(ValueError, match="invalid export name"):
            export_model(model, tmp_path / "x", name=bad)
    assert default_name("my-net") == "my_net" and default_name("3d") == "m_3d" and default_name("test") == "test_model"
    assert default_name("model") == "model_model" and default_name("stdio") == "stdio_model"
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="expected a directory"):
        export_model(model, tmp_path / "file", name="mlp")


def test_hostile_layer_names_stay_inside_comments_and_strings(tmp_path):
    """Names from users (anything but "/") end up in C comments, C strings and Markdown:
    none may break out."""
    from kcc.export import export_model
    from kcc.layers import Dense, Input
    from kcc.models import Model
    inp = Input(shape=(3,), name='in* "x" \\ ??=*')
    model = Model(inp, Dense(2, name="out|*\n#error")(inp), name='net* "')
    folder = export_model(model, tmp_path / "h")
    assert folder.name == "h" and (folder / "include/net.h").is_file()
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to compile the header")
    run(["gcc", "-std=c99", "-Wall", "-Werror", "-pedantic", "-fsyntax-only", "-x", "c", folder / "include/net.h"])
    run(["gcc", "-std=c99", "-Wall", "-Werror", "-fsyntax-only", "-I", folder / "include", folder / "example/main.c"])


@pytest.mark.parametrize("cxx", ["g++", "clang++"])
def test_export_compiles_without_warnings(tmp_path, cxx):
    """A parent project that builds the export with -Wall -Wextra -Werror (add_subdirectory)
    must get no warning from our code: Winograd's vector templates (-Wpsabi), the AVX-512
    transpose (GCC's own intrinsics, -Wmaybe-uninitialized), a concat input written in place
    (an unused parameter), the safetensors reader, for the generic and the AVX-512 build."""
    import shutil
    import subprocess
    if shutil.which(cxx) is None:
        pytest.skip(f"needs {cxx}")
    from kcc.export import export_model
    from kcc.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D, concatenate
    from kcc.models import Model
    a, b = Input(shape=(16, 12, 12)), Input(shape=(5,))
    x = Conv2D(16, (3, 3), data_format="channels_first", activation="relu")(a)   # Winograd
    x = Flatten()(MaxPooling2D((2, 2), data_format="channels_first")(x))
    out = Dense(3, activation="softmax")(concatenate([Dense(7, activation="mish")(b), x]))   # the Dense writes in place
    folder = export_model(Model([a, b], out), tmp_path / "w", name="wnet")
    assert "were written into their columns" in (folder / "src" / "model.cpp").read_text()
    for arch in ([], ["-march=x86-64-v4"]):
        for src in ("src/model.cpp", "src/wnet.cpp"):
            proc = subprocess.run([cxx, "-std=c++17", "-O2", *arch, "-Wall", "-Wextra", "-Werror",
                                   "-I", folder / "src", "-I", folder / "include", "-Dkcc=wnet_kcc",
                                   "-c", folder / src, "-o", tmp_path / "x.o"],
                                  capture_output=True, text=True)
            assert proc.returncode == 0, f"{cxx} {arch} {src}:\n{proc.stderr[-3000:]}"


def test_a_second_export_removes_what_the_first_wrote_and_nothing_else(tmp_path):
    """Exporting into a folder that holds an earlier export (another name, another model)
    leaves no stale header, sources, weights or runtime headers behind; the user's own
    files stay."""
    from kcc.export import export_model
    from kcc.layers import LSTM, Dense, Input
    from kcc.models import Model
    folder = tmp_path / "out"
    i = Input(shape=(3, 2))
    export_model(Model(i, Dense(2)(LSTM(4)(i))), folder, name="first")
    assert (folder / "src/kcc/ops/recurrent.h").is_file()
    (folder / "notes.txt").write_text("mine")
    model, _ = guide_mlp(np.random.default_rng(0), 2)
    export_model(model, folder, name="second")
    for gone in ("include/first.h", "src/first.cpp", "first.safetensors", "cmake/firstConfig.cmake.in",
                 "src/kcc/ops/recurrent.h"):
        assert not (folder / gone).exists(), gone
    for f in FILES:
        assert (folder / f.format(n="second")).is_file(), f
    assert (folder / "notes.txt").read_text() == "mine"
    listed = (folder / ".kcc-export-files").read_text().split()
    assert "second.safetensors" in listed and "notes.txt" not in listed


def test_an_int32_output_is_refused_before_anything_is_written(tmp_path):
    """predict in Python returns ids handed on by Flatten as int32; the C API writes float32
    outputs only, so the export says so instead of writing a project whose parity test fails."""
    from kcc.export import export_model
    from kcc.layers import Dense, Embedding, Flatten, Input
    from kcc.models import Model
    ids = Input(shape=(2, 2), dtype="int32", name="ids")
    flat = Flatten(name="flat_ids")(ids)
    model = Model(ids, [Dense(3, name="score")(Flatten()(Embedding(9, 2)(flat))), flat], name="echo")
    with pytest.raises(ValueError, match=r"output 1 \(of layer 'flat_ids'\) is int32 .* float32 outputs only"):
        export_model(model, tmp_path / "out", name="echo")
    assert not (tmp_path / "out").exists()
