"""The Layer contract: call on symbolic tensors only, build once, nodes, weights."""
import numpy as np
import pytest

from kcc.frontend.errors import MultipleNodesError
from kcc.layers import Dense, Input, Layer


def test_calling_a_layer_on_numpy_is_a_type_error():
    with pytest.raises(TypeError) as e:
        Dense(3)(np.zeros((2, 4)))
    assert str(e.value) == (
        "Layer dense_1 was called on an object of type ndarray; expected a symbolic tensor "
        "from Input() or another layer. Did you forget to call a layer on a tensor?")


def test_calling_a_layer_on_a_list_with_a_non_tensor():
    with pytest.raises(TypeError, match="element 1 is of type int"):
        Dense(3)([Input(shape=(2,)), 5])


def test_single_input_layer_rejects_two_tensors_but_unwraps_one():
    dense = Dense(3)
    with pytest.raises(ValueError, match="expects 1 input, but it received 2"):
        dense([Input(shape=(2,)), Input(shape=(2,))])
    assert dense([Input(shape=(2,))]).shape == (None, 3)


def test_unexpected_call_argument():
    with pytest.raises(TypeError, match="unexpected call argument"):
        Dense(3)(Input(shape=(2,)), mask=None)


def test_unknown_constructor_argument():
    with pytest.raises(TypeError, match="not understood by Dense: frobnicate"):
        Dense(3, frobnicate=1)


def test_build_once_then_locked():
    dense = Dense(64)
    assert not dense.built and dense.weights == []
    dense(Input(shape=(784,)))
    kernel = dense.kernel
    assert dense.built
    with pytest.raises(ValueError) as e:
        dense(Input(shape=(10,)))
    msg = str(e.value)
    assert "dense_1" in msg and "(None, 784)" in msg and "(None, 10)" in msg
    assert dense.kernel is kernel and len(dense.weights) == 2
    assert len(dense.inbound_nodes) == 1          # the failed call left no node


def test_direct_build_and_rebuild_error():
    dense = Dense(4)
    dense.build((None, 3))
    assert dense.built and dense.kernel.shape == (3, 4)
    with pytest.raises(RuntimeError, match="already built"):
        dense.build((None, 5))


def test_failed_build_leaves_no_weights():
    class Broken(Layer):
        def build(self, input_shape):
            self.add_weight("w", (2,))
            raise RuntimeError("boom")

        def compute_output_shape(self, input_shape):
            return input_shape

    layer = Broken()
    with pytest.raises(RuntimeError, match="boom"):
        layer(Input(shape=(2,)))
    assert not layer.built and layer.weights == []


def test_custom_layer_with_super_build_and_weights():
    class Scale(Layer):
        def build(self, input_shape):
            self.w = self.add_weight("w", input_shape[1:], "ones")
            self.n = self.add_weight("n", (1,), "zeros", trainable=False)
            super().build(input_shape)          # Keras 2 custom layers end like this

        def compute_output_shape(self, input_shape):
            return input_shape

    layer = Scale()
    y = layer(Input(shape=(5,)))
    assert y.shape == (None, 5) and [w.name for w in layer.weights] == ["w", "n"]
    assert [w.name for w in layer.non_trainable_weights] == ["n"]
    assert layer.count_params() == 6
    with pytest.raises(ValueError, match="axis 1 should be 5, found 4"):
        layer(Input(shape=(4,)))      # weights fix the per-sample shape by default
    with pytest.raises(RuntimeError, match="weights are fixed"):
        layer.add_weight("late", (1,))


def test_duplicate_weight_name():
    class Twice(Layer):
        def build(self, input_shape):
            self.add_weight("w", (1,))
            self.add_weight("w", (1,))
    with pytest.raises(ValueError, match="already has a weight named 'w'"):
        Twice()(Input(shape=(1,)))


def test_output_and_input_with_one_node():
    a = Input(shape=(140, 256))
    dense = Dense(32)
    encoded_a = dense(a)
    assert dense.output == encoded_a
    assert dense.input is a
    assert dense.input_shape == (None, 140, 256)
    assert dense.output_shape == (None, 140, 32)


def test_multiple_nodes_as_in_the_guide():
    a = Input(shape=(140, 256))
    b = Input(shape=(140, 256))
    shared = Dense(32, name="lstm_1")   # the guide uses an LSTM; any shared layer behaves alike
    encoded_a = shared(a)
    encoded_b = shared(b)
    with pytest.raises(AssertionError) as e:
        shared.output
    assert isinstance(e.value, MultipleNodesError) and isinstance(e.value, AttributeError)
    assert str(e.value) == ('Layer lstm_1 has multiple inbound nodes, hence the notion of '
                            '"layer output" is ill-defined. Use `get_output_at(node_index)` '
                            'instead.')
    with pytest.raises(MultipleNodesError, match="layer input"):
        shared.input
    assert shared.get_output_at(0) == encoded_a
    assert shared.get_output_at(1) == encoded_b
    assert shared.get_input_at(1) is b
    # all nodes agree on shapes, so the shape properties still work
    assert shared.output_shape == (None, 140, 32)
    assert shared.input_shape == (None, 140, 256)
    assert encoded_b.name == "lstm_1_1" and encoded_b._keras_history == (shared, 1, 0)
    assert len(shared.weights) == 2                   # one set of weights for both calls


def test_different_shapes_per_node():
    a, b = Input(shape=(3, 8)), Input(shape=(5, 8))
    dense = Dense(4)
    dense(a), dense(b)                                 # Dense only fixes the last axis
    assert dense.get_input_shape_at(0) == (None, 3, 8)
    assert dense.get_input_shape_at(1) == (None, 5, 8)
    assert dense.get_output_shape_at(1) == (None, 5, 4)
    with pytest.raises(MultipleNodesError, match="get_input_shape_at"):
        dense.input_shape
    with pytest.raises(ValueError, match="node 2, but layer dense_1 has only 2"):
        dense.get_output_at(2)


def test_unconnected_layer_has_no_output():
    with pytest.raises(AttributeError, match="not connected"):
        Dense(1).output
    with pytest.raises(AttributeError, match="never been called"):
        Dense(1).output_shape


def test_node_links():
    x = Input(shape=(4,))
    d1, d2 = Dense(3), Dense(2)
    y = d2(d1(x))
    node = y.node
    assert node.layer is d2 and node.outbound_layer is d2 and node.index == 0
    assert node.inbound_layers == [d1] and node.node_indices == [0] and node.tensor_indices == [0]
    assert node.input_shapes == [(None, 3)] and node.output_shapes == [(None, 2)]
    assert node.parent_nodes == [d1.inbound_nodes[0]]
    assert d1.outbound_nodes == [node]
    assert x.node.is_input and not node.is_input
    assert repr(node) == "<Node dense_2[0] <- (dense_1[0][0])>"


def test_get_set_weights_round_trip_and_errors():
    dense = Dense(3)
    with pytest.raises(ValueError, match="Call the layer on a tensor first"):
        dense.set_weights([np.zeros((2, 3)), np.zeros(3)])
    dense(Input(shape=(2,)))
    ptrs = [w.data_ptr for w in dense.weights]
    new = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2, 3], np.float32)]
    dense.set_weights(new)
    got = dense.get_weights()
    for g, n in zip(got, new):
        np.testing.assert_array_equal(g, n)
    assert [w.data_ptr for w in dense.weights] == ptrs
    got[0][:] = 99                                     # get_weights returns copies
    assert dense.kernel.value[0, 0] == 0
    with pytest.raises(ValueError, match=r"expects 2 weight arrays \(dense_1/kernel, "
                                         r"dense_1/bias\), but set_weights received 1"):
        dense.set_weights([new[0]])
    with pytest.raises(ValueError, match=r"weight 'bias' expects shape \(3,\), received \(4,\)"):
        dense.set_weights([np.ones((2, 3)), np.ones(4)])
    np.testing.assert_array_equal(dense.kernel.value, new[0])   # nothing half-written


def test_weights_argument_keras1():
    w = [np.ones((2, 3)), np.full(3, 0.5)]
    dense = Dense(3, weights=w)
    dense(Input(shape=(2,)))
    np.testing.assert_array_equal(dense.get_weights()[1], w[1])


def test_count_params_needs_a_built_layer():
    with pytest.raises(ValueError, match="isn't built"):
        Dense(3).count_params()


def test_base_layer_without_lowering():
    class NoLower(Layer):
        def compute_output_shape(self, input_shape):
            return input_shape
    with pytest.raises(NotImplementedError, match="no lower"):
        NoLower().lower(None, [])


def test_config_round_trip():
    dense = Dense(5, activation="tanh", use_bias=False, input_dim=3, name="d")
    config = dense.get_config()
    assert config["batch_input_shape"] == (None, 3)
    clone = Dense.from_config(config)
    assert (clone.units, clone.activation, clone.use_bias, clone.name) == (5, "tanh", False, "d")
