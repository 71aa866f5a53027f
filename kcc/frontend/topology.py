"""Walking a functional graph from its outputs back to its inputs.

`map_graph` returns the nodes in an order they can run in, and the layers in Keras's
order (deepest first, ties by first visit), after checking that every tensor the outputs
need can be computed from the given inputs.
"""
from kcc.frontend.tensor import KerasTensor


def _producing_node(tensor, role):
    if isinstance(tensor, dict):
        raise TypeError(f"Model {role} as a dict (Keras 3's structured inputs/outputs) are not "
                        f"supported by kcc yet: pass a list of tensors. Data can still be fed "
                        f"and targets given as dicts keyed by layer name. Received keys "
                        f"{list(tensor)}")
    if not isinstance(tensor, KerasTensor):
        raise TypeError(f"Model {role} must be symbolic tensors (from Input() or a layer call). "
                        f"Received an object of type {type(tensor).__name__}: {tensor!r}")
    if tensor._keras_history is None:
        raise ValueError(f"Model {role} must come from Input() or a layer call; "
                         f"{tensor!r} has no producing layer.")
    return tensor.node


def _post_order(outputs):
    """Nodes reachable from `outputs`, each after the nodes it reads (iterative DFS, so deep
    graphs do not hit Python's recursion limit). Also the order layers were first met in."""
    order, done, first_seen = [], set(), {}
    for out in outputs:
        root = _producing_node(out, "outputs")
        if id(root) in done:
            continue
        stack = [(root, iter(root.input_tensors))]
        first_seen.setdefault(root.layer, len(first_seen))
        while stack:
            node, pending = stack[-1]
            parent = next((t.node for t in pending), None)
            if parent is None:
                stack.pop()
                done.add(id(node))
                order.append(node)
            elif id(parent) not in done:   # no cycle check: a call's inputs predate it
                first_seen.setdefault(parent.layer, len(first_seen))
                stack.append((parent, iter(parent.input_tensors)))
    return order, first_seen


def _depths(order):
    """Distance of each node from the outputs; a layer is as deep as its deepest node."""
    node_depth, layer_depth = {}, {}
    for node in reversed(order):
        depth = max(node_depth.get(id(node), 0), layer_depth.get(node.layer, 0))
        node_depth[id(node)] = depth
        layer_depth[node.layer] = depth
        for parent in node.parent_nodes:
            node_depth[id(parent)] = max(node_depth.get(id(parent), 0), depth + 1)
    return node_depth, layer_depth


def _check_connected(inputs, order, node_depth):
    """Keras's check, in Keras's order (deepest first): every node's inputs are computable."""
    computable = {id(t) for t in inputs}
    accessed = []
    position = {id(n): i for i, n in enumerate(order)}
    for node in sorted(order, key=lambda n: (-node_depth[id(n)], position[id(n)])):
        needed = node.output_tensors if node.is_input else node.input_tensors
        for t in needed:
            if id(t) not in computable:
                raise ValueError(f"Graph disconnected: cannot obtain value for tensor {t!r} at "
                                 f"layer \"{node.layer.name}\". The following previous layers "
                                 f"were accessed without issue: {accessed}")
        computable.update(id(t) for t in node.output_tensors)
        if node.layer.name not in accessed:
            accessed.append(node.layer.name)


def map_graph(inputs, outputs):
    """(nodes in execution order without the input nodes, layers in Keras order)."""
    for t in inputs:
        node = _producing_node(t, "inputs")
        if not node.is_input:
            raise ValueError(f"Model inputs must be tensors returned by Input(); {t!r} is the "
                             f"output of layer \"{node.layer.name}\". Pass the Input() tensor "
                             "the graph starts from instead.")
    if len({id(t) for t in inputs}) != len(inputs):
        raise ValueError("The same Input tensor is passed twice in the model's inputs.")
    order, first_seen = _post_order(outputs)
    node_depth, layer_depth = _depths(order)
    _check_connected(inputs, order, node_depth)
    input_layers = [t._keras_history[0] for t in inputs]
    others = sorted((l for l in layer_depth if l not in input_layers),
                    key=lambda l: (-layer_depth[l], first_seen[l]))
    return [n for n in order if not n.is_input], input_layers + others
