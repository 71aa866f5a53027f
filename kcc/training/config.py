"""compile()'s arguments resolved into plain data: one loss, weight and metric list per output.

``resolve_compile`` applies Keras's rules for every spelling compile() accepts:

- loss: one identifier for all outputs; a list with one entry per output; or a dict
  keyed by output name that covers every output.
- loss_weights: None (all 1.0); a number (every output); a list (one per output); or a
  dict keyed by output name (outputs left out weigh 1.0).
- metrics: None; a list applied to every output; a list of lists, one per output; or
  a dict keyed by output name whose values are one metric or a list (outputs left out
  have none). weighted_metrics: the same spellings; sample weights weigh them.
"""

import math
import warnings
from dataclasses import dataclass, field

from kcc import losses as losses_module
from kcc import metrics as metrics_module
from kcc import optimizers as optimizers_module


@dataclass
class CompileConfig:
    optimizer: object                       # a kcc.optimizers.Optimizer
    losses: list                            # canonical loss name per output
    loss_weights: list                      # float per output
    metrics: list                           # per output: [(display_name, canonical), ...]
    output_names: list = field(default_factory=list)
    weighted_metrics: list = field(default_factory=list)   # as metrics (empty: none)
    label_smoothing: list = field(default_factory=list)    # float per output (empty: none)
    deltas: list = field(default_factory=list)    # Huber's delta per output (empty: all 1)

    def smoothing(self, i):
        """Output i's loss's label_smoothing (0: none)."""
        return self.label_smoothing[i] if self.label_smoothing else 0.0

    def delta(self, i):
        """Output i's Huber delta (1 for every other loss)."""
        return self.deltas[i] if self.deltas else 1.0

    @property
    def metrics_names(self):
        """The stats in the order the native code keeps them (Keras 1/2's metrics_names):
        'loss', '<output>_loss' for each output when there are several, then each output's
        metrics ('<output>_<name>' when there are several), then the weighted metrics,
        named as Keras 3 names them (kcc.codegen.render.stat_names)."""
        multi = len(self.losses) > 1
        names = ["loss"]
        if multi:
            names += [f"{o}_loss" for o in self.output_names]
        counters = {}
        outs = self.output_names or [None] * len(self.metrics)
        for weighted, per_output in ((False, self.metrics), (True, self.weighted_metrics)):
            for out, metrics in zip(outs, per_output):
                for display, _ in metrics:
                    name = f"{out}_{display}" if multi else display
                    if weighted and name in counters:
                        name = f"{out}_weighted_{display}" if multi else f"weighted_{display}"
                    if name in counters:
                        counters[name] += 1
                        name = f"{name}_{counters[name] - 1}"
                    else:
                        counters[name] = 1
                    names.append(name)
        return names

    def to_dict(self):
        """Plain data for a model file: optimizer (class_name/config), losses, weights, metrics
        (and label_smoothing, one per output, when a loss smooths its labels)."""
        data = {"optimizer": optimizers_module.serialize(self.optimizer),
                "loss": list(self.losses), "loss_weights": [float(w) for w in self.loss_weights],
                "metrics": [[[d, c] for d, c in m] for m in self.metrics],
                "weighted_metrics": [[[d, c] for d, c in m] for m in self.weighted_metrics],
                "output_names": list(self.output_names)}
        if any(self.label_smoothing):
            data["label_smoothing"] = [float(ls) for ls in self.label_smoothing]
        if any(d != 1.0 for d in self.deltas):
            data["huber_delta"] = [float(d) for d in self.deltas]
        return data

    def structure_key(self):
        """What changes the generated code; loss weights and hparams are run-time values
        (label smoothing is compiled in)."""
        return (self.optimizer.structure_key(), tuple(self.losses), tuple(self.label_smoothing),
                tuple(self.deltas),
                tuple(tuple(c for _, c in m) for m in self.metrics),
                tuple(tuple(c for _, c in m) for m in self.weighted_metrics))


def _by_output(arg, value, output_names, required):
    """A dict keyed by output name -> list in output order (None where left out)."""
    unknown = [k for k in value if k not in output_names]
    if unknown:
        raise ValueError(f"Unknown output name(s) {unknown} in `{arg}`: expected keys among "
                         f"the model's outputs {list(output_names)}. Received: {arg}={value!r}")
    missing = [o for o in output_names if o not in value]
    if required and missing:
        raise ValueError(f"`{arg}` is missing output(s) {missing}: a dict `{arg}` needs one "
                         f"entry per model output {list(output_names)}. Received: {arg}={value!r}")
    return [value.get(o) for o in output_names]


def _per_output_list(arg, value, output_names):
    if len(value) != len(output_names):
        raise ValueError(f"When passing a list as `{arg}`, it should have one entry per model "
                         f"output: expected {len(output_names)} entries for outputs "
                         f"{list(output_names)}, received {len(value)}: {arg}={value!r}")
    return list(value)


def _per_output_losses(loss, output_names):
    if loss is None:
        raise ValueError("compile() needs a `loss`, e.g. loss='categorical_crossentropy'. "
                         "Received: loss=None")
    if isinstance(loss, dict):
        per_output = _by_output("loss", loss, output_names, required=True)
    elif isinstance(loss, (list, tuple)):
        per_output = _per_output_list("loss", loss, output_names)
    else:
        per_output = [loss] * len(output_names)
    return per_output


def _weight(value):
    try:
        w = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`loss_weights` entries must be numbers. Received: {value!r}") from None
    if not math.isfinite(w):
        raise ValueError(f"`loss_weights` entries must be finite numbers. Received: {value!r}")
    return w


def _resolve_weights(loss_weights, output_names):
    if loss_weights is None:
        return [1.0] * len(output_names)
    if isinstance(loss_weights, dict):
        per_output = _by_output("loss_weights", loss_weights, output_names, required=False)
        return [1.0 if w is None else _weight(w) for w in per_output]
    if isinstance(loss_weights, (list, tuple)):
        return [_weight(w) for w in _per_output_list("loss_weights", loss_weights, output_names)]
    return [_weight(loss_weights)] * len(output_names)


def _resolve_metric_lists(metrics, output_names, arg="metrics"):
    """-> one list of metric identifiers per output."""
    if metrics is None:
        return [[] for _ in output_names]
    if isinstance(metrics, dict):
        per_output = _by_output(arg, metrics, output_names, required=False)
        return [[] if m is None else list(m) if isinstance(m, (list, tuple)) else [m]
                for m in per_output]
    if not isinstance(metrics, (list, tuple)):
        raise ValueError(f"Expected `{arg}` to be a list, tuple or dict. Received: "
                         f"{arg}={metrics!r} of type {type(metrics).__name__}")
    nested = metrics and all(isinstance(m, (list, tuple)) for m in metrics)
    if nested:
        return [list(m) for m in _per_output_list(arg, metrics, output_names)]
    return [list(metrics) for _ in output_names]


def _resolve_metrics(metric_lists, losses, output_names, output_shapes):
    resolved = []
    for out, loss, shape, identifiers in zip(output_names, losses, output_shapes, metric_lists):
        entries = []
        for metric in identifiers:
            canonical = metrics_module.resolve(metric, loss, shape)
            if metrics_module.target_kind(canonical) != losses_module.target_kind(loss):
                raise ValueError(f"Metric {canonical!r} on output '{out}' needs "
                                 f"{metrics_module.target_kind(canonical)} targets but loss "
                                 f"{loss!r} takes {losses_module.target_kind(loss)} targets; "
                                 f"use metrics=['accuracy'] to pick the matching accuracy")
            # a metric given twice is computed twice, logged as name and name_1 (as Keras)
            entries.append((metrics_module.display_name(metric, canonical), canonical))
        resolved.append(entries)
    return resolved


def resolve_compile(optimizer, loss, metrics, loss_weights, output_names, output_shapes,
                    weighted_metrics=None):
    """compile()'s arguments -> CompileConfig (see the module docstring for the rules)."""
    output_names = list(output_names)
    if len(output_shapes) != len(output_names):
        raise ValueError(f"resolve_compile: {len(output_names)} output names but "
                         f"{len(output_shapes)} output shapes")
    per_output = _per_output_losses(loss, output_names)
    losses = [losses_module.get(x) for x in per_output]
    for out, name, shape in zip(output_names, losses, output_shapes):
        if losses_module.base(name) == "categorical_crossentropy" and tuple(shape) and tuple(shape)[-1] == 1:
            warnings.warn(f"Output '{out}' has shape {tuple(shape)} and loss "
                          f"categorical_crossentropy, which is always 0 for one class; consider "
                          f"'binary_crossentropy'", stacklevel=3)
    return CompileConfig(
        optimizer=optimizers_module.get(optimizer),
        losses=losses,
        loss_weights=_resolve_weights(loss_weights, output_names),
        metrics=_resolve_metrics(_resolve_metric_lists(metrics, output_names), losses,
                                 output_names, output_shapes),
        output_names=output_names,
        label_smoothing=[losses_module.smoothing(x) for x in per_output],
        deltas=[losses_module.delta(x) for x in per_output],
        weighted_metrics=_resolve_metrics(
            _resolve_metric_lists(weighted_metrics, output_names, "weighted_metrics"), losses,
            output_names, output_shapes),
    )


def compile_arguments(data):
    """CompileConfig.to_dict()'s data -> keyword arguments for Model.compile, the optimizer
    rebuilt from kcc's own classes. A ValueError says what in the data is wrong. `loss` and
    `loss_weights` may also be spelled as compile() takes them (a hand-written config's
    loss "mse" is one loss for every output, not three letters)."""
    if not isinstance(data, dict):
        raise ValueError(f"the compile config must be a dict, found {type(data).__name__}")
    missing = [k for k in ("optimizer", "loss", "loss_weights", "metrics") if k not in data]
    if missing:
        raise ValueError(f"the compile config lacks {missing}")
    optimizer = data["optimizer"]
    if not isinstance(optimizer, dict) or not isinstance(optimizer.get("class_name"), str) \
            or not isinstance(optimizer.get("config", {}), dict):
        raise ValueError(f"the compile config's optimizer must be {{'class_name': str, "
                         f"'config': dict}}, found {optimizer!r}")
    loss, loss_weights, metrics = data["loss"], data["loss_weights"], data["metrics"]
    if not _per_output_spelling(loss, lambda v: isinstance(v, str)):
        raise ValueError(f"the compile config's loss must be a loss name, a list of one per "
                         f"output or a dict by output name, found {loss!r} "
                         f"({type(loss).__name__})")
    if loss_weights is not None and not _per_output_spelling(loss_weights, _is_number):
        raise ValueError(f"the compile config's loss_weights must be null, a number, a list of "
                         f"one per output or a dict by output name, found {loss_weights!r} "
                         f"({type(loss_weights).__name__})")
    weighted = data.get("weighted_metrics") or []     # absent from older files: none
    smoothing = data.get("label_smoothing")           # absent: no loss smooths
    if smoothing is not None:
        if not (isinstance(loss, list) and isinstance(smoothing, list)
                and len(smoothing) == len(loss) and all(_is_number(v) for v in smoothing)):
            raise ValueError(f"the compile config's label_smoothing must be a list of one number "
                             f"per entry of its loss list {loss!r}, found {smoothing!r}")
        loss = [losses_module.smoothed(k, ls) for k, ls in zip(loss, smoothing)]
    deltas = data.get("huber_delta")                  # absent: every Huber's delta is 1
    if deltas is not None:
        if not (isinstance(loss, list) and isinstance(deltas, list) and len(deltas) == len(loss)
                and all(_is_number(v) for v in deltas)):
            raise ValueError(f"the compile config's huber_delta must be a list of one number "
                             f"per entry of its loss list {loss!r}, found {deltas!r}")
        loss = [losses_module.with_delta(k, d) for k, d in zip(loss, deltas)]
    for arg, value in (("metrics", metrics), ("weighted_metrics", weighted)):
        if not _metric_pairs(value):
            raise ValueError(f"the compile config's {arg} must be one list of [name, metric] "
                             f"pairs of strings per output, found {value!r}")
    return {"optimizer": optimizers_module.deserialize(optimizer),
            "loss": loss, "loss_weights": loss_weights,
            "metrics": [[metrics_module.identifier(d, c) for d, c in m] for m in metrics],
            "weighted_metrics": [[metrics_module.identifier(d, c) for d, c in m]
                                 for m in weighted] or None}


def _metric_pairs(value):
    return isinstance(value, list) and all(
        isinstance(m, list) and all(isinstance(e, list) and len(e) == 2
                                    and all(isinstance(s, str) for s in e) for e in m)
        for m in value)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _per_output_spelling(value, ok):
    """`value` is one entry `ok` accepts, a non-empty list of them, or a dict of them by
    output name: the spellings compile() resolves per output."""
    if isinstance(value, list):
        return bool(value) and all(ok(v) for v in value)
    if isinstance(value, dict):
        return bool(value) and all(isinstance(k, str) and ok(v) for k, v in value.items())
    return ok(value)
