"""ActivityRegularization(l1, l2): its input unchanged, with Keras's activity penalty
l1 sum|x| + l2 sum x^2 (over the batch size) added to the loss: a view, then the
activity_regularizer op every layer's `activity_regularizer` lowers to."""
from kcc import regularizers
from kcc.frontend.layer import Layer


class ActivityRegularization(Layer):
    supports_masking = True     # as Keras 3: the mask passes through

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        if "activity_regularizer" in kwargs:
            raise TypeError("ActivityRegularization takes `l1` and `l2`, not an "
                            "`activity_regularizer`.")
        super().__init__(**kwargs)
        self.l1, self.l2 = l1, l2
        self.activity_regularizer = regularizers.L1L2(l1=l1, l2=l2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)      # as Keras: l1 and l2 say it
        return {**config, "l1": self.l1, "l2": self.l2}

    def lower(self, g, inputs):
        (x,) = inputs
        return [g.view(x, x.shape)]
