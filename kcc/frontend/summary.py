"""Model.summary(): Keras's table of layers, output shapes, parameter counts and connections."""

_DEFAULT_LINE_LENGTH = 98
_DEFAULT_POSITIONS = (0.33, 0.55, 0.67, 1.0)
_HEADER = ("Layer (type)", "Output Shape", "Param #", "Connected to")


def _row(fields, positions):
    """Fields left-aligned in their columns; a field too long is cut, keeping one space."""
    line, start = "", 0
    for text, end in zip(fields, positions):
        width = end - start
        text = str(text)
        if len(text) >= width:
            text = text[:max(width - 1, 0)]
        line += text.ljust(width)
        start = end
    return line.rstrip()


def _output_shape(layer):
    try:
        return str(layer.output_shape)
    except AttributeError:         # called several times with different shapes
        return "multiple"


def _connections(layer, relevant):
    """`inbound_layer[node_index][tensor_index]` for each input of each node of this model."""
    out = []
    for node in layer._inbound_nodes:
        if id(node) in relevant:
            out += [f"{l.name}[{n}][{t}]" for l, n, t in
                    zip(node.inbound_layers, node.node_indices, node.tensor_indices)]
    return out


def summary_lines(model, line_length=None, positions=None):
    line_length = line_length or _DEFAULT_LINE_LENGTH
    positions = positions or _DEFAULT_POSITIONS
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    relevant = {id(n) for n in model._nodes_in_order()}
    relevant.update(id(t.node) for t in model.inputs)
    lines = [f'Model: "{model.name}"', "_" * line_length, _row(_HEADER, positions),
             "=" * line_length]
    for i, layer in enumerate(model.layers):
        connections = _connections(layer, relevant) or [""]
        fields = [f"{layer.name} ({type(layer).__name__})", _output_shape(layer),
                  layer.count_params(), connections[0]]
        lines.append(_row(fields, positions))
        lines += [_row(["", "", "", c], positions) for c in connections[1:]]
        lines.append(("=" if i == len(model.layers) - 1 else "_") * line_length)
    trainable = sum(w.size for w in model.trainable_weights)
    non_trainable = sum(w.size for w in model.non_trainable_weights)
    lines += [f"Total params: {trainable + non_trainable:,}",
              f"Trainable params: {trainable:,}",
              f"Non-trainable params: {non_trainable:,}",
              "_" * line_length]
    return lines


def print_summary(model, line_length=None, positions=None, print_fn=None):
    print_fn = print_fn or print
    for line in summary_lines(model, line_length, positions):
        print_fn(line)
