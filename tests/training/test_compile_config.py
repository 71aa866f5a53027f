"""resolve_compile: the guide's compile() calls and every other spelling Keras accepts."""

import pytest

from kcc import optimizers
from kcc.training.config import CompileConfig, resolve_compile

TWO = ["main_output", "aux_output"]
TWO_SHAPES = [(None, 1), (None, 1)]


def test_guide_single_output():
    config = resolve_compile("rmsprop", "categorical_crossentropy", ["accuracy"], None,
                             ["dense_3"], [(None, 10)])
    assert isinstance(config, CompileConfig)
    assert isinstance(config.optimizer, optimizers.RMSprop)
    assert config.losses == ["categorical_crossentropy"]
    assert config.loss_weights == [1.0]
    assert config.metrics == [[("accuracy", "categorical_accuracy")]]
    assert config.metrics_names == ["loss", "accuracy"]


def test_guide_one_loss_for_all_outputs_with_weight_list():
    config = resolve_compile("rmsprop", "binary_crossentropy", None, [1., 0.2], TWO, TWO_SHAPES)
    assert config.losses == ["binary_crossentropy"] * 2
    assert config.loss_weights == [1.0, 0.2]
    assert config.metrics == [[], []]
    assert config.metrics_names == ["loss", "main_output_loss", "aux_output_loss"]


def test_guide_dicts():
    config = resolve_compile(
        "rmsprop",
        {"main_output": "binary_crossentropy", "aux_output": "mse"},
        {"aux_output": ["acc"]},
        {"main_output": 1., "aux_output": 0.2}, TWO, TWO_SHAPES)
    assert config.losses == ["binary_crossentropy", "mean_squared_error"]
    assert config.loss_weights == [1.0, 0.2]
    assert config.metrics == [[], [("acc", "binary_accuracy")]]
    assert config.metrics_names == ["loss", "main_output_loss", "aux_output_loss", "aux_output_acc"]


def test_loss_list_and_functions():
    from kcc import losses
    config = resolve_compile(optimizers.Adam(0.01), [losses.mse, losses.BinaryCrossentropy()],
                             None, None, TWO, TWO_SHAPES)
    assert config.losses == ["mean_squared_error", "binary_crossentropy"]
    assert config.optimizer.learning_rate == 0.01


def test_metric_list_applies_to_every_output_and_resolves_per_loss():
    config = resolve_compile("adam", ["binary_crossentropy", "sparse_categorical_crossentropy"],
                             ["acc"], None, TWO, [(None, 1), (None, 5)])
    assert config.metrics == [[("acc", "binary_accuracy")],
                              [("acc", "sparse_categorical_accuracy")]]
    assert config.metrics_names[-2:] == ["main_output_acc", "aux_output_acc"]


def test_metric_list_of_lists_is_per_output():
    config = resolve_compile("adam", "mse", [["mae"], ["acc"]], None, TWO, [(None, 3), (None, 1)])
    assert config.metrics == [[("mae", "mean_absolute_error")],
                              [("acc", "binary_accuracy")]]


def test_metric_target_mismatch():
    with pytest.raises(ValueError, match="needs dense targets but loss "
                                         "'sparse_categorical_crossentropy'"):
        resolve_compile("adam", "sparse_categorical_crossentropy", ["mse"], None, ["out"],
                        [(None, 5)])


def test_scalar_loss_weight():
    config = resolve_compile("adam", "mse", None, 0.5, TWO, TWO_SHAPES)
    assert config.loss_weights == [0.5, 0.5]


@pytest.mark.parametrize("loss,weights,metrics,message", [
    (["mse"], None, None, r"one entry per model output: expected 2 entries.*received 1"),
    ({"main_output": "mse", "aux": "mse"}, None, None,
     r"Unknown output name\(s\) \['aux'\] in `loss`.*\['main_output', 'aux_output'\]"),
    ({"main_output": "mse"}, None, None, r"`loss` is missing output\(s\) \['aux_output'\]"),
    (None, None, None, "compile\\(\\) needs a `loss`"),
    ("mse", [1.0], None, r"`loss_weights`.*expected 2 entries.*received 1"),
    ("mse", {"aux": 1.0}, None, r"Unknown output name\(s\) \['aux'\] in `loss_weights`"),
    ("mse", ["a", 1.0], None, "`loss_weights` entries must be numbers"),
    ("mse", None, "accuracy", "Expected `metrics` to be a list, tuple or dict"),
    ("mse", None, {"aux": ["acc"]}, r"Unknown output name\(s\) \['aux'\] in `metrics`"),
    ("mse", None, [["acc"]], r"`metrics`.*expected 2 entries.*received 1"),
    ("dice", None, None, "Unknown loss: 'dice'"),
])
def test_errors(loss, weights, metrics, message):
    with pytest.raises(ValueError, match=message):
        resolve_compile("adam", loss, metrics, weights, TWO, TWO_SHAPES)


def test_structure_key_ignores_weights_and_learning_rate():
    a = resolve_compile(optimizers.Adam(0.1), "mse", ["mae"], [1., 2.], TWO, TWO_SHAPES)
    b = resolve_compile(optimizers.Adam(0.5), "mse", ["mae"], [1., 0.2], TWO, TWO_SHAPES)
    assert a.structure_key() == b.structure_key()


def test_categorical_crossentropy_on_one_unit_warns():
    with pytest.warns(UserWarning, match="binary_crossentropy"):
        resolve_compile("adam", "categorical_crossentropy", None, None, ["out"], [(None, 1)])
