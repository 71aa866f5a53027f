"""Recurrent layers: LSTM, GRU and SimpleRNN over (batch, timesteps, features).

Keras 3 defaults, Keras 1 and 2 argument spellings. Weights have Keras's layout, so
`set_weights` with a Keras model's weights gives Keras's numbers:
  LSTM       kernel (D, 4U), recurrent_kernel (U, 4U), bias (4U,)        gates i, f, c, o
  GRU        kernel (D, 3U), recurrent_kernel (U, 3U), bias (2, 3U)      gates z, r, h
             (reset_after=True: input bias row 0, recurrent bias row 1; False: bias (3U,))
  SimpleRNN  kernel (D, U),  recurrent_kernel (U, U),  bias (U,)
The state starts at zero, or at `initial_state` (tensors of shape (batch, units): [h] for
GRU and SimpleRNN, [h, c] for LSTM, as Keras 3). With return_state=True a call returns
[output, h] ([output, h, c] for LSTM): the final state, whose gradient flows back into the
recurrence. All three lower to one op family, "recurrent" (templates/layers/recurrent.cpp.j2),
one op with inputs [x, *initial states] and outputs [y, *final states]; the cell math is in
csrc/include/kcc/ops/recurrent.h. `dropout` (Keras 1: `dropout_W`) is Keras 3's input
dropout, one mask per sample shared by every step and gate: a dropout op with noise shape
(batch, 1, features) before the recurrent op. `recurrent_dropout` is not supported yet.
"""

import numpy as np

from kcc import activations, initializers, regularizers
from kcc.frontend.input_spec import InputSpec
from kcc.frontend.layer import Layer
from kcc.frontend.tensor import KerasTensor
from kcc.layers.args import (KERAS_DEFAULT, legacy, positive_int, weight_rules,
                             weight_rules_config)
from kcc.layers.dropout import check_rate, lower_dropout, shared_axes

# Keras's defaults (activations, use_bias), told apart from an explicit None (which Keras
# reads as linear, and as no bias).
_DEFAULT = KERAS_DEFAULT

# Element-wise activations the cell code compiles: those whose derivative the output gives.
_CELL_ACTIVATIONS = activations.FROM_OUTPUT


def _rate(layer_class, name, value, refuse=False):
    """A dropout rate (0 when not given); `refuse`: only 0 is supported."""
    if value is None:
        return 0.0
    value = check_rate(layer_class, name, value)
    if refuse and value > 0:
        raise NotImplementedError(f"{layer_class}: `{name}`={value!r} is not supported by kcc "
                                  f"yet (recurrent layers compile without it); use "
                                  f"{name}=0, or a Dropout layer before or after the layer.")
    return value


def call_with_states(layer, inputs, training, mask, initial_state):
    """A recurrent layer's call (and Bidirectional's): the sequence, then the initial states
    `layer._initial_states` checks, as the op's inputs."""
    if mask is not None:
        raise NotImplementedError(f"Layer {layer.name}: an explicit `mask=` argument is not "
                                  "supported by kcc yet; make the mask with "
                                  "Embedding(mask_zero=True) or Masking before the layer.")
    if isinstance(inputs, (list, tuple)) and initial_state is None and len(inputs) > 1:
        # Keras 2's form, and how a saved config calls it: [sequence, *initial states]
        inputs, initial_state = inputs[0], list(inputs[1:])
    states = layer._initial_states(initial_state)
    kwargs = {} if training is None else {"training": training}
    return Layer.__call__(layer, [inputs] + states if states else inputs, **kwargs)


class _Recurrent(Layer):
    """What LSTM, GRU and SimpleRNN share: arguments, shapes, weights, lowering."""
    _cell = ""          # op attribute: "lstm", "gru", "simple_rnn"
    _gates = 1
    _states = ("h",)    # the state tensors, in Keras's order (initial_state, return_state)
    recurrent_activation = "linear"     # gated cells set their own
    _call_arguments = ("training", "mask", "initial_state")
    supports_masking = True     # a masked step keeps the state (Keras 3's backend rnn)
    _uses_mask = True

    def compute_mask(self, inputs, previous_mask):
        """Keras's RNN.compute_mask: the sequence's mask for a returned sequence, none for
        the last output and the states."""
        out = previous_mask if self.return_sequences else None
        return [out] + [None] * len(self._states) if self.return_state else out

    def __init__(self, units, activation, recurrent_activation, use_bias, kernel_initializer,
                 recurrent_initializer, bias_initializer, *, output_dim, init, inner_init,
                 inner_activation, return_sequences, return_state, go_backwards, stateful,
                 unroll, dropout, recurrent_dropout, input_dim, input_length, time_major=None,
                 dropout_W=None, dropout_U=None, seed=None, implementation=None, rules=None,
                 **kwargs):
        cls = type(self).__name__
        units = legacy("units", units, "output_dim", output_dim)
        if units is None:
            raise TypeError(f"{cls} needs `units`, the size of its state and output "
                            f"(Keras 1: `output_dim`), e.g. {cls}(32).")
        self.units = positive_int("units" if output_dim is None else "output_dim", units)
        self.use_bias = True if use_bias is _DEFAULT else bool(use_bias)   # None: no bias
        self.kernel_initializer = initializers.get(
            legacy("kernel_initializer", kernel_initializer, "init", init, "glorot_uniform"))
        self.recurrent_initializer = initializers.get(
            legacy("recurrent_initializer", recurrent_initializer, "inner_init", inner_init,
                   "orthogonal"))
        self.bias_initializer = initializers.get(bias_initializer or "zeros")
        self.return_sequences = bool(return_sequences)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)          # accepted; the compiled loop is the same either way
        # input dropout: one mask per sample for every step (Keras 3's cells), lowered as a
        # Dropout with noise_shape (batch, 1, features) on the sequence
        self.dropout = _rate(cls, "dropout", legacy("dropout", dropout, "dropout_W", dropout_W))
        self.seed = seed
        if self.dropout and implementation == 1:
            raise NotImplementedError(f"{cls}: `implementation=1` draws a dropout mask per "
                                      "gate, which kcc does not support; leave "
                                      "`implementation` out (Keras 3's 2: one mask).")
        _rate(cls, "recurrent_dropout",
              legacy("recurrent_dropout", recurrent_dropout, "dropout_U", dropout_U), refuse=True)
        self.return_state = bool(return_state)
        for name, value in (("stateful", stateful), ("time_major", time_major)):
            if value:
                raise NotImplementedError(f"{cls}: `{name}=True` is not supported by kcc yet.")
        # Keras 1/2: input_dim and input_length; with both, they declare the input shape
        self._declared = tuple(None if v is None else positive_int(name, v) for name, v in
                               (("input_length", input_length), ("input_dim", input_dim)))
        if None not in self._declared:
            if kwargs.get("input_shape") is not None or kwargs.get("batch_input_shape") is not None:
                raise ValueError(f"{cls}: pass either `input_shape` or `input_dim`/`input_length`.")
            kwargs["input_shape"] = self._declared
        super().__init__(**kwargs)
        # penalties and constraints: `rules` holds the subclass's arguments (its locals())
        weight_rules(self, rules or {}, "kernel", "recurrent", "bias")
        # as in Keras, activation=None is linear; only an argument left out takes the default
        self.activation = self._cell_activation(
            "activation", "tanh" if activation is _DEFAULT else activation)
        if self._gates > 1:           # SimpleRNN has no gates, hence no recurrent_activation
            rec = legacy("recurrent_activation",
                         None if recurrent_activation is _DEFAULT else recurrent_activation,
                         "inner_activation", inner_activation)
            if rec is None:
                rec = "sigmoid" if recurrent_activation is _DEFAULT else "linear"
            self.recurrent_activation = self._cell_activation("recurrent_activation", rec)
        self.input_spec = self._specs(InputSpec(ndim=3))
        self.kernel = self.recurrent_kernel = self.bias = None

    def _specs(self, sequence):
        """The sequence's spec; the initial states are checked by _initial_states."""
        return [sequence] + [None] * len(self._states)

    def _cell_activation(self, name, identifier):
        where = f"Layer {self.name} ({type(self).__name__}): `{name}`"
        act = activations.get(identifier, where)
        if act not in _CELL_ACTIVATIONS:
            raise ValueError(f"{where}={act!r} is not supported in a recurrent cell; use one of "
                             f"{', '.join(_CELL_ACTIVATIONS)}.")
        return act

    def __call__(self, inputs, training=None, mask=None, initial_state=None):
        return call_with_states(self, inputs, training, mask, initial_state)

    def _initial_states(self, initial_state):
        """initial_state as a list of tensors of shape (batch, units), or a clear error."""
        if initial_state is None:
            return []
        states = (list(initial_state) if isinstance(initial_state, (list, tuple))
                  else [initial_state])
        want = len(self._states)
        expected = (f"{want} tensor{'s' if want > 1 else ''} of shape (batch, {self.units}) "
                    f"([{', '.join(self._states)}])")
        if len(states) != want:
            raise ValueError(f"Layer {self.name} ({type(self).__name__}): `initial_state` "
                             f"expects {expected}; received {len(states)} tensor(s).")
        for name, t in zip(self._states, states):
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Layer {self.name} ({type(self).__name__}): `initial_state` "
                                f"expects {expected}; its state {name} is of type "
                                f"{type(t).__name__}, not a symbolic tensor (from Input() or "
                                "another layer).")
            shape = tuple(t.shape)
            if len(shape) != 2 or shape[1] != self.units:
                raise ValueError(f"Layer {self.name} ({type(self).__name__}): `initial_state` "
                                 f"expects {expected}; its state {name} has shape {shape}.")
        return states

    def _check_num_inputs(self, tensors):
        if len(tensors) not in (1, 1 + len(self._states)):
            raise ValueError(f"Layer {self.name} expects a sequence, optionally followed by its "
                             f"{len(self._states)} initial state(s); received {len(tensors)} "
                             "input tensors.")

    # -- shapes and weights --------------------------------------------------------------
    def _check_sequence(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 3 or any(d is None for d in shape[1:]):
            raise ValueError(f"Layer {self.name} expects a sequence of shape (batch, timesteps, "
                             f"features) with known timesteps and features; received input "
                             f"shape {shape}.")
        for name, want, got in zip(("input_length", "input_dim"), self._declared, shape[1:]):
            if want is not None and want != got:
                raise ValueError(f"Layer {self.name} was declared with {name}={want}, but it "
                                 f"received an input of shape {shape}.")
        return shape[1], shape[2]

    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        _, features = self._check_sequence(input_shape)
        width = self._gates * self.units
        self.kernel = self.add_weight("kernel", (features, width), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width),
                                                self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self._bias_initializer(),
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.input_spec = self._specs(InputSpec(ndim=3, axes={-1: features}))

    def compute_output_shape(self, input_shape):
        steps, _ = self._check_sequence(input_shape)
        batch = input_shape[0]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * len(self._states)
        return out

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                **weight_rules_config(self, "kernel", "recurrent", "bias"),
                # Keras's recurrent layers always write it (its base Layer only when set)
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards,
                "unroll": self.unroll, "dropout": self.dropout, "recurrent_dropout": 0.0,
                "seed": self.seed,
                # input_length or input_dim alone (both together are the input shape above)
                **{k: v for k, v in zip(("input_length", "input_dim"), self._declared)
                   if v is not None and None in self._declared}}

    # -- lowering ------------------------------------------------------------------------
    def _op_cell(self):
        return self._cell

    def lower(self, g, inputs, flip_output=False, zero_output=False):
        """flip_output: write the output sequence in the other order (Bidirectional's
        backward layer, whose sequence Keras flips back into input order). With a mask
        (the sequence's Keras mask) the op reads it as its last input; zero_output: masked
        steps output zeros (Keras's zero_output_for_mask, which Bidirectional sets)."""
        x, states = inputs[0], inputs[1:]
        # Keras 3.15 fills in `mask` only for a call with one tensor argument (Layer.__call__,
        # step 6): a call with initial states runs unmasked, its output still carries the mask
        mask = None if states else g.input_mask(0)
        steps, _ = self._check_sequence((None,) + tuple(x.shape))
        if self.dropout:
            with g.sub_node("dropout"):
                x = lower_dropout(g, x, self.dropout, self.seed,
                                  *shared_axes(self.name, (None, 1, None), (None,) + x.shape))
        u, cell = self.units, self._op_cell()
        # kept from forward to backward (planned like activations), per sample
        saved = {"gates": (steps, self._gates * u),   # gates after activation, then their grads
                 "state": (steps, u)}                 # the state entering each step
        saved.update({"lstm": {"cells": (steps, u)}, "gru": {"rec": (steps, 3 * u)},
                      "gru_before": {"rh": (steps, u)}, "simple_rnn": {}}[cell])
        saved["dh"] = (u,)               # backward scratch: the gradient carried to step t-1
        if cell == "lstm":
            saved["dc"] = (u,)
        if cell == "gru_before":
            saved["drh"] = (u,)
        out_shape = (steps, u) if self.return_sequences else (u,)
        # inputs [x, *initial states], outputs [y, *final states] (in self._states' order)
        attrs = {"cell": cell, "units": u, "gates": self._gates, "activation": self.activation,
                 "recurrent_activation": self.recurrent_activation,
                 "return_sequences": self.return_sequences, "go_backwards": self.go_backwards,
                 "initial_state": bool(states), "return_state": self.return_state}
        if flip_output and self.return_sequences:
            attrs["flip_output"] = True
        if mask is not None:        # only then: a layer without one renders as it did
            attrs["masked"] = True
            attrs["zero_output"] = bool(zero_output and self.return_sequences)
        shapes = [out_shape] + [(u,)] * (len(self._states) if self.return_state else 0)
        return g.op_outputs("recurrent", [x, *states] + ([mask] if mask is not None else []),
                            shapes,
                            weights=[self.kernel, self.recurrent_kernel, self.bias],
                            attrs=attrs, saved=saved)


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter 1997), Keras's formulation."""
    _cell, _gates, _states = "lstm", 4, ("h", "c")

    def __init__(self, units=None, activation=_DEFAULT, recurrent_activation=_DEFAULT,
                 use_bias=_DEFAULT, kernel_initializer=None, recurrent_initializer=None,
                 bias_initializer=None, unit_forget_bias=None, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=None,
                 recurrent_dropout=None, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, use_cudnn="auto", *,
                 output_dim=None, init=None, inner_init=None, inner_activation=None,
                 forget_bias_init=None, W_regularizer=None, U_regularizer=None,
                 b_regularizer=None, W_constraint=None, U_constraint=None, b_constraint=None,
                 dropout_W=None, dropout_U=None, input_dim=None,
                 input_length=None, implementation=None, consume_less=None, time_major=None,
                 **kwargs):
        if forget_bias_init is not None:              # Keras 1: 'one' (default) or 'zero'
            if forget_bias_init not in ("one", "ones", "zero", "zeros"):
                raise NotImplementedError(f"LSTM: forget_bias_init={forget_bias_init!r} is not "
                                          "supported; use 'one' or 'zero' (unit_forget_bias).")
            if unit_forget_bias is not None:
                raise TypeError("Pass either `unit_forget_bias` or its Keras 1 form "
                                "`forget_bias_init`, not both.")
            unit_forget_bias = forget_bias_init in ("one", "ones")
        self.unit_forget_bias = True if unit_forget_bias is None else bool(unit_forget_bias)
        super().__init__(
            units, activation, recurrent_activation, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, output_dim=output_dim, init=init,
            inner_init=inner_init, inner_activation=inner_activation,
            return_sequences=return_sequences, return_state=return_state,
            go_backwards=go_backwards, stateful=stateful, unroll=unroll, dropout=dropout,
            recurrent_dropout=recurrent_dropout, input_dim=input_dim, input_length=input_length,
            time_major=time_major, dropout_W=dropout_W, dropout_U=dropout_U, seed=seed,
            implementation=implementation, rules=locals(), **kwargs)

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, u = self.bias_initializer, self.units

        def forget_gate_ones(shape, dtype="float32"):    # as Keras: [init(U), 1, init(2U)]
            return np.concatenate([init((u,)), np.ones(u, np.float32), init((2 * u,))])
        return forget_gate_ones

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": self.recurrent_activation,
                "unit_forget_bias": self.unit_forget_bias}


class GRU(_Recurrent):
    """Gated recurrent unit (Cho 2014), Keras's formulation; reset_after=True as Keras 3."""
    _cell, _gates = "gru", 3

    def __init__(self, units=None, activation=_DEFAULT, recurrent_activation=_DEFAULT,
                 use_bias=_DEFAULT, kernel_initializer=None, recurrent_initializer=None,
                 bias_initializer=None, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=None, recurrent_dropout=None, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, reset_after=True, use_cudnn="auto", *, output_dim=None, init=None,
                 inner_init=None, inner_activation=None, W_regularizer=None, U_regularizer=None,
                 b_regularizer=None, W_constraint=None, U_constraint=None, b_constraint=None,
                 dropout_W=None, dropout_U=None, input_dim=None,
                 input_length=None, implementation=None, consume_less=None, time_major=None,
                 **kwargs):
        self.reset_after = bool(reset_after)
        super().__init__(
            units, activation, recurrent_activation, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, output_dim=output_dim, init=init,
            inner_init=inner_init, inner_activation=inner_activation,
            return_sequences=return_sequences, return_state=return_state,
            go_backwards=go_backwards, stateful=stateful, unroll=unroll, dropout=dropout,
            recurrent_dropout=recurrent_dropout, input_dim=input_dim, input_length=input_length,
            time_major=time_major, dropout_W=dropout_W, dropout_U=dropout_U, seed=seed,
            implementation=implementation, rules=locals(), **kwargs)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _op_cell(self):
        return "gru" if self.reset_after else "gru_before"

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": self.recurrent_activation,
                "reset_after": self.reset_after}


class SimpleRNN(_Recurrent):
    """Fully-connected recurrence: h = activation(x W + b + h_prev R)."""
    _cell, _gates = "simple_rnn", 1

    def __init__(self, units=None, activation=_DEFAULT, use_bias=_DEFAULT, kernel_initializer=None,
                 recurrent_initializer=None, bias_initializer=None, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=None, recurrent_dropout=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False, seed=None,
                 *, output_dim=None, init=None, inner_init=None, W_regularizer=None,
                 U_regularizer=None, b_regularizer=None, W_constraint=None, U_constraint=None,
                 b_constraint=None, dropout_W=None, dropout_U=None, input_dim=None,
                 input_length=None, consume_less=None, time_major=None, **kwargs):
        super().__init__(
            units, activation, None, use_bias, kernel_initializer, recurrent_initializer,
            bias_initializer, output_dim=output_dim, init=init, inner_init=inner_init,
            inner_activation=None, return_sequences=return_sequences,
            return_state=return_state, go_backwards=go_backwards, stateful=stateful,
            unroll=unroll, dropout=dropout, recurrent_dropout=recurrent_dropout,
            input_dim=input_dim, input_length=input_length, time_major=time_major,
            dropout_W=dropout_W, dropout_U=dropout_U, seed=seed,
            rules=locals(), **kwargs)
