"""Auto names as in the guide: `dense_1`, `dense_2`, `lstm_1`, counting per prefix."""
import re

_counters = {}          # prefix -> the last number handed out
_NUMBERED = re.compile(r"^(.+)_([0-9]+)$")


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
    _counters[prefix] = _counters.get(prefix, 0) + 1
    return f"{prefix}_{_counters[prefix]}"


def reserve(name):
    """Note a name made elsewhere (a loaded model's `dense_3`), so the next auto name with
    its prefix counts on from it (`dense_4`) instead of repeating it."""
    match = _NUMBERED.match(name) if isinstance(name, str) else None
    if match:
        prefix, number = match.group(1), int(match.group(2))
        _counters[prefix] = max(_counters.get(prefix, 0), number)


def reset_names():
    _counters.clear()
