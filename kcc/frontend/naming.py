"""Auto names as in the guide: `dense_1`, `dense_2`, `lstm_1`, counting per prefix."""
import itertools

_counters = {}


def to_snake_case(class_name):
    """`MaxPooling2D` -> `max_pooling2d`, `LSTM` -> `lstm`, `SimpleRNN` -> `simple_rnn`.

    An underscore goes before a capital that follows a lowercase letter, or that ends a run of
    capitals and starts a word ("RNNCell" -> "rnn_cell"); digits never split ("Conv2D" -> "conv2d").
    """
    out = []
    for i, ch in enumerate(class_name):
        if ch.isupper() and i > 0:
            prev = class_name[i - 1]
            nxt = class_name[i + 1] if i + 1 < len(class_name) else ""
            if prev.islower() or (prev.isupper() and nxt.islower()):
                out.append("_")
        out.append(ch.lower())
    return "".join(out)


def unique_name(prefix):
    """Next name for `prefix` in this process (or since the last `clear_session()`)."""
    counter = _counters.setdefault(prefix, itertools.count(1))
    return f"{prefix}_{next(counter)}"


def reset_names():
    _counters.clear()
