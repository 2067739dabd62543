"""Every constant of the musicnn port, once, with its unit in the name.

The front-end values are those the networks were trained with (the `config.json` of each
checkpoint in the `musicnn` 0.1.0 wheel: `resample_sr` 16000, `n_fft` 512, `hop` 256, `n_mels`
96, `n_frames` 187); the tag lists are the wheel's MagnaTagATune and Million Song Dataset
vocabularies, in the order of the networks' 50 outputs. The SHA-256 digests were measured on the
files of the wheel served by PyPI.
"""

# Front end: waveform -> log-mel patches.
SAMPLE_RATE_HZ = 16000
RESAMPLER = "kaiser_best"  # resampy, librosa 0.7's default with which the networks were trained
FFT_SIZE_SAMPLES = 512  # Hann window, centred frames (librosa defaults)
FFT_HOP_SAMPLES = 256  # 16 ms
N_MELS = 96  # Slaney mel scale, 0 Hz .. 8 kHz (librosa defaults)
LOG_GAIN = 10000.0  # log10(LOG_GAIN * mel_power + 1)
PATCH_FRAMES = 187  # network input length: 2.992 s
PATCH_SECONDS = PATCH_FRAMES * FFT_HOP_SAMPLES / SAMPLE_RATE_HZ

# Networks.
MODELS = ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")
N_TAGS = 50
BATCH_NORM_EPSILON = 1e-3  # tf.layers.batch_normalization's default
PREDICT_BATCH_PATCHES = 8  # patches per forward pass: larger batches are no faster on CPU, only bigger

FAMILY = {"MTT_musicnn": "musicnn", "MSD_musicnn": "musicnn", "MTT_vgg": "vgg", "MSD_vgg": "vgg"}
# Size of the per-patch embeddings each family exposes (the per-frame maps are in networks.py).
PATCH_EMBEDDING_SIZES = {
    "musicnn": {
        "taggram": N_TAGS, "logits": N_TAGS, "penultimate": 200, "mean_pool": 753, "max_pool": 753
    },
    "vgg": {"taggram": N_TAGS, "logits": N_TAGS, "pool5": 2 * 1 * 128},
}

MTT_TAGS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
    "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman",
    "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice",
    "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill",
    "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock",
    "60s", "rnb", "indie pop", "sad", "House", "happy",
)  # fmt: skip
TAGS = {"MTT_musicnn": MTT_TAGS, "MTT_vgg": MTT_TAGS, "MSD_musicnn": MSD_TAGS, "MSD_vgg": MSD_TAGS}

# Weights: the checkpoints inside the `musicnn` wheel on PyPI, fetched with pip on first use.
WHEEL_REQUIREMENT = "musicnn==0.1.0"
WHEEL_VERSION = "0.1.0"
WHEEL_FILE = "musicnn-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
WHEEL_PAGE_URL = "https://pypi.org/project/musicnn/0.1.0/#files"
CACHE_ENV_VAR = "OPENMIC_COMPARE_CACHE"  # overrides DEFAULT_CACHE_DIR
DEFAULT_CACHE_DIR = "~/.cache/openmic-compare"
# Files kept per network (the wheel's `musicnn/<MODEL>/<file>`; the checkpoint prefix is empty).
CHECKPOINT_SHA256 = {
    "MTT_musicnn": {
        ".index": "da2d7bb670b2b31e9bc441bb1bd75eca31b5b061f963cc1f9630c1aff3238f57",
        ".data-00000-of-00001": "041f3935e981a65cea739842d30c188d3a7d2adf4410955c8668eb3de4a5acab",
        "config.json": "e00c1abaf8091ee94a7783e670582bf421b4365b9ff50230f03f49aa05dbce64",
    },
    "MSD_musicnn": {
        ".index": "87f3e0f3550c8d3bafc840374003e5c8af5eeb5ecf6add61af09a7822d3282c8",
        ".data-00000-of-00001": "8579734ee6388f799ed0def4bbd0d1fdcbeaf213ef2a9dc860917bd76a303de6",
        "config.json": "75bb1debb88931bf51f1da1b611aeb6a926b6ee00eac2da24ea57434b6eb37e7",
    },
    "MTT_vgg": {
        ".index": "4b0d3d2d02bbe0919c063c1fb74bfa9018ac3517e362d681b07444d4207a5f5f",
        ".data-00000-of-00001": "458f5c8bcecc086a3bba3dce83809df6da6e0a3560a59ddd84711bf3d5fd8303",
        "config.json": "da282ffc92e0a43e9fce350c4ae379bafec746cea3fc3c610139e6a1426dd4d3",
    },
    "MSD_vgg": {
        ".index": "50e499238457558bba9f34f8b84d4afb8279afd43520cdf0a4fdf805a49c9ca3",
        ".data-00000-of-00001": "9683d756b8311146534f333502ebf4a2a78a3e320c54ab0411dff6186d8375fc",
        "config.json": "c16d540f376371cd6165816b0f8023f5ba774a42114dd37c325919cc8650744d",
    },
}
