"""Bidirectional(layer): an LSTM, GRU or SimpleRNN run forward and backward, outputs merged.

As Keras 3: the wrapper holds a copy of `layer` named forward_<name> and a copy with
go_backwards=True named backward_<name> (or the `backward_layer` given), each with its own
weights (get_weights: the forward layer's, then the backward one's). merge_mode 'concat'
(default), 'sum', 'mul', 'ave' joins the two outputs, None returns both. With
return_sequences the backward sequence is flipped back into input order; with return_state
the outputs are followed by the forward states, then the backward ones; initial_state is
split half and half (forward first).

Nothing new is compiled: two recurrent ops (the backward one writes its sequence in input
order, the op's `flip_output`) and the merge layers' ops (a concatenation of two last
states is written in place by the recurrences, passes/slices.py).
"""
from kcc.frontend.layer import Layer
from kcc.frontend.tensor import KerasTensor
from kcc.layers.merge import Add, Average, Concatenate, Multiply
from kcc.layers.recurrent import _Recurrent, call_with_states

_MERGES = {"concat": lambda name: Concatenate(axis=-1, name=name), "sum": Add,
           "mul": Multiply, "ave": Average, None: None}


def _removeprefix(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


def _copy(layer, name, go_backwards=None):
    """A new layer from `layer`'s config (Keras: the wrapper never shares the layer's
    weights), renamed; through the saving code so that loading guards its weights."""
    from kcc.saving.serialization import deserialize_layer, layer_entry  # saving imports layers
    entry = layer_entry(layer)
    entry.pop("shared_object_id", None)
    entry["config"] = {**entry["config"], "name": name}
    if go_backwards is not None:
        entry["config"]["go_backwards"] = go_backwards
    return deserialize_layer(entry, "Bidirectional's `layer`")


class Bidirectional(Layer):
    _call_arguments = ("training", "mask", "initial_state")
    supports_masking = True     # each direction honours the mask (the backward one reads it
    _uses_mask = True           # backwards with its sequence)

    def compute_mask(self, inputs, previous_mask):
        """Keras's Bidirectional.compute_mask: the mask for returned sequences (one per
        output with merge_mode=None), none for last outputs and states."""
        m = previous_mask if self.forward_layer.return_sequences else None
        out = [m, m] if self.merge_mode is None else [m]
        if self.return_state:
            out += [None] * (2 * len(self.forward_layer._states))
        return out if len(out) > 1 else out[0]

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        for what, given in (("layer", layer), ("backward_layer", backward_layer)):
            if given is None and what == "backward_layer":
                continue
            if not isinstance(given, _Recurrent):
                kind = (f"layer {given.name} ({type(given).__name__})" if isinstance(given, Layer)
                        else f"{given!r} (of type {type(given).__name__})")
                raise ValueError(f"Layer {self.name} (Bidirectional): `{what}` must be a "
                                 f"recurrent layer instance (LSTM, GRU or SimpleRNN); "
                                 f"received {kind}.")
        if merge_mode not in _MERGES:
            raise ValueError(f"Layer {self.name} (Bidirectional): invalid merge_mode "
                             f"{merge_mode!r}; expected one of 'sum', 'mul', 'ave', 'concat' or "
                             "None.")
        self.forward_layer = _copy(layer, f"forward_{_removeprefix(layer.name, 'forward_')}")
        if backward_layer is None:
            backward_layer = _copy(layer, f"backward_{_removeprefix(layer.name, 'backward_')}",
                                   go_backwards=True)
        self.backward_layer = backward_layer
        self._verify_pair()
        self.merge_mode = merge_mode
        self._merge = _MERGES[merge_mode] and (
            _MERGES[merge_mode](self.name) if merge_mode == "concat"
            else _MERGES[merge_mode](name=self.name))
        if weights:          # Keras 1/2: the forward layer's weights, then the backward one's
            self._initial_weights = list(weights)
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = self.forward_layer.return_state
        self._states = self.forward_layer._states
        self.input_spec = self._specs(self.forward_layer.input_spec[0])
        if not self._trainable:
            self.trainable = False

    def _verify_pair(self):
        fwd, bwd = self.forward_layer, self.backward_layer
        if fwd.go_backwards == bwd.go_backwards:
            raise ValueError(f"Layer {self.name} (Bidirectional): the forward and backward "
                             "layers should have different `go_backwards` values; received "
                             f"forward_layer.go_backwards={fwd.go_backwards}, "
                             f"backward_layer.go_backwards={bwd.go_backwards}.")
        for attr in ("return_sequences", "return_state"):
            if getattr(fwd, attr) != getattr(bwd, attr):
                raise ValueError(f"Layer {self.name} (Bidirectional): the forward and backward "
                                 f"layers should have the same `{attr}`; received "
                                 f"{getattr(fwd, attr)} for {fwd.name} and {getattr(bwd, attr)} "
                                 f"for {bwd.name}.")
        if type(fwd)._states != type(bwd)._states:
            raise ValueError(f"Layer {self.name} (Bidirectional): the forward and backward "
                             f"layers should have the same states; {fwd.name} "
                             f"({type(fwd).__name__}) has {list(fwd._states)}, {bwd.name} "
                             f"({type(bwd).__name__}) has {list(bwd._states)}.")

    def _specs(self, sequence):
        return [sequence] + [None] * (2 * len(self._states))

    @Layer.trainable.setter
    def trainable(self, value):
        # as in Keras, freezing the wrapper freezes both layers
        self._trainable = bool(value)
        for layer in (getattr(self, "forward_layer", None), getattr(self, "backward_layer", None)):
            if layer is not None:
                layer.trainable = value

    # -- calling -------------------------------------------------------------------------
    def __call__(self, inputs, training=None, mask=None, initial_state=None):
        return call_with_states(self, inputs, training, mask, initial_state)

    def _initial_states(self, initial_state):
        if initial_state is None:
            return []
        states = (list(initial_state) if isinstance(initial_state, (list, tuple))
                  else [initial_state])
        want = 2 * len(self._states)
        if len(states) != want:
            raise ValueError(f"Layer {self.name} (Bidirectional): `initial_state` expects {want} "
                             f"tensors, the forward layer's {list(self._states)} then the "
                             f"backward layer's; received {len(states)}.")
        half = want // 2
        self.forward_layer._initial_states(states[:half])     # their checks and messages
        self.backward_layer._initial_states(states[half:])
        return states

    def _check_num_inputs(self, tensors):
        if len(tensors) not in (1, 1 + 2 * len(self._states)):
            raise ValueError(f"Layer {self.name} (Bidirectional) expects a sequence, optionally "
                             f"followed by {2 * len(self._states)} initial states (forward, then "
                             f"backward); received {len(tensors)} input tensors.")

    def build(self, input_shape):
        for layer in (self.forward_layer, self.backward_layer):
            if not layer.built:
                layer.build(input_shape)
        self.input_spec = self._specs(self.forward_layer.input_spec[0])

    def compute_output_shape(self, input_shape):
        fwd = self.forward_layer.compute_output_shape(input_shape)
        bwd = self.backward_layer.compute_output_shape(input_shape)
        if self.return_state:
            (fwd, *fstates), (bwd, *bstates) = fwd, bwd
        if self.merge_mode is None:
            outputs = [tuple(fwd), tuple(bwd)]
        elif self.merge_mode == "concat":
            outputs = [tuple(fwd[:-1]) + (fwd[-1] + bwd[-1],)]
        else:
            if tuple(fwd) != tuple(bwd):
                raise ValueError(f"Layer {self.name} (Bidirectional): merge_mode "
                                 f"{self.merge_mode!r} needs forward and backward outputs of one "
                                 f"shape; received {tuple(fwd)} and {tuple(bwd)}.")
            outputs = [tuple(fwd)]
        if self.return_state:
            outputs += [tuple(s) for s in fstates + bstates]
        return outputs if len(outputs) > 1 else outputs[0]

    # -- weights and config -------------------------------------------------------------
    @property
    def weights(self):
        return self.forward_layer.weights + self.backward_layer.weights

    @property
    def trainable_weights(self):
        return self.forward_layer.trainable_weights + self.backward_layer.trainable_weights

    @property
    def non_trainable_weights(self):
        return (self.forward_layer.non_trainable_weights
                + self.backward_layer.non_trainable_weights)

    def count_params(self):
        return self.forward_layer.count_params() + self.backward_layer.count_params()

    def get_config(self):
        from kcc.saving.serialization import layer_entry  # deferred: saving imports layers
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": layer_entry(self.forward_layer),
                "backward_layer": layer_entry(self.backward_layer)}

    @classmethod
    def from_config(cls, config):
        from kcc.saving.serialization import deserialize_layer  # deferred: saving imports layers
        config = dict(config)
        layer = deserialize_layer(config.pop("layer"), "Bidirectional's `layer`")
        backward = config.pop("backward_layer", None)
        if backward is not None:
            backward = deserialize_layer(backward, "Bidirectional's `backward_layer`")
        return cls(layer, backward_layer=backward, **config)

    # -- lowering ------------------------------------------------------------------------
    def lower(self, g, inputs):
        x, states = inputs[0], inputs[1:]
        half = len(states) // 2
        outs = []
        for layer, own, flip in ((self.forward_layer, states[:half], False),
                                 (self.backward_layer, states[half:], True)):
            if getattr(layer, "activity_regularizer", None) is not None:
                raise NotImplementedError(
                    f"Layer {layer.name}: an activity_regularizer inside Bidirectional is not "
                    "supported by kcc yet; regularize the layer's weights, or the output of the "
                    "Bidirectional wrapper.")
            with g.inner_nodes():
                g.begin_node(layer.name, 0)
                # Keras flips the backward layer's sequence (whichever way it reads)
                outs.append(layer.lower(g, [x, *own], flip_output=flip,
                                        zero_output=layer.return_sequences))
        (y, *fstates), (y_rev, *bstates) = outs
        merged = [y, y_rev] if self._merge is None else self._merge.lower(g, [y, y_rev])
        return merged + fstates + bstates
