"""The guide's models as its code writes them (Keras 1 spelling), at test sizes: every
changed number carries a comment. Each builder returns (model, sample inputs).
every_layer_model() uses every layer class kcc has. Shared by the test folders (the root
conftest puts this folder on sys.path): saving round-trips them, tests/cuda runs them."""
import numpy as np

from kcc import layers as L
from kcc.layers import (Convolution2D, Dense, Embedding, Flatten, Input, LSTM, MaxPooling2D,
                        TimeDistributed, merge)
from kcc.models import Model, Sequential

RNG = np.random.default_rng(0)


def _floats(*shape):
    return RNG.random(shape, dtype=np.float32)


def _ids(n, length, vocab):
    return RNG.integers(0, vocab, (n, length)).astype(np.int32)


def mlp():
    inputs = Input(shape=(784,))
    x = Dense(64, activation='relu')(inputs)
    x = Dense(64, activation='relu')(x)
    predictions = Dense(10, activation='softmax')(x)
    model = Model(input=inputs, output=predictions)
    return model, _floats(4, 784)


def headline():
    main_input = Input(shape=(12,), dtype='int32', name='main_input')       # 100 words
    x = Embedding(output_dim=16, input_dim=50, input_length=12)(main_input)  # 512, 10000
    lstm_out = LSTM(8)(x)                                                     # 32
    auxiliary_loss = Dense(1, activation='sigmoid', name='aux_output')(lstm_out)
    auxiliary_input = Input(shape=(5,), name='aux_input')
    x = merge([lstm_out, auxiliary_input], mode='concat')
    x = Dense(16, activation='relu')(x)                                       # 64
    x = Dense(16, activation='relu')(x)
    x = Dense(16, activation='relu')(x)
    main_loss = Dense(1, activation='sigmoid', name='main_output')(x)
    model = Model(input=[main_input, auxiliary_input], output=[main_loss, auxiliary_loss])
    return model, [_ids(6, 12, 50), _floats(6, 5)]


def shared_lstm():
    tweet_a = Input(shape=(7, 12))                  # (140, 256)
    tweet_b = Input(shape=(7, 12))
    shared_lstm = LSTM(8)                           # 64
    encoded_a = shared_lstm(tweet_a)
    encoded_b = shared_lstm(tweet_b)
    merged_vector = merge([encoded_a, encoded_b], mode='concat', concat_axis=-1)
    predictions = Dense(1, activation='sigmoid')(merged_vector)
    model = Model(input=[tweet_a, tweet_b], output=predictions)
    return model, [_floats(5, 7, 12), _floats(5, 7, 12)]


def inception():
    input_img = Input(shape=(3, 10, 10))            # (3, 256, 256); 64 filters -> 4
    tower_1 = Convolution2D(4, 1, 1, border_mode='same', activation='relu')(input_img)
    tower_1 = Convolution2D(4, 3, 3, border_mode='same', activation='relu')(tower_1)
    tower_2 = Convolution2D(4, 1, 1, border_mode='same', activation='relu')(input_img)
    tower_2 = Convolution2D(4, 5, 5, border_mode='same', activation='relu')(tower_2)
    tower_3 = MaxPooling2D((3, 3), strides=(1, 1), border_mode='same')(input_img)
    tower_3 = Convolution2D(4, 1, 1, border_mode='same', activation='relu')(tower_3)
    output = merge([tower_1, tower_2, tower_3], mode='concat', concat_axis=1)
    return Model(input_img, output), _floats(2, 3, 10, 10)


def residual():
    x = Input(shape=(3, 10, 10))                    # (3, 256, 256)
    y = Convolution2D(3, 3, 3, border_mode='same')(x)   # corrected: called on x
    z = merge([x, y], mode='sum')
    return Model(x, z), _floats(2, 3, 10, 10)


def shared_vision():
    digit_input = Input(shape=(1, 9, 9))            # (1, 27, 27); 64 filters -> 4
    x = Convolution2D(4, 3, 3)(digit_input)
    x = Convolution2D(4, 3, 3)(x)
    x = MaxPooling2D((2, 2))(x)
    out = Flatten()(x)
    vision_model = Model(digit_input, out)
    digit_a = Input(shape=(1, 9, 9))
    digit_b = Input(shape=(1, 9, 9))
    out_a = vision_model(digit_a)
    out_b = vision_model(digit_b)
    concatenated = merge([out_a, out_b], mode='concat')
    out = Dense(1, activation='sigmoid')(concatenated)
    classification_model = Model([digit_a, digit_b], out)
    return classification_model, [_floats(3, 1, 9, 9), _floats(3, 1, 9, 9)]


def vqa_and_video_qa():
    """(vqa_model, its inputs), (video_qa_model, its inputs), built as the guide does."""
    vision_model = Sequential()                     # (3, 224, 224) -> (3, 32, 32)
    vision_model.add(Convolution2D(4, 3, 3, activation='relu', border_mode='same',
                                   input_shape=(3, 32, 32)))             # 64 -> 4
    vision_model.add(Convolution2D(4, 3, 3, activation='relu'))
    vision_model.add(MaxPooling2D((2, 2)))
    vision_model.add(Convolution2D(6, 3, 3, activation='relu', border_mode='same'))  # 128
    vision_model.add(Convolution2D(6, 3, 3, activation='relu'))
    vision_model.add(MaxPooling2D((2, 2)))
    vision_model.add(Convolution2D(8, 3, 3, activation='relu', border_mode='same'))  # 256
    vision_model.add(Convolution2D(8, 3, 3, activation='relu'))
    vision_model.add(Convolution2D(8, 3, 3, activation='relu'))
    vision_model.add(MaxPooling2D((2, 2)))
    vision_model.add(Flatten())

    image_input = Input(shape=(3, 32, 32))
    encoded_image = vision_model(image_input)
    question_input = Input(shape=(6,), dtype='int32')                    # 100 words
    embedded_question = Embedding(input_dim=40, output_dim=8, input_length=6)(question_input)
    encoded_question = LSTM(8)(embedded_question)                        # 256
    merged = merge([encoded_question, encoded_image], mode='concat')
    output = Dense(10, activation='softmax')(merged)                     # 1000 answers
    vqa_model = Model(input=[image_input, question_input], output=output)

    video_input = Input(shape=(3, 3, 32, 32))                            # 100 frames
    encoded_frame_sequence = TimeDistributed(vision_model)(video_input)
    encoded_video = LSTM(8)(encoded_frame_sequence)                      # 256
    question_encoder = Model(input=question_input, output=encoded_question)
    video_question_input = Input(shape=(6,), dtype='int32')
    encoded_video_question = question_encoder(video_question_input)
    merged = merge([encoded_video, encoded_video_question], mode='concat')
    output = Dense(10, activation='softmax')(merged)
    video_qa_model = Model(input=[video_input, video_question_input], output=output)
    return ((vqa_model, [_floats(2, 3, 32, 32), _ids(2, 6, 40)]),
            (video_qa_model, [_floats(2, 3, 3, 32, 32), _ids(2, 6, 40)]))


def vqa():
    return vqa_and_video_qa()[0]


def video_qa():
    return vqa_and_video_qa()[1]


def every_layer_model():
    """One model using every layer class kcc has (both image layouts, all merges)."""
    image = L.Input(shape=(8, 8, 3), name="image")
    ids = L.Input(shape=(6,), dtype="int32", name="ids")
    x = L.ZeroPadding2D(((1, 0), (0, 1)))(image)
    x = L.Conv2D(4, (3, 3), strides=(1, 1), padding="valid", activation="relu")(x)
    a = L.MaxPooling2D((2, 2))(x)
    b = L.AveragePooling2D((2, 2), strides=2)(x)
    x = L.Concatenate(axis=-1)([a, b])
    x = L.Reshape((8, 3, 3))(x)
    x = L.Convolution2D(3, 2, 2, border_mode="same")(x)            # Keras 1, channels first
    x = L.BatchNormalization(axis=1, momentum=0.9)(x)
    x = L.SpatialDropout2D(0.25, seed=2)(x)            # the layout x carries: channels first
    x = L.UpSampling2D((1, 2))(x)
    x = L.Cropping2D(((1, 0), (0, 1)))(x)
    g1 = L.GlobalMaxPooling2D()(x)
    g2 = L.GlobalAveragePooling2D(keepdims=True)(x)
    g2 = L.Flatten()(g2)
    e = L.Embedding(30, 3)(ids)
    s1 = L.LSTM(3)(e)
    s2 = L.GRU(3, reset_after=False)(e)
    s3 = L.GRU(3)(e)
    s4 = L.SimpleRNN(3, return_sequences=True, go_backwards=True)(e)
    s4 = L.TimeDistributed(L.Dense(3, activation="tanh"))(s4)
    s4 = L.Flatten()(s4)
    s4 = L.Dense(3)(s4)
    c = L.LayerNormalization(axis=[-2, -1])(e)
    c = L.ZeroPadding1D(1)(c)
    c = L.UpSampling1D(2)(c)
    c = L.Cropping1D((1, 2))(c)
    c = L.Conv1D(3, 2, padding="causal")(c)
    c = L.Convolution1D(3, 2, border_mode="same")(c)              # Keras 1 (1-D: channels last)
    c = L.MultiHeadAttention(2, 2, dropout=0.1)(c, c, use_causal_mask=True)
    at = L.GlobalAveragePooling1D()(L.Attention(use_scale=True)([c, e]))   # 13 queries, 6 keys
    c = L.SpatialDropout1D(0.25)(c)
    p1 = L.GlobalMaxPooling1D()(L.MaxPooling1D(2)(c))
    p2 = L.GlobalAveragePooling1D()(L.AveragePooling1D(2)(c))
    bi = L.Bidirectional(L.LSTM(2), merge_mode="concat")(e)
    d = L.DepthwiseConv2D(3, depth_multiplier=2)(image)          # (6, 6, 6)
    d = L.Conv2D(4, 1, groups=2)(L.SeparableConv2D(4, 2, strides=2)(d))   # (3, 3, 4)
    d = L.Conv2DTranspose(2, 3, strides=2, output_padding=1)(d)  # (8, 8, 2)
    t1 = L.GlobalAveragePooling1D()(L.Conv1DTranspose(2, 3, strides=2)(c))
    mk = L.GRU(2)(L.Masking(mask_value=0.0)(e))     # a mask: Masking, a masked recurrence
    rp = L.Flatten()(L.Permute((2, 1))(L.RepeatVector(2)(s1)))   # (2, 3) -> (3, 2) -> 6
    nm = L.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 0.5])(L.Rescaling(0.5)(image))
    nm = L.PReLU(shared_axes=[1, 2])(L.ReLU(max_value=2.0, negative_slope=0.1)(nm))
    nm = L.GlobalAveragePooling2D()(L.LeakyReLU(0.2)(L.ELU(alpha=0.5)(nm)))
    nm = L.ActivityRegularization(l2=0.01)(L.Identity()(L.UnitNormalization()(nm)))
    nm = L.Softmax()(L.RMSNormalization()(nm))
    parts = [L.Add()([s1, s2]), L.Subtract()([s1, s3]), L.Multiply()([s2, s3]),
             L.Average()([s1, s4]), L.Maximum()([s2, s4]), L.Minimum()([s3, s4]),
             L.Dot(axes=1)([s1, s4]), L.add([g1, s1]), L.concatenate([g1, g2]),
             L.merge([s1, s2], mode="mul"), L.merge([s1, s2], mode="ave"),
             L.merge([s1, s2], mode="max"), L.merge([s1, s2], mode="dot"), p1, p2, bi, rp, at,
             L.GlobalMaxPooling2D()(d), t1, mk, nm]
    x = L.concatenate(parts)
    x = L.Dropout(0.5, seed=3)(x)
    x = L.GaussianDropout(0.2)(L.GaussianNoise(0.1, seed=4)(x))
    x = L.Activation("elu")(x)
    out = L.Dense(2, activation="softmax", name="out")(x)
    model = Model([image, ids], out)
    rng = np.random.default_rng(3)
    return model, [rng.random((3, 8, 8, 3), dtype=np.float32),
                   rng.integers(0, 30, (3, 6)).astype(np.int32)]


GUIDE_MODELS = {"mlp": mlp, "headline": headline, "shared_lstm": shared_lstm,
                "inception": inception, "residual": residual, "shared_vision": shared_vision,
                "vqa": vqa, "video_qa": video_qa}
