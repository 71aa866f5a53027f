"""Progbar: Keras 2's text progress bar, as fit()/evaluate()/predict() print it.

verbose=1 on a terminal: one line redrawn in place with '\\r'::

      512/16384 [>.............................] - ETA: 3s - loss: 0.4123 - acc: 0.8765
    16384/16384 [==============================] - 1s 30us/sample - loss: 0.3990 - acc: 0.8812

verbose=1 anywhere else (a pipe, a CI log, a file): only the final line, so logs are not
flooded with partial bars. verbose=2: one line at the end of the epoch::

    16384/16384 - 1s - loss: 0.3990 - acc: 0.8812

Values: kcc's engine passes running means, shown as given. A name listed in
``stateful_metrics`` is also shown as given, but once a list is passed the other names
follow Keras's rule: averaged over the samples seen (weighted by progress).
"""

import math
import os
import sys
import time


def _format_value(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return f" {value}"
    return f" {value:.4f}" if abs(value) > 1e-3 else f" {value:.4e}"


def _format_time(seconds, unit_name):
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit_name}"
    return f" {seconds * 1e6:.0f}us/{unit_name}"


def _format_eta(eta):
    if eta > 3600:
        return "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
    if eta > 60:
        return "%d:%02d" % (eta // 60, eta % 60)
    return "%ds" % eta


def _is_dynamic(stream):
    """Redraw in place only on a terminal or in a notebook (Keras's _dynamic_display)."""
    isatty = getattr(stream, "isatty", None)
    return bool((isatty and isatty()) or "ipykernel" in sys.modules
                or "PYCHARM_HOSTED" in os.environ)


class Progbar:
    """``Progbar(target, width=30, verbose=1, interval=0.05, stateful_metrics=None,
    unit_name='step')``; ``update(current, values)`` with values as [(name, value), ...]."""

    def __init__(self, target, width=30, verbose=1, interval=0.05, stateful_metrics=None,
                 unit_name="step"):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = None if stateful_metrics is None else set(stateful_metrics)
        self._dynamic_display = _is_dynamic(sys.stdout)
        self._values = {}  # name -> shown value, or [weighted sum, weight] when averaged
        self._seen_so_far = 0
        self._start = time.time()
        self._last_update = 0.0
        self._total_width = 0

    def update(self, current, values=None, finalize=None):
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or ():
            if self.stateful_metrics is None or name in self.stateful_metrics:
                self._values[name] = value
            else:
                base = max(current - self._seen_so_far, 1)
                acc = self._values.setdefault(name, [0.0, 0])
                acc[0] += value * base
                acc[1] += base
        self._seen_so_far = current
        if self.verbose == 1:
            now = time.time()
            if not finalize and (now - self._last_update < self.interval
                                 or not self._dynamic_display):
                return
            self._last_update = now
            self._write_bar(current, now, finalize)
        elif self.verbose == 2 and finalize:
            self._write(self._count(current) + f" - {time.time() - self._start:.0f}s"
                        + self._metrics() + "\n")

    def add(self, n, values=None):
        self.update(self._seen_so_far + n, values)

    def _count(self, current):
        if self.target is None:
            return "%7d/Unknown" % current
        digits = int(math.log10(self.target)) + 1 if self.target > 0 else 1
        return "%*d/%d" % (digits, current, self.target)

    def _bar(self, current):
        if self.target is None:
            return self._count(current)
        done = int(self.width * current / self.target) if self.target else self.width
        done = min(done, self.width)
        fill = ""
        if done > 0:
            fill = "=" * (done - 1) + (">" if current < self.target else "=")
        return f"{self._count(current)} [{fill}{'.' * (self.width - done)}]"

    def _metrics(self):
        parts = []
        for name, value in self._values.items():
            if isinstance(value, list):
                value = value[0] / max(1, value[1])
            parts.append(f" - {name}:" + _format_value(value))
        return "".join(parts)

    def _write_bar(self, current, now, finalize):
        elapsed = now - self._start
        per_unit = elapsed / current if current else 0.0
        if finalize or self.target is None:
            info = f" - {elapsed:.0f}s" + _format_time(per_unit, self.unit_name)
        else:
            info = " - ETA: " + _format_eta(per_unit * (self.target - current))
        line = self._bar(current) + info + self._metrics()
        prev, self._total_width = self._total_width, len(line)
        if self._dynamic_display:
            line = "\r" + line + " " * max(0, prev - len(line))
        self._write(line + ("\n" if finalize else ""))

    @staticmethod
    def _write(text):
        sys.stdout.write(text)
        sys.stdout.flush()
