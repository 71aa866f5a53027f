"""CUDA cases: Keras 3's other losses (kcc/ops/losses.h, the row functions both units call)."""
import numpy as np

from kcc import losses, metrics, optimizers
from kcc.layers import Dense, Input
from kcc.models import Model


def keras_losses(rng):
    """Huber (delta 0.5), LogCosh, KLDivergence on a softmax, Poisson and MSLE on softplus
    heads, Hinge on 0/1 labels and SquaredHinge on -1/1 labels, CategoricalHinge, MAPE and
    CosineSimilarity, one head each; and the metrics of kcc/ops/losses.h: the losses as
    metrics, RootMeanSquaredError (a square root at the end), top-k accuracy (k compiled
    in), Precision and Recall (ratios with a denominator stat), weighted ones too."""
    n, d = 6, 3
    x = Input(shape=(8,))
    h = Dense(12, activation="tanh")(x)
    acts = [None, None, "softmax", "softplus", "softplus", None, None, None, None, None]
    heads = [Dense(d, activation=a)(h) for a in acts]
    normal = lambda: rng.normal(0, 1.5, (n, d)).astype(np.float32)
    y = [normal(), normal(), rng.dirichlet(np.ones(d), n).astype(np.float32),
         rng.poisson(2.0, (n, d)).astype(np.float32), (rng.random((n, d)) * 3).astype(np.float32),
         (rng.random((n, d)) > 0.5).astype(np.float32),
         np.sign(rng.random((n, d)) - 0.5).astype(np.float32),
         np.eye(d, dtype=np.float32)[rng.integers(0, d, n)], normal(), normal()]
    return dict(model=Model(x, heads), x=[rng.standard_normal((n, 8)).astype(np.float32)], y=y,
                loss=[losses.Huber(delta=0.5), "log_cosh", "kld", "poisson", "msle", "hinge",
                      "squared_hinge", "categorical_hinge", "mape", "cosine_similarity"],
                optimizer=optimizers.SGD(learning_rate=0.01),
                metrics=[["mape", metrics.RootMeanSquaredError()], ["logcosh"],
                         [metrics.TopKCategoricalAccuracy(k=2), "kld", "categorical_crossentropy"],
                         ["poisson"], ["msle"], ["precision", "recall", "hinge", "bce"],
                         ["squared_hinge"], ["categorical_hinge", "top_k_categorical_accuracy"],
                         ["mae"], ["cosine_similarity"]],
                weighted_metrics=[[], [], [], [], [], ["precision", "root_mean_squared_error"],
                                  [], [], [], []])


CASES = {f.__name__: f for f in (keras_losses,)}
