"""An encoder-decoder with recurrent states, exported: the C API has an output per final
state (the model's outputs, in order), and the exported library, built with CMake (portable
GEMM), passes its own parity test against model.predict, states included. A Bidirectional
GRU reads the decoder's sequence (its backward layer writes its sequence flipped); the last
output repeats a state along the decoder's sequence (RepeatVector) and permutes the result
two ways (Permute: an (R, S) transpose and the general gather over three axes)."""
import numpy as np
import pytest

from export_builds import generator, missing_tools, run


def _seq2seq():
    from kcc.layers import (GRU, LSTM, Bidirectional, Concatenate, Dense, Flatten, Input, Permute,
                            RepeatVector, Reshape)
    from kcc.models import Model
    enc_in, dec_in = Input(shape=(5, 3), name="enc_in"), Input(shape=(4, 2), name="dec_in")
    _, h, c = LSTM(6, return_state=True, go_backwards=True, name="enc")(enc_in)
    dec, dh, dc = LSTM(6, return_sequences=True, return_state=True, name="dec")(
        dec_in, initial_state=[h, c])
    g, gh = GRU(3, return_state=True, name="gru")(dec, initial_state=Dense(3)(dh))
    bi = Bidirectional(GRU(2, return_sequences=True), name="bi")(dec)
    x = Permute((2, 1))(Concatenate()([dec, RepeatVector(4)(dh)]))          # (12, 4)
    x = Permute((3, 2, 1))(Reshape((12, 2, 2))(x))                          # (2, 2, 12)
    return Model([enc_in, dec_in], [Dense(2, name="out")(bi), g, gh, dc,
                                    Dense(2, name="perm_out")(Flatten()(x))])


def test_states_export_with_an_output_each_and_pass_parity(tmp_path):
    reason = missing_tools()
    if reason:
        pytest.skip(f"export builds need CMake and a C/C++ compiler: {reason}")
    from kcc.export import export_model
    model = _seq2seq()
    folder = export_model(model, tmp_path / "s", name="seq2seq")
    header = (folder / "include/seq2seq.h").read_text()
    for i, size in enumerate((8, 3, 3, 6, 2)):
        assert f"#define SEQ2SEQ_OUTPUT_{i}_SIZE {size}" in header
    assert "SEQ2SEQ_OUTPUT_5_SIZE" not in header
    build = tmp_path / "build"
    run(["cmake", "-S", folder, "-B", build, *generator(), "-DCMAKE_BUILD_TYPE=Release",
         "-DSEQ2SEQ_USE_BLAS=OFF", "-DSEQ2SEQ_DISPATCH=OFF", "-DSEQ2SEQ_BUILD_EXAMPLE=OFF"])
    run(["cmake", "--build", build, "-j", "2", "--target", "seq2seq_parity_test"])
    log = run(["ctest", "--test-dir", build, "--output-on-failure"])
    assert "100% tests passed" in log and "seq2seq_parity" in log, log
