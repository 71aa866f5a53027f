"""Node: one call of a layer. Linking it in is what records the graph.

A layer called N times owns N nodes (`layer._inbound_nodes`), and each output tensor points
back to its node through `_keras_history = (layer, node_index, tensor_index)`. Sharing a layer
therefore needs no special case anywhere: one layer, many nodes, one set of weights.
"""


class Node:
    def __init__(self, layer, input_tensors, output_tensors, arguments=None, link=True):
        """`link=False` records a Model's own graph (inputs -> outputs) as its node 0 without
        claiming the output tensors, which stay the outputs of the layers that computed them."""
        self.layer = layer
        self.input_tensors = list(input_tensors)
        self.output_tensors = list(output_tensors)
        self.arguments = dict(arguments or {})     # call keyword arguments, e.g. training=
        self.index = len(layer._inbound_nodes)
        self.input_masks = [None] * len(self.input_tensors)   # their Keras masks (Layer.__call__)
        layer._inbound_nodes.append(self)
        if link:
            for i, t in enumerate(self.output_tensors):
                t._keras_history = (layer, self.index, i)
            for parent in self.inbound_layers:
                parent._outbound_nodes.append(self)

    @property
    def outbound_layer(self):        # Keras 1/2 name of `layer`
        return self.layer

    @property
    def is_input(self):
        """True for the node of an InputLayer: it has no inputs, its tensor is fed by the user."""
        return not self.input_tensors

    @property
    def inbound_layers(self):
        return [t._keras_history[0] for t in self.input_tensors]

    @property
    def node_indices(self):
        return [t._keras_history[1] for t in self.input_tensors]

    @property
    def tensor_indices(self):
        return [t._keras_history[2] for t in self.input_tensors]

    @property
    def parent_nodes(self):
        return [t.node for t in self.input_tensors]

    @property
    def input_shapes(self):
        return [t.shape for t in self.input_tensors]

    @property
    def output_shapes(self):
        return [t.shape for t in self.output_tensors]

    def __repr__(self):
        ins = ", ".join(f"{l.name}[{n}][{t}]" for l, n, t in
                        zip(self.inbound_layers, self.node_indices, self.tensor_indices))
        return f"<Node {self.layer.name}[{self.index}] <- ({ins})>"
