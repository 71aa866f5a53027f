"""kcc.layers: the layers of the Keras functional API (`from kcc.layers import Input, Dense`)."""
from kcc.frontend import Input, InputLayer, InputSpec, Layer
from kcc.layers.activation import Activation
from kcc.layers.activity_regularization import ActivityRegularization
from kcc.layers.activations import ELU, Identity, LeakyReLU, ReLU, Softmax
from kcc.layers.attention import Attention
from kcc.layers.batch_norm import BatchNormalization
from kcc.layers.bidirectional import Bidirectional
from kcc.layers.conv1d import Conv1D, Convolution1D
from kcc.layers.convolutional import Conv2D, Convolution2D
from kcc.layers.conv_transpose import (Conv1DTranspose, Conv2DTranspose, Convolution1DTranspose,
                                       Convolution2DTranspose)
from kcc.layers.cropping import Cropping1D, Cropping2D
from kcc.layers.dense import Dense
from kcc.layers.depthwise import DepthwiseConv2D, SeparableConv2D
from kcc.layers.dropout import Dropout, SpatialDropout1D, SpatialDropout2D
from kcc.layers.embedding import Embedding
from kcc.layers.masking import Masking
from kcc.layers.merge import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply,
                              Subtract)
from kcc.layers.multi_head_attention import MultiHeadAttention
from kcc.layers.merge_functions import (add, average, concatenate, dot, maximum, merge, minimum,
                                        multiply, subtract)
from kcc.layers.noise import GaussianDropout, GaussianNoise
from kcc.layers.normalization import LayerNormalization
from kcc.layers.padding import ZeroPadding1D, ZeroPadding2D
from kcc.layers.preprocessing import Normalization, Rescaling
from kcc.layers.prelu import PReLU
from kcc.layers.pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D,
                                GlobalAvgPool2D, GlobalMaxPool2D, GlobalMaxPooling2D,
                                MaxPool2D, MaxPooling2D)
from kcc.layers.pooling1d import (AveragePooling1D, AvgPool1D, GlobalAveragePooling1D,
                                  GlobalAvgPool1D, GlobalMaxPool1D, GlobalMaxPooling1D,
                                  MaxPool1D, MaxPooling1D)
from kcc.layers.permute import Permute
from kcc.layers.recurrent import GRU, LSTM, SimpleRNN
from kcc.layers.rms_normalization import RMSNormalization
from kcc.layers.repeat_vector import RepeatVector
from kcc.layers.reshape import Flatten, Reshape
from kcc.layers.unit_normalization import UnitNormalization
from kcc.layers.upsampling import UpSampling1D, UpSampling2D
from kcc.layers.wrappers import TimeDistributed

__all__ = [
    "Activation", "Add", "Average", "Bidirectional", "Concatenate", "Conv2D", "Convolution2D", "Dense", "Dot",
    "Dropout", "Embedding",
    "Flatten", "GRU", "Input", "InputLayer", "InputSpec", "LSTM", "Layer", "Maximum", "Minimum",
    "Multiply", "Reshape", "SimpleRNN", "Subtract", "TimeDistributed", "add", "average", "concatenate", "dot",
    "maximum", "merge", "minimum", "multiply", "subtract",
    "AveragePooling2D", "AvgPool2D", "GlobalAveragePooling2D", "GlobalAvgPool2D",
    "GlobalMaxPool2D", "GlobalMaxPooling2D", "MaxPool2D", "MaxPooling2D", "ZeroPadding2D",
    "Conv1D", "Convolution1D", "AveragePooling1D", "AvgPool1D", "GlobalAveragePooling1D",
    "GlobalAvgPool1D", "GlobalMaxPool1D", "GlobalMaxPooling1D", "MaxPool1D", "MaxPooling1D",
    "Permute", "RepeatVector", "LayerNormalization", "SpatialDropout1D", "SpatialDropout2D",
    "BatchNormalization",
    "Cropping1D", "Cropping2D", "ZeroPadding1D", "UpSampling1D", "UpSampling2D",
    "GaussianDropout", "GaussianNoise", "Masking", "Attention", "MultiHeadAttention",
    "Conv1DTranspose", "Conv2DTranspose", "Convolution1DTranspose", "Convolution2DTranspose",
    "DepthwiseConv2D", "SeparableConv2D",
    "ELU", "Identity", "LeakyReLU", "PReLU", "ReLU", "Softmax",
    "ActivityRegularization", "Normalization", "Rescaling", "UnitNormalization",
    "RMSNormalization",
]
