"""The models the export tests ship: the guide's, at small sizes, plus a conv net (with
transposed, depthwise, separable and grouped convolutions, gelu, silu, log_softmax,
LayerNormalization, BatchNormalization, a causal MultiHeadAttention and an Attention with a
scale, and the activation and preprocessing layers: ReLU with arguments, PReLU, Rescaling,
Normalization, UnitNormalization), a shared-layer model and a Winograd conv net (intra-op threads). Each returns (model, inputs for the consumer program)."""
import numpy as np


def guide_mlp(rng, n):
    from kcc.layers import Dense, Input
    from kcc.models import Model
    inputs = Input(shape=(784,))
    x = Dense(64, activation='relu')(inputs)
    x = Dense(64, activation='relu')(x)
    predictions = Dense(10, activation='softmax')(x)
    model = Model(input=inputs, output=predictions)
    return model, [rng.random((n, 784), dtype=np.float32)]


def headline(rng, n):
    from kcc.layers import Dense, Embedding, Input, LSTM, merge
    from kcc.models import Model
    main_input = Input(shape=(12,), dtype='int32', name='main_input')
    x = Embedding(output_dim=16, input_dim=50, input_length=12)(main_input)
    lstm_out = LSTM(8)(x)
    auxiliary_output = Dense(1, activation='sigmoid', name='aux_output')(lstm_out)
    auxiliary_input = Input(shape=(5,), name='aux_input')
    x = merge([lstm_out, auxiliary_input], mode='concat')
    x = Dense(16, activation='relu')(x)
    x = Dense(16, activation='relu')(x)
    main_output = Dense(1, activation='sigmoid', name='main_output')(x)
    model = Model(input=[main_input, auxiliary_input], output=[main_output, auxiliary_output])
    return model, [rng.integers(0, 50, (n, 12)).astype(np.int32),
                   rng.standard_normal((n, 5)).astype(np.float32)]


def conv_net(rng, n):
    from kcc.initializers import RandomUniform
    from kcc.layers import (Activation, Attention, AveragePooling2D, BatchNormalization, Conv1D,
                            Conv1DTranspose, Conv2D, Conv2DTranspose, Dense, DepthwiseConv2D,
                            Flatten, GlobalAveragePooling1D, GlobalAveragePooling2D,
                            GlobalMaxPooling2D, Input, LayerNormalization, MaxPooling1D,
                            MaxPooling2D, MultiHeadAttention, Normalization, PReLU, ReLU,
                            Rescaling, Reshape, SeparableConv2D, UnitNormalization,
                            ZeroPadding2D, add, concatenate)
    from kcc.models import Model
    image = Input(shape=(12, 12, 3))
    x = ZeroPadding2D((1, 1))(Rescaling(0.5, offset=0.1)(image))
    x = Conv2D(8, (3, 3), activation='relu')(x)
    x = BatchNormalization(moving_mean_initializer='random_normal',    # inference: the moving
                           moving_variance_initializer=RandomUniform(0.5, 1.5))(x)  # statistics
    x = MaxPooling2D((2, 2))(x)
    x = Conv2D(8, (3, 3), strides=(2, 2), padding='same', activation='gelu')(x)
    a = ReLU(max_value=1.0, negative_slope=0.1)(Flatten()(AveragePooling2D((3, 3))(x)))
    b = Activation('log_softmax')(GlobalMaxPooling2D()(x))   # a row activation on its own
    pixels = Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 0.5])(image)
    s = Conv1D(4, 5, strides=3, padding='causal', activation='relu')(Reshape((144, 3))(pixels))
    s = LayerNormalization(axis=[-2, -1])(s)                 # one row of 48 x 4 per image
    s = PReLU(alpha_initializer='random_uniform', shared_axes=[1])(s)
    u = GlobalAveragePooling1D()(Conv1DTranspose(3, 4, strides=3, data_format='channels_first')(s))
    s = MaxPooling1D(2, padding='same')(s)                   # pixels as one sequence of 24
    s = add([s, MultiHeadAttention(2, 3, dropout=0.1)(s, s, use_causal_mask=True)])
    s = Attention(use_scale=True, dropout=0.2)([s, s])      # dropout: training only
    c = GlobalAveragePooling1D()(s)
    t = Conv2DTranspose(4, 3, strides=2, padding='same', output_padding=1, activation='relu')(x)
    t = GlobalAveragePooling2D()(t)                          # the transposed convs' col2im paths
    d = DepthwiseConv2D(3, depth_multiplier=2, padding='same', activation='relu')(x)
    d = SeparableConv2D(4, 2, strides=2)(Conv2D(8, 1, groups=4)(d))    # the grouped op
    t = concatenate([t, Flatten()(d)])
    h = Dense(6, activation='silu')(concatenate([a, b, c, t, u]))  # gelu, silu: backward needs the input,
    out = Dense(4, activation='softmax')(                   # predict stores no pre-activation
        LayerNormalization(center=False)(UnitNormalization()(h)))
    return Model(image, out), [rng.standard_normal((n, 12, 12, 3)).astype(np.float32)]


def winograd_net(rng, n):
    """Stride-1 3x3 convolutions of >= 16 channels run Winograd, whose bands of tile rows
    (and the transform of its kernel) split over the handle's threads, even for one image."""
    from kcc.layers import (Conv2D, Cropping2D, Dense, GlobalAveragePooling2D, Input,
                            UpSampling2D)
    from kcc.models import Model
    image = Input(shape=(14, 14, 3))
    x = Conv2D(16, (3, 3), padding='same', activation='relu')(image)
    x = Conv2D(24, (3, 3), padding='same', activation='relu')(x)
    x = Conv2D(16, (3, 3), activation='relu')(x)
    x = Cropping2D(((1, 0), (0, 3)))(UpSampling2D((1, 2))(x))   # (12, 24) -> (11, 21)
    out = Dense(4, activation='softmax')(GlobalAveragePooling2D()(x))
    return Model(image, out), [rng.standard_normal((n, 14, 14, 3)).astype(np.float32)]


def shared_vision(rng, n):
    """The guide's shared vision model: a nested model called on two inputs."""
    from kcc.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D, concatenate
    from kcc.models import Model
    digit_input = Input(shape=(1, 10, 10))
    x = Conv2D(8, (3, 3), data_format='channels_first')(digit_input)
    x = Conv2D(8, (3, 3), data_format='channels_first')(x)
    x = MaxPooling2D((2, 2), data_format='channels_first')(x)
    out = Flatten()(x)
    vision_model = Model(digit_input, out)
    digit_a = Input(shape=(1, 10, 10))
    digit_b = Input(shape=(1, 10, 10))
    concatenated = concatenate([vision_model(digit_a), vision_model(digit_b)])
    out = Dense(1, activation='sigmoid')(concatenated)
    return Model([digit_a, digit_b], out), [rng.random((n, 1, 10, 10), dtype=np.float32),
                                            rng.random((n, 1, 10, 10), dtype=np.float32)]


MODELS = {"mlp": guide_mlp, "headline": headline, "convnet": conv_net, "vision": shared_vision,
          "winograd": winograd_net}
