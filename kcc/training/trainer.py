"""compile / fit / evaluate / predict: the Keras training API on top of a NativeModel.

Everything per batch happens in native code (kcc/runtime); this file resolves
arguments, checks data, and runs the Python side of an epoch: callbacks, progress and
validation. `Model` inherits these methods from `Trainer`.
"""
from __future__ import annotations

import threading
import warnings

import numpy as np

from kcc import backend
from kcc import losses as losses_module
from kcc import metrics as metrics_module
from kcc.graph.ir import Loss, OptimizerSpec
from kcc.codegen.render import HIDDEN
from kcc.graph.trace import loss_inputs, lower
from kcc.runtime import data
from kcc.runtime.native import NativeModel
from kcc.training.callbacks import CallbackList
from kcc.training.config import resolve_compile
from kcc.training.progbar import Progbar
from kcc.utils import random as kcc_random

# Metrics the native code computes (kcc/ops/losses.h, namespace kcc::metric).
_NATIVE_METRICS = set(metrics_module.CANONICAL)
_METRIC_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}

# Options for generators and Python datasets; kcc takes arrays, which they leave unchanged.
_FIT_DATASET_OPTIONS = ("max_queue_size", "workers", "use_multiprocessing")

# compile() options of Keras 2/3 that mean nothing here: every model is compiled ahead of
# time and runs whole epochs in native code, so there is no JIT to choose and no per-step
# Python to batch up.
_COMPILE_IGNORED = ("jit_compile", "steps_per_execution", "auto_scale_loss", "sample_weight_mode")


def _native_metrics(entries) -> list:
    """(display, canonical) pairs -> the same with the names kcc/ops/losses.h defines."""
    out = []
    for display, canonical in entries:
        canonical = _METRIC_ALIASES.get(canonical, canonical)
        if metrics_module.base_name(canonical) not in _NATIVE_METRICS:
            raise ValueError(f"Metric '{display}' is not supported by kcc yet. Supported: "
                             f"{sorted(_NATIVE_METRICS)}")
        out.append((display, canonical))
    return out


def _compile_keras_options(kwargs: dict):
    """Take Keras's compile() options kcc accepts out of `kwargs`; refuse the ones it
    cannot honour with the reason."""
    for name in _COMPILE_IGNORED:
        kwargs.pop(name, None)
    if kwargs.pop("run_eagerly", False):
        raise ValueError("compile(run_eagerly=True): kcc has no eager mode; every model runs "
                         "as generated native code. Leave run_eagerly at False")
    if kwargs.pop("loss_weights_mode", None):
        raise ValueError("compile(loss_weights_mode=...) is not supported by kcc (nor by "
                         "Keras 3); leave it out")


def _check_call_options(call: str, kwargs: dict, ignored=()):
    """Refuse an argument Keras does not have (`ignored`: Keras's, meaning nothing here)."""
    for name in ignored:
        kwargs.pop(name, None)
    if kwargs:
        raise TypeError(f"{call} got unexpected keyword argument(s) {sorted(kwargs)}")


def _steps(value, name: str, call: str):
    """A positive number of batches, or None (all of them)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{call}: `{name}` must be a positive integer or None; received "
                         f"{name}={value!r}")
    return int(value)


def _batch_for(batch_size, n: int, steps, default=32) -> int:
    """Keras's batch size for `n` rows: the one given, else one that covers the rows in
    `steps` batches (ceil(n / steps)), else `default`."""
    if batch_size is not None or steps is None:
        return data.batch_size(batch_size, default=default)
    return max(1, -(-n // steps))


class _EpochRows:
    """Keras's epoch iterator for arrays with steps_per_epoch: each epoch takes the next
    `steps` batches of one pass over the data, so the next epoch goes on where this one
    stopped; a pass that runs out first ends the epoch early (fewer batches, with Keras's
    warning), and the next epoch starts a new pass (newly shuffled with shuffle=True)."""

    def __init__(self, xs, ys, n, bs, steps, shuffle):
        self.xs, self.ys, self.n, self.bs, self.steps, self.shuffle = xs, ys, n, bs, steps, shuffle
        self.pos, self.pass_xs, self.pass_ys = 0, xs, ys

    def next(self):
        """-> (xs, ys, rows) of the next epoch, in order (already shuffled)."""
        if self.pos == 0 and self.shuffle:
            order = np.random.default_rng(kcc_random.native_seed()).permutation(self.n)
            self.pass_xs = [np.ascontiguousarray(a[order]) for a in self.xs]
            self.pass_ys = [np.ascontiguousarray(a[order]) for a in self.ys]
        begin, rows = self.pos, min(self.steps * self.bs, self.n - self.pos)
        self.pos += rows
        if -(-rows // self.bs) < self.steps:    # fewer batches than asked for
            warnings.warn("Your input ran out of data; interrupting training. Make sure that "
                          "your dataset or generator can generate at least `steps_per_epoch * "
                          "epochs` batches.", stacklevel=4)
        if self.pos >= self.n:
            self.pos = 0
        return ([a[begin:begin + rows] for a in self.pass_xs],
                [a[begin:begin + rows] for a in self.pass_ys], rows)


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _validates(epoch: int, freq) -> bool:
    """Keras's validation_freq: every `freq` epochs, or the (1-based) epochs listed."""
    if isinstance(freq, (int, np.integer)) and not isinstance(freq, bool) and freq > 0:
        return (epoch + 1) % int(freq) == 0
    if isinstance(freq, (list, tuple, set, range)):
        return epoch + 1 in freq
    raise ValueError(f"`validation_freq` must be a positive integer or a list of epochs (1-based); "
                     f"received validation_freq={freq!r}")


def _rows_for(steps, n: int, bs: int, call: str) -> int:
    """The rows evaluate()/predict() read: all of them, or the first `steps` batches."""
    steps = _steps(steps, "steps", call)
    return n if steps is None else min(n, steps * bs)


def _optimizer_spec(opt, graph) -> OptimizerSpec:
    """The optimizer's structure for codegen; which of the graph's weights it decays (Keras's
    _use_weight_decay: every trainable weight but the excluded ones)."""
    key = opt._kind_key()
    names = {"sgd": ("momentum", "nesterov"), "rmsprop": ("momentum", "centered"),
             "adam": ("amsgrad",), "adamw": ("amsgrad",)}.get(opt.kind, ())
    flags = tuple(zip(names, (bool(v) for v in key[1:])))
    decays = tuple(w.trainable and opt.uses_weight_decay(w.name, w.buffer) for w in graph.weights)
    template = "adam" if opt.kind == "adamw" else opt.kind   # AdamW is Adam with weight decay
    return OptimizerSpec(template, tuple(opt.slots()), flags, len(opt.hparams()),
                         tuple(opt.hparam_names()), decays, (opt.clip() or ("",))[0],
                         opt.GLOBAL_STATE)


def _carry_optimizer_state(old: NativeModel | None, new: NativeModel) -> bool:
    """Recompiling with the model's own optimizer object keeps that optimizer's state, as in
    Keras, where slots and iterations live in the optimizer: the slots move to the new
    unit when they are laid out alike (same trainable weights, same slots). False: the
    new unit starts fresh."""
    if (old is None or [(w.name, w.shape, w.trainable) for w in old.graph.weights]
            != [(w.name, w.shape, w.trainable) for w in new.graph.weights]
            or old.info["opt_state_size"] != new.info["opt_state_size"]):
        return False
    new.session.set_optimizer_state(old.session.optimizer_state())
    return True


class Trainer:
    """Mixin: the training API of functional models."""

    _native: NativeModel | None = None
    _predict_native: NativeModel | None = None
    _compile_config = None
    stop_training = False

    # -- compile -----------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, device=None,
                weighted_metrics=None, **kwargs):
        """Resolve the training configuration, generate the model's C++ (or, with
        device='cuda', CUDA) and build it. device=None uses kcc.backend.device().
        weighted_metrics, as Keras's: metrics that fit's and evaluate's sample weights
        (and class_weight) weigh, sum(w m) / sum(w)."""
        self._not_while_fitting("compile()")
        _compile_keras_options(kwargs)
        if kwargs:
            raise TypeError(f"compile() got unexpected keyword argument(s) {sorted(kwargs)}. "
                            f"Accepted: optimizer, loss, metrics, loss_weights, weighted_metrics, "
                            f"device "
                            f"(and Keras's {', '.join(_COMPILE_IGNORED)}, which kcc ignores)")
        device = backend.device() if device is None else backend.canonical_device(device)
        out_shapes = [tuple(t.shape[1:]) for t in self.outputs]
        cfg = resolve_compile(optimizer, loss, metrics, loss_weights, self.output_names, out_shapes,
                              weighted_metrics)
        graph = lower(self)
        for i, name in enumerate(loss_inputs(graph)):
            kind = cfg.losses[i]
            shape, dtype = losses_module.target_spec(kind, out_shapes[i])
            graph.losses.append(Loss(name, kind, float(cfg.loss_weights[i]), tuple(shape), dtype,
                                     _native_metrics(cfg.metrics[i]), index=i,
                                     weighted_metrics=_native_metrics(cfg.weighted_metrics[i]),
                                     label_smoothing=cfg.smoothing(i), delta=cfg.delta(i),
                                     mask=graph.output_masks[i]))
        graph.optimizer = _optimizer_spec(cfg.optimizer, graph)
        previous = self._native if self.__dict__.get("optimizer") is cfg.optimizer else None
        self._native = NativeModel(graph, what=f"model '{self.name}'", device=device)
        self._compile_config = cfg
        self.optimizer = cfg.optimizer
        self.loss = loss
        self.stop_training = False
        if not _carry_optimizer_state(previous, self._native):
            self.optimizer.iterations = 0

    @property
    def metrics_names(self) -> list[str]:
        """The log keys in the order the native code keeps them: loss, the outputs' losses,
        the metrics, the weighted metrics."""
        return [key for key, _, _, _ in self._native_log_plan()[1]] if self._native else []

    def _native_log_plan(self):
        """(native, [(log key, stat, divisor stat or None: divide by the samples seen, root:
        take the square root after), ...] in stat order), worked out once per compiled unit.
        A weighted metric divides by its output's weight sum, a ratio metric (precision,
        recall) by its own denominator, weighted or not."""
        native = self._native
        cached = self.__dict__.get("_log_plan")
        if cached is None or cached[0] is not native:
            divisor, roots = {}, set()
            for l in native.graph.losses:
                divisor.update({i: l.weight_stat for i in l.weighted_stats})
                if l.mask:   # a masked output's metrics: the mean over the epoch's kept rows
                    divisor.update({i: l.mask_stat for i in l.metric_stats})
                for (_, canonical), i, den in zip(l.metrics + l.weighted_metrics,
                                                  l.metric_stats + l.weighted_stats,
                                                  l.metric_dens + l.weighted_dens):
                    if den >= 0:
                        divisor[i] = den
                    if canonical in metrics_module.ROOTS:
                        roots.add(i)
            plan = [(key, i, divisor.get(i), i in roots) for i, key in enumerate(native.stat_names)
                    if not key.startswith(HIDDEN)]
            cached = self._log_plan = (native, plan, sorted(plan))
        return cached

    def _not_while_fitting(self, call: str):
        """A callback inside fit() may predict and evaluate (between two steps); training or
        recompiling the model there would pull the epoch's session out from under it."""
        fitting = self.__dict__.get("_fitting")
        if fitting is None:
            return
        if fitting != threading.get_ident():
            raise RuntimeError(f"{call} was called on model '{self.name}' while another thread "
                               f"is running its fit(); a model trains from one thread at a time")
        raise RuntimeError(f"{call} was called on model '{self.name}' from inside its own "
                           f"fit() (in a callback). predict() and evaluate() work there; "
                           f"train or recompile after fit() returns")

    def _require_compiled(self, what: str) -> NativeModel:
        if self._native is None:
            raise RuntimeError(f"You must compile model '{self.name}' before {what}: call "
                               f"model.compile(optimizer=..., loss=...) first")
        return self._native

    def _native_for_predict(self) -> NativeModel:
        if self._native is not None:
            return self._native
        if self._predict_native is None:     # Keras predicts without compile()
            self._predict_native = NativeModel(lower(self), what=f"model '{self.name}' (predict)",
                                               device=backend.device())
        return self._predict_native

    # -- data ----------------------------------------------------------------------------
    def _x(self, x, what="x", native=None):
        native = native or self._native or self._predict_native
        bounds = native.id_bounds if native is not None else {}
        spec = self.__dict__.get("_input_spec")
        if spec is None:        # the inputs of a built model never change: work it out once
            spec = self._input_spec = (self.input_names, [tuple(t.shape[1:]) for t in self.inputs],
                                       [t.dtype for t in self.inputs])
        names, shapes, dtypes = spec
        if (len(names) == 1 and type(x) is np.ndarray and x.dtype == np.float32   # the hot path:
                and dtypes[0] == "float32" and x.shape[1:] == shapes[0]            # one float
                and x.ndim == len(shapes[0]) + 1 and x.flags.c_contiguous):       # array as is
            return [x]
        return data.inputs(x, names, shapes, dtypes, what, bounds)

    def _y(self, y, what="y", sample_weight=None, class_weight=None, weight_what="sample_weight"):
        """The targets as the compiled losses read them: each sample's values, then its
        weight (data.with_weights), from Keras's sample_weight / class_weight."""
        cfg = self._compile_config
        out_shapes = [tuple(t.shape[1:]) for t in self.outputs]
        specs = [losses_module.target_spec(l, s) for l, s in zip(cfg.losses, out_shapes)]
        ys = data.targets(y, self.output_names, specs, cfg.losses, out_shapes, what)
        weighted = cfg.weighted_metrics or [[] for _ in ys]
        for name, arr, loss, ms, wms in zip(self.output_names, ys, cfg.losses, cfg.metrics, weighted):
            for kind in [loss] + [c for _, c in ms + wms]:   # a hinge loss or metric
                if kind in losses_module.HINGES:
                    losses_module.check_hinge_targets(arr, kind, name)
        weights = data.sample_weights(sample_weight, class_weight, ys, self.output_names, weight_what)
        return data.with_weights(ys, weights)

    def _target_widths(self) -> list[int]:
        """Each output's target values per row: D, or 1 for class ids."""
        cfg = self._compile_config
        return [losses_module.target_spec(l, tuple(t.shape[1:]))[0][-1]
                for l, t in zip(cfg.losses, self.outputs)]

    def _xy(self, x, y, what=("x", "y", "sample_weight"), sample_weight=None, class_weight=None):
        if y is None:
            raise ValueError(f"Model '{self.name}' needs targets: pass `{what[1]}` (one array per "
                             f"output: {', '.join(self.output_names)})")
        xs, ys = self._x(x, what[0]), self._y(y, what[1], sample_weight, class_weight, what[2])
        nx, ny = len(xs[0]), len(ys[0])
        if nx != ny:
            raise ValueError(f"`{what[0]}` and `{what[1]}` must have the same number of samples; "
                             f"received {nx} input samples ({self.input_names[0]}) and {ny} "
                             f"target samples ({self.output_names[0]})")
        return xs, ys, nx

    def _logs(self, sums, seen, prefix="") -> dict:
        """The logs of `seen` samples' stat sums, keys sorted as Keras 3 sorts them. A
        weighted metric divides by its weights' sum (0 when they sum to 0, as Keras)."""
        logs = {}
        for key, i, d, root in self._native_log_plan()[2]:
            if d is None:
                value = float(sums[i]) / seen if seen else float("nan")
            else:
                value = float(sums[i]) / float(sums[d]) if sums[d] else 0.0
            logs[prefix + key] = float(np.sqrt(value)) if root else value
        return logs

    def _sync_hparams(self) -> list:
        """Hand the optimizer's hyperparameters and step to the native loop; returns them."""
        native = self._native
        if _optimizer_spec(self.optimizer, native.graph) != native.graph.optimizer:
            raise ValueError(f"Model '{self.name}': the optimizer changed in a way the compiled "
                             f"code depends on (its weight decay or gradient clipping turned "
                             f"on or off, or exclude_from_weight_decay) since compile(); call "
                             f"compile() again. Optimizer now: {self.optimizer!r}")
        hparams = [float(v) for v in self.optimizer.hparams()]
        native.session.set_hparams(hparams)
        native.session.step = int(getattr(self.optimizer, "iterations", 0) or 0)
        return hparams

    # -- fit ----------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, nb_epoch=None, validation_batch_size=None,
            validation_steps=None, validation_freq=1, steps_per_epoch=None, **kwargs):
        """As Keras's fit. steps_per_epoch: an epoch is that many batches, the next epoch
        going on where it stopped (kcc's _EpochRows, Keras's epoch iterator); without a
        batch_size, the batches cover the data in steps_per_epoch of them."""
        self._not_while_fitting("fit()")
        native = self._require_compiled("training it")
        _check_call_options("fit()", kwargs, _FIT_DATASET_OPTIONS)
        _validates(0, validation_freq)      # a bad value fails before training
        if nb_epoch is not None:
            if epochs not in (1, None) and epochs != nb_epoch:
                raise ValueError(f"Pass either `epochs` or its Keras 1 name `nb_epoch`, not both. "
                                 f"Received: epochs={epochs}, nb_epoch={nb_epoch}")
            epochs = nb_epoch
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"Received an invalid value for `epochs`, expected a non-negative "
                             f"integer. Received: epochs={epochs!r}")
        steps = _steps(steps_per_epoch, "steps_per_epoch", "fit()")
        validation_steps = _steps(validation_steps, "validation_steps", "fit()")
        data.batch_size(batch_size)
        data.batch_size(validation_batch_size)
        # the weights travel with the targets, so validation_split splits them too
        xs, ys, n = self._xy(x, y, sample_weight=sample_weight, class_weight=class_weight)
        native.begin_call()
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("`validation_data` must be a tuple (x_val, y_val); received "
                                 f"{type(validation_data).__name__}")
            val = self._xy(validation_data[0], validation_data[1],
                           ("validation_data[0]", "validation_data[1]", "validation_data[2]"),
                           sample_weight=validation_data[2] if len(validation_data) == 3 else None)
        elif validation_split:
            if not 0.0 < float(validation_split) < 1.0:
                raise ValueError(f"`validation_split` must be in [0, 1); received {validation_split}")
            split = int(n * (1.0 - float(validation_split)))   # Keras: the last samples, unshuffled
            if split == 0 or split == n:
                raise ValueError(f"validation_split={validation_split} of {n} samples leaves "
                                 f"{split} for training and {n - split} for validation; both "
                                 f"need at least one")
            val = ([a[split:] for a in xs], [a[split:] for a in ys], n - split)
            if class_weight is not None:   # Keras weighs only the training samples by class
                val = (val[0], data.unweighted(val[1], self._target_widths()), val[2])
            xs, ys, n = [a[:split] for a in xs], [a[:split] for a in ys], split
        if n == 0:
            raise ValueError("fit() received no training samples (x has 0 rows)")
        bs = _batch_for(batch_size, n, steps)
        val_bs = None
        if val is not None:   # as Keras: validation_batch_size, batch_size, or from the steps
            val_bs = _batch_for(validation_batch_size or batch_size, val[2], validation_steps)
            rows = _rows_for(validation_steps, val[2], val_bs, "fit(): validation")
            val = ([a[:rows] for a in val[0]], [a[:rows] for a in val[1]], rows)
        epoch_rows = None if steps is None else _EpochRows(xs, ys, n, bs, steps, bool(shuffle))

        cbs = CallbackList(callbacks, add_history=True, model=self, batch_size=bs, epochs=epochs,
                           steps=steps or -(-n // bs), samples=n, verbose=verbose,
                           do_validation=val is not None, metrics=self.metrics_names)
        self.stop_training = False
        self._fitting = threading.get_ident()
        try:
            logs = self._fit_epochs(native, cbs, xs, ys, n, bs, val, val_bs, epochs, initial_epoch,
                                    shuffle, verbose, validation_freq, epoch_rows)
        finally:
            self._fitting = None
        cbs.on_train_end(logs)
        return cbs.history

    def _fit_epochs(self, native, cbs, all_xs, all_ys, all_n, bs, val, val_bs, epochs, initial_epoch,
                    shuffle, verbose, validation_freq=1, epoch_rows=None) -> dict:
        """fit()'s epochs, each over all rows or over epoch_rows' next ones (steps_per_epoch);
        returns the last epoch's logs."""
        every_batch = cbs.needs_batch_hooks
        logs = {}
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            xs, ys, n = (all_xs, all_ys, all_n) if epoch_rows is None else epoch_rows.next()
            cbs.on_epoch_begin(epoch)
            bar = None
            if verbose:   # Keras prints the epoch line for verbose=1 and 2 alike
                print(f"Epoch {epoch + 1}/{epochs}", flush=True)
                bar = Progbar(n, verbose=verbose, unit_name="sample")

            def hook(begin, batch, seen, sums):
                nonlocal hparams
                if begin:
                    cbs.on_train_batch_begin(batch, {"batch": batch, "size": min(bs, n - batch * bs)})
                else:
                    logs = self._logs(sums, seen)
                    if every_batch:
                        cbs.on_train_batch_end(batch, logs)
                    if bar is not None and seen < n:   # the epoch's last line waits for validation
                        bar.update(seen, list(logs.items()))
                # as Keras, a learning rate a batch callback sets trains the next batch
                if every_batch and [float(v) for v in self.optimizer.hparams()] != hparams:
                    hparams = [float(v) for v in self.optimizer.hparams()]
                    native.session.set_hparams(hparams)
                return self.stop_training

            hparams = self._sync_hparams()
            sums, seen, _ = native.session.train_epoch(
                xs, ys, n, bs, bool(shuffle) and epoch_rows is None, kcc_random.native_seed(), hook,
                every_batch, 0.05)
            self.optimizer.iterations = native.session.step
            logs = self._logs(sums, seen)
            # as Keras, an epoch a callback stopped early is still validated
            if val is not None and _validates(epoch, validation_freq):
                logs.update({"val_" + k: v for k, v in self._test(native, *val, val_bs, cbs).items()})
            if bar is not None:
                bar.update(seen, list(logs.items()), finalize=True)
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        return logs

    def _test(self, native, xs, ys, n, bs, cbs) -> dict:
        """One evaluation's logs, with Keras's test hooks on `cbs` (None: no callbacks). It
        runs as one native call unless a callback wants to hear about every batch."""
        if cbs is not None:
            cbs.on_test_begin()
        if cbs is None or not cbs.needs_test_batch_hooks:
            sums, seen = native.session.test(xs, ys, n, bs)
        else:
            sums, seen = None, 0
            for batch, begin in enumerate(range(0, n, bs)):
                rows = min(bs, n - begin)
                cbs.on_test_batch_begin(batch, {"batch": batch, "size": rows})
                part, k = native.session.test([a[begin:begin + rows] for a in xs],
                                              [a[begin:begin + rows] for a in ys], rows, rows)
                sums = part if sums is None else [u + v for u, v in zip(sums, part)]
                seen += k
                cbs.on_test_batch_end(batch, self._logs(sums, seen))
        logs = self._logs(sums, seen)
        if cbs is not None:
            cbs.on_test_end(logs)
        return logs

    # -- evaluate / predict ------------------------------------------------------------------
    def _result(self, logs: dict, return_dict: bool):
        """Keras's return value: the logs as a dict (keys sorted, as Keras 3), else the loss
        alone or a list in metrics_names order (Keras 1/2's contract, which Keras 3 keeps for
        a single output: loss, the metrics, the weighted metrics)."""
        if return_dict:
            return logs
        vals = [logs[k] for k in self.metrics_names]
        return vals[0] if len(vals) == 1 else vals

    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        native = self._require_compiled("evaluating it")
        _check_call_options("evaluate()", kwargs)
        steps = _steps(steps, "steps", "evaluate()")
        data.batch_size(batch_size)
        xs, ys, n = self._xy(x, y, sample_weight=sample_weight)
        bs = _batch_for(batch_size, n, steps)   # Keras: without a batch_size, `steps` cover the data
        n = _rows_for(steps, n, bs, "evaluate()")
        if n == 0:
            raise ValueError("evaluate() received no samples")
        native.begin_call()
        cbs = None
        if callbacks is not None:
            cbs = CallbackList(callbacks, model=self, verbose=verbose, epochs=1, steps=-(-n // bs))
        logs = self._test(native, [a[:n] for a in xs], [a[:n] for a in ys], n, bs, cbs)
        if verbose:
            Progbar(n, verbose=verbose, unit_name="sample").update(n, list(logs.items()), finalize=True)
        return self._result(logs, return_dict)

    def predict(self, x, batch_size=None, verbose=0, steps=None, callbacks=None, **kwargs):
        if kwargs:
            raise TypeError(f"predict() got unsupported keyword argument(s) {sorted(kwargs)}")
        native = self._native_for_predict()
        steps = _steps(steps, "steps", "predict()")
        data.batch_size(batch_size)
        xs = self._x(x, native=native)
        bs = _batch_for(batch_size, len(xs[0]), steps)
        n = _rows_for(steps, len(xs[0]), bs, "predict()")
        if n < len(xs[0]):
            xs = [a[:n] for a in xs]
        native.begin_call()
        if callbacks is None:
            outs = native.predict(xs, n, bs)
        else:
            outs = self._predict_with_callbacks(native, xs, n, bs, verbose, callbacks)
        return outs[0] if len(outs) == 1 else outs

    def _predict_with_callbacks(self, native, xs, n, bs, verbose, callbacks):
        """predict() with Keras's predict hooks: one native call, or one a batch when a
        callback wants each batch's outputs (logs {"outputs": ...}, as Keras passes them)."""
        cbs = CallbackList(callbacks, model=self, verbose=verbose, epochs=1, steps=-(-n // bs))
        cbs.on_predict_begin()
        if not cbs.needs_predict_batch_hooks or n == 0:
            outs = native.predict(xs, n, bs)
        else:
            parts = []
            for batch, begin in enumerate(range(0, n, bs)):
                rows = min(bs, n - begin)
                cbs.on_predict_batch_begin(batch, {"batch": batch, "size": rows})
                part = native.predict([a[begin:begin + rows] for a in xs], rows, rows)
                parts.append(part)
                cbs.on_predict_batch_end(batch, {"outputs": part[0] if len(part) == 1 else part})
            outs = [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]
        cbs.on_predict_end()
        return outs

    def predict_on_batch(self, x):
        native = self._native_for_predict()
        xs = self._x(x, native=native)
        n = len(xs[0])
        native.begin_call()
        outs = native.predict(xs, n, max(n, 1))
        return outs[0] if len(outs) == 1 else outs

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        self._not_while_fitting("train_on_batch()")
        native = self._require_compiled("training it")
        xs, ys, n = self._xy(x, y, sample_weight=sample_weight, class_weight=class_weight)
        native.begin_call()
        self._sync_hparams()
        sums, seen, _ = native.session.train_epoch(xs, ys, n, max(n, 1), False, kcc_random.native_seed(),
                                                   None, False, 0.0)
        self.optimizer.iterations = native.session.step
        logs = self._logs(sums, seen)
        return self._result(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        native = self._require_compiled("evaluating it")
        xs, ys, n = self._xy(x, y, sample_weight=sample_weight)
        native.begin_call()
        logs = self._test(native, xs, ys, n, max(n, 1), None)
        return self._result(logs, return_dict)

    # -- weights files -------------------------------------------------------------------------
    def save_weights(self, filepath, overwrite=True):
        import os
        from kcc.saving import save_weights
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath} exists and overwrite=False")
        save_weights(self, filepath)

    def load_weights(self, filepath):
        from kcc.saving import load_weights
        load_weights(self, filepath)

    # -- whole models ---------------------------------------------------------------------------
    def to_json(self, **kwargs):
        """The architecture as a JSON string (kcc.models.model_from_json rebuilds it);
        keyword arguments go to json.dumps (e.g. indent=2)."""
        from kcc.saving.model_file import model_to_json
        return model_to_json(self, **kwargs)

    def save(self, filepath, overwrite=True):
        """Architecture, weights, compile config and optimizer state in one safetensors file
        (kcc/saving/model_file.py); kcc.models.load_model(filepath) gives the model back,
        compiled as it was, ready to predict or to train on."""
        from kcc.saving.model_file import save_model
        save_model(self, filepath, overwrite=overwrite)

    def export(self, directory, name=None):
        """Write a self-contained native inference project for this model into `directory`:
        the generated C++ source, the runtime headers, its weights, a C header, a CMake
        build, an example and a README (kcc.export.export_model, whose result is returned).
        `name` names the library and its C symbols; by default the model's name."""
        from kcc.export import export_model
        return export_model(self, directory, name)
