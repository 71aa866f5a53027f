"""CUDA cases: the guide's models, as written, at reduced sizes (the full sizes run in
bench/ and examples/). Together with the per-family cases they cover every op family."""
import numpy as np

from kcc import optimizers


def _onehot(rng, n, k):
    return np.eye(k, dtype=np.float32)[rng.integers(0, k, n)]


def guide_mlp(rng):
    from kcc.layers import Dense, Input
    from kcc.models import Model
    inputs = Input(shape=(784,))
    x = Dense(64, activation='relu')(inputs)
    x = Dense(64, activation='relu')(x)
    predictions = Dense(10, activation='softmax')(x)
    model = Model(input=inputs, output=predictions)
    return dict(model=model, x=[rng.random((16, 784), dtype=np.float32)], y=[_onehot(rng, 16, 10)],
                loss='categorical_crossentropy', optimizer='rmsprop', metrics=['accuracy'])


def guide_headline(rng):
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
    n = 6
    return dict(model=model,
                x=[rng.integers(0, 50, (n, 12)).astype(np.int32), rng.standard_normal((n, 5)).astype(np.float32)],
                y=[(rng.random((n, 1)) > 0.5).astype(np.float32), (rng.random((n, 1)) > 0.5).astype(np.float32)],
                loss='binary_crossentropy', optimizer='rmsprop', metrics=[])


def guide_shared_lstm(rng):
    from kcc.layers import Dense, Input, LSTM, merge
    from kcc.models import Model
    tweet_a = Input(shape=(7, 11))
    tweet_b = Input(shape=(7, 11))
    shared_lstm = LSTM(16)
    encoded_a = shared_lstm(tweet_a)
    encoded_b = shared_lstm(tweet_b)
    merged_vector = merge([encoded_a, encoded_b], mode='concat', concat_axis=-1)
    predictions = Dense(1, activation='sigmoid')(merged_vector)
    model = Model(input=[tweet_a, tweet_b], output=predictions)
    n = 5
    return dict(model=model, x=[rng.random((n, 7, 11), dtype=np.float32), rng.random((n, 7, 11), dtype=np.float32)],
                y=[(rng.random((n, 1)) > 0.5).astype(np.float32)],
                loss='binary_crossentropy', optimizer='rmsprop', metrics=['accuracy'])


def guide_shared_vision(rng):
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
    out_a = vision_model(digit_a)
    out_b = vision_model(digit_b)
    concatenated = concatenate([out_a, out_b])
    out = Dense(1, activation='sigmoid')(concatenated)
    model = Model([digit_a, digit_b], out)
    n = 4
    return dict(model=model, x=[rng.random((n, 1, 10, 10), dtype=np.float32), rng.random((n, 1, 10, 10), dtype=np.float32)],
                y=[(rng.random((n, 1)) > 0.5).astype(np.float32)],
                loss='binary_crossentropy', optimizer='rmsprop', metrics=['binary_accuracy'])


def guide_inception(rng):
    from kcc.layers import Convolution2D, Dense, Flatten, Input, MaxPooling2D, merge
    from kcc.models import Model
    input_img = Input(shape=(3, 8, 8))
    tower_1 = Convolution2D(4, 1, 1, border_mode='same', activation='relu')(input_img)
    tower_1 = Convolution2D(4, 3, 3, border_mode='same', activation='relu')(tower_1)
    tower_2 = Convolution2D(4, 1, 1, border_mode='same', activation='relu')(input_img)
    tower_2 = Convolution2D(4, 5, 5, border_mode='same', activation='relu')(tower_2)
    tower_3 = MaxPooling2D((3, 3), strides=(1, 1), border_mode='same')(input_img)
    tower_3 = Convolution2D(4, 1, 1, border_mode='same', activation='relu')(tower_3)
    output = merge([tower_1, tower_2, tower_3], mode='concat', concat_axis=1)
    head = Dense(3, activation='softmax')(Flatten()(output))
    n = 3
    return dict(model=Model(input_img, head), x=[rng.random((n, 3, 8, 8), dtype=np.float32)],
                y=[_onehot(rng, n, 3)], loss='categorical_crossentropy',
                optimizer=optimizers.SGD(learning_rate=0.05), metrics=[])


def guide_residual(rng):
    from kcc.layers import Convolution2D, Input, merge
    from kcc.models import Model
    x = Input(shape=(3, 6, 6))
    y = Convolution2D(3, 3, 3, border_mode='same')(x)
    z = merge([x, y], mode='sum')
    n = 3
    return dict(model=Model(x, z), x=[rng.standard_normal((n, 3, 6, 6)).astype(np.float32)],
                y=[rng.standard_normal((n, 3, 6, 6)).astype(np.float32)], loss='mse',
                optimizer='adam', metrics=[])


def _vqa_parts(side, vocab, length, dim, units, answers):
    from kcc.layers import Convolution2D, Dense, Embedding, Flatten, Input, LSTM, MaxPooling2D, merge
    from kcc.models import Model, Sequential
    vision_model = Sequential()
    vision_model.add(Convolution2D(4, 3, 3, activation='relu', border_mode='same', input_shape=(3, side, side)))
    vision_model.add(Convolution2D(4, 3, 3, activation='relu'))
    vision_model.add(MaxPooling2D((2, 2)))
    vision_model.add(Flatten())
    image_input = Input(shape=(3, side, side))
    encoded_image = vision_model(image_input)
    question_input = Input(shape=(length,), dtype='int32')
    embedded_question = Embedding(input_dim=vocab, output_dim=dim, input_length=length)(question_input)
    encoded_question = LSTM(units)(embedded_question)
    merged = merge([encoded_question, encoded_image], mode='concat')
    output = Dense(answers, activation='softmax')(merged)
    vqa_model = Model(input=[image_input, question_input], output=output)
    return vqa_model, vision_model, question_input, encoded_question


def guide_vqa(rng):
    model, *_ = _vqa_parts(side=10, vocab=30, length=5, dim=6, units=6, answers=7)
    n = 3
    return dict(model=model, x=[rng.random((n, 3, 10, 10), dtype=np.float32),
                                rng.integers(0, 30, (n, 5)).astype(np.int32)],
                y=[_onehot(rng, n, 7)], loss='categorical_crossentropy', optimizer='rmsprop', metrics=[])


def guide_video_qa(rng):
    from kcc.layers import Dense, Input, LSTM, TimeDistributed, merge
    from kcc.models import Model
    _, vision_model, question_input, encoded_question = _vqa_parts(side=8, vocab=30, length=5, dim=6,
                                                                   units=6, answers=7)
    video_input = Input(shape=(3, 3, 8, 8))
    encoded_frame_sequence = TimeDistributed(vision_model)(video_input)
    encoded_video = LSTM(6)(encoded_frame_sequence)
    question_encoder = Model(input=question_input, output=encoded_question)
    video_question_input = Input(shape=(5,), dtype='int32')
    encoded_video_question = question_encoder(video_question_input)
    merged = merge([encoded_video, encoded_video_question], mode='concat')
    output = Dense(7, activation='softmax')(merged)
    model = Model(input=[video_input, video_question_input], output=output)
    n = 2
    return dict(model=model, x=[rng.random((n, 3, 3, 8, 8), dtype=np.float32),
                                rng.integers(0, 30, (n, 5)).astype(np.int32)],
                y=[_onehot(rng, n, 7)], loss='categorical_crossentropy', optimizer='rmsprop', metrics=[])


CASES = {f.__name__: f for f in (guide_mlp, guide_headline, guide_shared_lstm, guide_shared_vision,
                                  guide_inception, guide_residual, guide_vqa, guide_video_qa)}
