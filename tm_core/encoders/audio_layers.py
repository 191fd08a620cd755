"""YAMNet's log-mel front end as one Keras layer (16 kHz waveform → log-mel frames).

This file imports only Keras and NumPy on purpose: audio exports ship a copy of it beside
``model.keras`` so that ``import audio_layers`` registers the layer and the saved model loads
anywhere, without Teachable Studio installed.

The short-time Fourier transform is written as a strided 1-D convolution with a fixed
window × DFT kernel (a 25 ms periodic Hann window, 10 ms hop, 512-point FFT), so it runs and
converts to TFLite with ordinary ops; the mel matrix and the log offset come from YAMNet.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

SAMPLE_RATE = 16_000
FRAME_LENGTH = 400  # 25 ms
FRAME_STEP = 160  # 10 ms
FFT_LENGTH = 512
MEL_BANDS = 64
LOG_OFFSET = 0.001


def dft_kernel(window: np.ndarray) -> np.ndarray:
    """(FRAME_LENGTH, 1, 2 * bins): windowed cosines then sines of a FFT_LENGTH-point real DFT."""
    bins = FFT_LENGTH // 2 + 1
    n = np.arange(FRAME_LENGTH, dtype=np.float64)[:, None]
    k = np.arange(bins, dtype=np.float64)[None, :]
    angle = 2 * np.pi * n * k / FFT_LENGTH
    w = np.asarray(window, np.float64)[:, None]
    kernel = np.concatenate([w * np.cos(angle), -w * np.sin(angle)], axis=1)
    return kernel[:, None, :].astype(np.float32)


@keras.saving.register_keras_serializable(package="TeachableStudio")
class LogMelSpectrogram(keras.layers.Layer):
    """(batch, samples) float waveform at 16 kHz → (batch, frames, 64) log-mel magnitudes.

    ``frames = 1 + (samples - 400) // 160``; a 0.975 s window (15,600 samples) gives YAMNet's
    96 frames. Weights, all frozen: ``kernel`` = ``dft_kernel(window)``, ``mel`` (257, 64) and
    ``offset`` (64,).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trainable = False

    def build(self, input_shape):
        bins = FFT_LENGTH // 2 + 1
        self.kernel = self.add_weight(shape=(FRAME_LENGTH, 1, 2 * bins), initializer="zeros",
                                      trainable=False, name="kernel")
        self.mel = self.add_weight(shape=(bins, MEL_BANDS), initializer="zeros", trainable=False, name="mel")
        self.offset = self.add_weight(shape=(MEL_BANDS,), initializer="zeros", trainable=False, name="offset")
        self.built = True

    def call(self, waveform):
        x = ops.expand_dims(ops.cast(waveform, "float32"), -1)  # (batch, samples, 1)
        spec = ops.conv(x, self.kernel, strides=FRAME_STEP, padding="valid")  # (batch, frames, 2 * bins)
        bins = FFT_LENGTH // 2 + 1
        real, imag = spec[..., :bins], spec[..., bins:]
        return ops.log(ops.matmul(ops.sqrt(real * real + imag * imag), self.mel) + self.offset)

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        frames = None if samples is None else 1 + (samples - FRAME_LENGTH) // FRAME_STEP
        return (input_shape[0], frames, MEL_BANDS)
