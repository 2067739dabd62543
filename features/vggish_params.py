"""Every constant of the VGGish chain, once, with its unit in the name.

The values are those of Google's AudioSet VGGish (`tensorflow/models`, `research/audioset/vggish`)
as used to make OpenMIC-2018's `X`; `features.vggish` (front end) and `features.vggish_model`
(network, post-processing, weights) import them from here.
"""

# Front end: waveform -> log-mel examples.
SAMPLE_RATE_HZ = 16000
STFT_WINDOW_LENGTH_SECONDS = 0.025  # 400 samples at 16 kHz, periodic Hann
STFT_HOP_LENGTH_SECONDS = 0.010  # 160 samples at 16 kHz
NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
# HTK mel scale: mel = MEL_HIGH_FREQUENCY_Q * ln(1 + f / MEL_BREAK_FREQUENCY_HZ).
MEL_BREAK_FREQUENCY_HZ = 700.0
MEL_HIGH_FREQUENCY_Q = 1127.0
LOG_OFFSET = 0.01  # added to the mel magnitudes before the log, avoids log(0)
EXAMPLE_WINDOW_SECONDS = 0.96  # 96 frames per example
EXAMPLE_HOP_SECONDS = 0.96  # examples do not overlap

# Network.
EXAMPLE_NUM_FRAMES = 96
EMBEDDING_SIZE = 128

# Post-processing: PCA, clip, 8-bit quantisation (what the dataset stores).
QUANTIZE_MIN_VAL = -2.0
QUANTIZE_MAX_VAL = 2.0
PCA_EIGEN_VECTORS_NAME = "pca_eigen_vectors"
PCA_MEANS_NAME = "pca_means"

# Official weights, fetched on demand into the user cache.
CHECKPOINT_URL = "https://storage.googleapis.com/audioset/vggish_model.ckpt"
CHECKPOINT_MD5 = "d1c7011e6366aa34176bb05c705e31a8"
PCA_PARAMS_URL = "https://storage.googleapis.com/audioset/vggish_pca_params.npz"
PCA_PARAMS_MD5 = "c80cae691033abe7c7ecd11ea39fc834"
CACHE_ENV_VAR = "OPENMIC_COMPARE_CACHE"  # overrides ~/.cache/openmic-compare
