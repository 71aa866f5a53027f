"""RepeatVector: (batch, d) -> (batch, n, d), the vector repeated n times (Keras's
`RepeatVector(n)`; seq2seq feeds an encoder's state to each step of a decoder with it).

It lowers onto existing ops: a view of the input as (1, d), concatenated n times on the
new axis. The concat lists the input once and reads it n times, so its backward sums the
n slices of the gradient into dx (concat.cpp.j2), which is RepeatVector's gradient. On
CUDA the n reads are one run (codegen concat_runs): one launch each way (concat.cu.j2)."""
from kcc.frontend.input_spec import InputSpec
from kcc.frontend.layer import Layer


class RepeatVector(Layer):
    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"Layer {self.name} (RepeatVector): invalid value for `n`, expected "
                             f"a positive integer (the number of repetitions). Received: n={n!r}")
        self.n = n
        self.input_spec = InputSpec(ndim=2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}

    def lower(self, g, inputs):
        (x,) = inputs
        d = x.shape[0]
        row = g.view(x, (1, d))
        if self.n == 1:
            return [row]
        return [g.op("concat", [row], (self.n, d),
                     attrs={"axis": 0, "outer": 1, "operands": [0] * self.n,
                            "widths": [d] * self.n})]
