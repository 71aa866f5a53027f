"""The guide's visual question answering model and its video QA model, built as written:
parameter counts, one predict at full size, one training step at reduced sizes.

    python examples/vqa.py

The video input has 4 frames instead of the guide's 100: a predict runs the whole vision
model per frame (about 0.25 s a frame here), and the frame count changes no parameter.
Training at full size would hold Adam/RMSprop state for ~170M parameters, so the training
step runs the same code with smaller numbers (32x32 images, 10-word vocabulary...).
"""
import time

import numpy as np

import kcc
from kcc.utils import clear_session


def build(side=224, vocab=10000, length=100, dim=256, units=256, answers=1000, frames=4):
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
    # each question will be at most 100 word long,
    # and we will index words as integers from 1 to 9999.
    question_input = Input(shape=(length,), dtype='int32')
    embedded_question = Embedding(input_dim=vocab, output_dim=dim, input_length=length)(question_input)
    encoded_question = LSTM(units)(embedded_question)

    # let's concatenate the question vector and the image vector:
    merged = merge([encoded_question, encoded_image], mode='concat')

    # and let's train a logistic regression over 1000 words on top:
    output = Dense(answers, activation='softmax')(merged)

    # this is our final model:
    vqa_model = Model(input=[image_input, question_input], output=output)

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


def timed(what, f):
    start = time.perf_counter()
    result = f()
    print(f"  {what}: {time.perf_counter() - start:.2f} s")
    return result


kcc.utils.set_random_seed(0)
rng = np.random.default_rng(0)
FRAMES = 4
vqa_model, video_qa_model = build(frames=FRAMES)
print(f"VQA model: {vqa_model.count_params()} parameters (Keras: 165077800)")
print(f"video QA model: {video_qa_model.count_params()} parameters (Keras: 169436968)")
image = rng.random((1, 3, 224, 224), dtype=np.float32)
question = rng.integers(1, 10000, (1, 100)).astype(np.int32)
answer = timed("VQA predict, first call (compile, weights)", lambda: vqa_model.predict([image, question]))
timed("VQA predict, second call", lambda: vqa_model.predict([image, question]))
print(f"  answer word: {answer.argmax()} (p = {answer.max():.5f}, untrained)")
video = rng.random((1, FRAMES, 3, 224, 224), dtype=np.float32)
answer = timed(f"video QA predict ({FRAMES} frames), first call",
               lambda: video_qa_model.predict([video, question]))
print(f"  answer word: {answer.argmax()} (p = {answer.max():.5f}, untrained)")

print("one training step at reduced sizes: 32x32 images, 3 frames, vocabulary 50, "
      "6-word questions, Embedding 8, LSTM(16), 10 answers")
clear_session()
vqa_small, video_small = build(side=32, vocab=50, length=6, dim=8, units=16, answers=10,
                               frames=3)
for name, model, x in (
        ("VQA", vqa_small, [rng.random((4, 3, 32, 32), dtype=np.float32),
                            rng.integers(1, 50, (4, 6)).astype(np.int32)]),
        ("video QA", video_small, [rng.random((4, 3, 3, 32, 32), dtype=np.float32),
                                   rng.integers(1, 50, (4, 6)).astype(np.int32)])):
    model.compile(optimizer='rmsprop', loss='categorical_crossentropy')
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 4)]
    loss = model.train_on_batch(x, y)
    print(f"  {name}: train_on_batch loss {float(np.ravel(loss)[0]):.4f}")
