"""The one exception the build raises, carrying what a person needs to debug it."""
from __future__ import annotations


class BuildError(RuntimeError):
    """A native build failed, or the cache refused to be used.

    Attributes (None when they do not apply, e.g. for an unsafe cache dir):
    what: the thing being built, e.g. "model 'model_1'".
    command: the failing compiler command line.
    source: path of the generated source that failed to compile.
    log_path: path of the full build log, kept after the failure.
    output_tail: the last lines of compiler output.
    """

    def __init__(self, message: str, *, what: str | None = None,
                 command: str | None = None, source: str | None = None,
                 log_path: str | None = None, output_tail: str | None = None):
        super().__init__(message)
        self.what = what
        self.command = command
        self.source = source
        self.log_path = log_path
        self.output_tail = output_tail
