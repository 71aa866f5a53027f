"""The guide's "More examples" section, each code block as written (Keras 1 spelling,
`keras` -> `kcc`), at reduced sizes where the full size would be slow for a test (each
changed number carries a comment), and what each block promises.

- Inception module: builds and predicts, output (None, 192, H, W).
- Residual connection: the guide's block merges a layer never called on `x`; kcc says so
  (TypeError, "call the layer on a tensor first"). The corrected block computes x + conv(x).
- Shared vision model: builds, compiles, trains one step (examples/shared_vision.py trains
  it on real digits; a test below runs that example).
- Visual question answering and video QA: built as written, parameter counts as Keras
  reports them, one predict, one training step at reduced sizes.
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import kcc
from kcc.utils import clear_session

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()
    kcc.utils.set_random_seed(0)
    yield


# -- Inception module ----------------------------------------------------------------------
def test_inception_module_builds_and_predicts():
    from kcc.layers import merge, Convolution2D, MaxPooling2D, Input
    from kcc.models import Model

    input_img = Input(shape=(3, 32, 32))           # reduced from (3, 256, 256)

    tower_1 = Convolution2D(64, 1, 1, border_mode='same', activation='relu')(input_img)
    tower_1 = Convolution2D(64, 3, 3, border_mode='same', activation='relu')(tower_1)

    tower_2 = Convolution2D(64, 1, 1, border_mode='same', activation='relu')(input_img)
    tower_2 = Convolution2D(64, 5, 5, border_mode='same', activation='relu')(tower_2)

    tower_3 = MaxPooling2D((3, 3), strides=(1, 1), border_mode='same')(input_img)
    tower_3 = Convolution2D(64, 1, 1, border_mode='same', activation='relu')(tower_3)

    output = merge([tower_1, tower_2, tower_3], mode='concat', concat_axis=1)

    assert output.shape == (None, 192, 32, 32)
    model = Model(input_img, output)
    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    y = model.predict(x)
    assert y.shape == (2, 192, 32, 32)
    assert np.isfinite(y).all() and (y >= 0).all()            # relu towers
    # each tower's slice is that tower alone
    tower_3_alone = Model(input_img, tower_3).predict(x)
    np.testing.assert_allclose(y[:, 128:], tower_3_alone, rtol=1e-5, atol=1e-6)


# -- Residual connection on a convolution layer --------------------------------------------
def test_residual_block_as_written_says_to_call_the_layer():
    from kcc.layers import merge, Convolution2D, Input

    # input tensor for a 3-channel 256x256 image
    x = Input(shape=(3, 256, 256))
    # 3x3 conv with 3 output channels (same as input channels)
    y = Convolution2D(3, 3, 3, border_mode='same')
    # this returns x + y.
    with pytest.raises(TypeError, match=r"merge\(\) received a layer \(convolution2d_1\), not "
                                        r"a tensor.*call the layer on a tensor first, e\.g\. "
                                        r"y = Convolution2D\(\.\.\.\)\(x\)"):
        z = merge([x, y], mode='sum')


@pytest.mark.parametrize("make", ["add", "concatenate", "Add", "Concatenate", "Multiply"])
def test_every_merge_rejects_a_layer(make):
    from kcc import layers
    from kcc.layers import Convolution2D, Input

    x = Input(shape=(3, 8, 8))
    y = Convolution2D(3, 3, 3, border_mode='same')
    merge_it = getattr(layers, make)
    if make[0].isupper():
        merge_it = merge_it()
    with pytest.raises(TypeError, match=r"received a layer \(convolution2d_\d+\), not a tensor"
                                        r".*call the layer on a tensor first"):
        merge_it([x, y])


def _conv_same_3x3(x, kernel, bias):
    """numpy reference: (C, H, W) image, Keras kernel (3, 3, in, out) -> (out, H, W)."""
    c, h, w = x.shape
    padded = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((kernel.shape[3], h, w)) + bias[:, None, None]
    for i in range(3):
        for j in range(3):
            out += np.einsum("chw,co->ohw", padded[:, i:i + h, j:j + w], kernel[i, j])
    return out


def test_residual_block_corrected_is_x_plus_conv_x():
    from kcc.layers import merge, Convolution2D, Input
    from kcc.models import Model

    # input tensor for a 3-channel 256x256 image
    x = Input(shape=(3, 256, 256))
    # 3x3 conv with 3 output channels (same as input channels)
    y = Convolution2D(3, 3, 3, border_mode='same')(x)     # the fix: called on x
    # this returns x + y.
    z = merge([x, y], mode='sum')

    assert z.shape == (None, 3, 256, 256)
    model = Model(x, z)
    image = np.random.default_rng(1).standard_normal((1, 3, 256, 256)).astype(np.float32)
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    expected = image[0] + _conv_same_3x3(image[0], kernel, bias)
    np.testing.assert_allclose(model.predict(image)[0], expected, rtol=1e-4, atol=1e-4)


# -- Shared vision model -------------------------------------------------------------------
def test_shared_vision_model_builds_and_trains_a_step():
    from kcc.layers import merge, Convolution2D, MaxPooling2D, Input, Dense, Flatten
    from kcc.models import Model

    # first, define the vision modules
    digit_input = Input(shape=(1, 27, 27))
    x = Convolution2D(64, 3, 3)(digit_input)
    x = Convolution2D(64, 3, 3)(x)
    x = MaxPooling2D((2, 2))(x)
    out = Flatten()(x)

    vision_model = Model(digit_input, out)

    # then define the tell-digits-apart model
    digit_a = Input(shape=(1, 27, 27))
    digit_b = Input(shape=(1, 27, 27))

    # the vision model will be shared, weights and all
    out_a = vision_model(digit_a)
    out_b = vision_model(digit_b)

    concatenated = merge([out_a, out_b], mode='concat')
    out = Dense(1, activation='sigmoid')(concatenated)

    classification_model = Model([digit_a, digit_b], out)

    assert out_a.shape == out_b.shape == (None, 64 * 11 * 11)
    assert concatenated.shape == (None, 2 * 64 * 11 * 11)
    # 2 convs (3*3*1*64+64, 3*3*64*64+64) shared by both digits, then Dense(1) on 15488
    assert classification_model.count_params() == 640 + 36928 + (15488 + 1)
    classification_model.compile(optimizer='rmsprop', loss='binary_crossentropy')
    rng = np.random.default_rng(0)
    a, b = (rng.random((8, 1, 27, 27), dtype=np.float32) for _ in range(2))
    same = rng.integers(0, 2, (8, 1)).astype(np.float32)
    shared = vision_model.get_weights()
    loss = classification_model.fit([a, b], same, nb_epoch=1, batch_size=8, verbose=0)
    assert np.isfinite(loss.history["loss"][0])
    # one set of conv weights, trained by both branches
    assert any(not np.array_equal(w0, w1) for w0, w1 in zip(shared, vision_model.get_weights()))
    np.testing.assert_allclose(classification_model.predict([a, a])[:, 0],
                               classification_model.predict([a, a])[:, 0])


def test_shared_vision_example_reaches_90_percent_on_real_digits(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "shared_vision.py")],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", out.stdout).group(1))
    assert accuracy >= 0.90, out.stdout


# -- Visual question answering model -------------------------------------------------------
def _vqa(side=224, vocab=10000, length=100, dim=256, units=256, answers=1000, frames=None):
    """The guide's VQA block (and with `frames`, its video QA block), as written, with the
    numbers passed in: side 224, vocabulary 10000, questions of 100 words, Embedding 256,
    LSTM(256), 1000 answers."""
    from kcc.layers import Convolution2D, MaxPooling2D, Flatten
    from kcc.layers import Input, LSTM, Embedding, Dense, merge
    from kcc.models import Model, Sequential

    # first, let's define a vision model using a Sequential model.
    # this model will encode an image into a vector.
    vision_model = Sequential()
    vision_model.add(Convolution2D(64, 3, 3, activation='relu', border_mode='same', input_shape=(3, side, side)))
    vision_model.add(Convolution2D(64, 3, 3, activation='relu'))
    vision_model.add(MaxPooling2D((2, 2)))
    vision_model.add(Convolution2D(128, 3, 3, activation='relu', border_mode='same'))
    vision_model.add(Convolution2D(128, 3, 3, activation='relu'))
    vision_model.add(MaxPooling2D((2, 2)))
    vision_model.add(Convolution2D(256, 3, 3, activation='relu', border_mode='same'))
    vision_model.add(Convolution2D(256, 3, 3, activation='relu'))
    vision_model.add(Convolution2D(256, 3, 3, activation='relu'))
    vision_model.add(MaxPooling2D((2, 2)))
    vision_model.add(Flatten())

    # now let's get a tensor with the output of our vision model:
    image_input = Input(shape=(3, side, side))
    encoded_image = vision_model(image_input)

    # next, let's define a language model to encode the question into a vector.
    question_input = Input(shape=(length,), dtype='int32')
    embedded_question = Embedding(input_dim=vocab, output_dim=dim, input_length=length)(question_input)
    encoded_question = LSTM(units)(embedded_question)

    # let's concatenate the question vector and the image vector:
    merged = merge([encoded_question, encoded_image], mode='concat')

    # and let's train a logistic regression over 1000 words on top:
    output = Dense(answers, activation='softmax')(merged)

    # this is our final model:
    vqa_model = Model(input=[image_input, question_input], output=output)
    if frames is None:
        return vqa_model, vision_model

    from kcc.layers import TimeDistributed

    video_input = Input(shape=(frames, 3, side, side))
    # this is our video encoded via the previously trained vision_model (weights are reused)
    encoded_frame_sequence = TimeDistributed(vision_model)(video_input)  # the output will be a sequence of vectors
    encoded_video = LSTM(units)(encoded_frame_sequence)  # the output will be a vector

    # this is a model-level representation of the question encoder, reusing the same weights as before:
    question_encoder = Model(input=question_input, output=encoded_question)

    # let's use it to encode the question:
    video_question_input = Input(shape=(length,), dtype='int32')
    encoded_video_question = question_encoder(video_question_input)

    # and this is our video question answering model:
    merged = merge([encoded_video, encoded_video_question], mode='concat')
    output = Dense(answers, activation='softmax')(merged)
    video_qa_model = Model(input=[video_input, video_question_input], output=output)
    return vqa_model, video_qa_model


# Keras's counts, layer by layer: conv kh*kw*in*out+out, LSTM 4*(in*U+U*U+U),
# Embedding V*D, Dense in*out+out.
VISION_PARAMS = (3 * 3 * 3 * 64 + 64          # 1792     (3, 224, 224) -> (64, 224, 224)
                 + 3 * 3 * 64 * 64 + 64       # 36928    -> (64, 222, 222), pool -> 111
                 + 3 * 3 * 64 * 128 + 128     # 73856    -> (128, 111, 111)
                 + 3 * 3 * 128 * 128 + 128    # 147584   -> (128, 109, 109), pool -> 54
                 + 3 * 3 * 128 * 256 + 256    # 295168   -> (256, 54, 54)
                 + 3 * 3 * 256 * 256 + 256    # 590080   -> (256, 52, 52)
                 + 3 * 3 * 256 * 256 + 256)   # 590080   -> (256, 50, 50), pool -> 25
assert VISION_PARAMS == 1735488
ENCODED_IMAGE = 256 * 25 * 25                 # 160000 after Flatten
QUESTION_PARAMS = (10000 * 256                # 2560000  Embedding(10000, 256)
                   + 4 * (256 * 256 + 256 * 256 + 256))   # 525312   LSTM(256) on 256
VQA_PARAMS = (VISION_PARAMS + QUESTION_PARAMS
              + (256 + ENCODED_IMAGE) * 1000 + 1000)      # 160257000  Dense(1000) on 160256
assert VQA_PARAMS == 165077800
VIDEO_QA_PARAMS = (VISION_PARAMS                          # TimeDistributed(vision_model): shared
                   + 4 * (ENCODED_IMAGE * 256 + 256 * 256 + 256)   # 164103168  LSTM(256) on 160000
                   + QUESTION_PARAMS                      # question_encoder: shared
                   + (256 + 256) * 1000 + 1000)           # 513000   Dense(1000) on 512
assert VIDEO_QA_PARAMS == 169436968


def test_vqa_model_as_written_counts_params_and_predicts():
    vqa_model, vision_model = _vqa()
    assert vision_model.output_shape == (None, ENCODED_IMAGE)
    assert vision_model.count_params() == VISION_PARAMS
    assert vqa_model.count_params() == VQA_PARAMS
    assert vqa_model.output_shape == (None, 1000)
    rng = np.random.default_rng(0)
    image = rng.random((1, 3, 224, 224), dtype=np.float32)
    question = rng.integers(1, 10000, (1, 100)).astype(np.int32)
    answer = vqa_model.predict([image, question])     # full size: about 0.25 s
    assert answer.shape == (1, 1000)
    np.testing.assert_allclose(answer.sum(), 1.0, rtol=1e-4)


def test_video_qa_model_counts_params_predicts_and_trains():
    # the video at 4 frames instead of 100: a full-size predict runs the vision model per frame
    vqa_model, video_qa_model = _vqa(frames=4)
    assert vqa_model.count_params() == VQA_PARAMS
    assert video_qa_model.count_params() == VIDEO_QA_PARAMS   # frames do not change the count
    assert video_qa_model.output_shape == (None, 1000)
    rng = np.random.default_rng(0)
    video = rng.random((1, 4, 3, 224, 224), dtype=np.float32)
    question = rng.integers(1, 10000, (1, 100)).astype(np.int32)
    answer = video_qa_model.predict([video, question])
    assert answer.shape == (1, 1000)
    np.testing.assert_allclose(answer.sum(), 1.0, rtol=1e-4)


def test_video_qa_trains_a_step_at_reduced_sizes():
    clear_session()
    # reduced: 32x32 frames (vision output 256*1*1), 3 frames, vocabulary 50, questions of 6
    # words, Embedding 8, LSTM(16), 10 answers; the code is the guide's
    vqa_model, video_qa_model = _vqa(side=32, vocab=50, length=6, dim=8, units=16, answers=10,
                                     frames=3)
    video_qa_model.compile(optimizer='rmsprop', loss='categorical_crossentropy')
    rng = np.random.default_rng(0)
    video = rng.random((4, 3, 3, 32, 32), dtype=np.float32)
    question = rng.integers(1, 50, (4, 6)).astype(np.int32)
    answers = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 4)]
    before = [w.copy() for w in video_qa_model.get_weights()]
    loss = video_qa_model.train_on_batch([video, question], answers)
    assert np.isfinite(np.asarray(loss)).all()
    after = video_qa_model.get_weights()
    assert all(a.shape == b.shape for a, b in zip(before, after))
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
