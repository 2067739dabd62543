"""The ``"hear"`` extractor of the feature cache: a decoded clip through a HEAR 2021 module.

A clip is decoded by the cache (`features.audio.load_audio`), mixed to mono, resampled to the
module's ``sample_rate``, cut or padded to 10 s and passed as a batch of one sound
``(1, n_samples)``, float32 in [-1, 1], as a tensor of the model's framework (PyTorch, TensorFlow)
or a NumPy array for a model of neither. The timestamp embeddings are the clip's frames; a module
without ``get_timestamp_embeddings`` gives one frame, its scene embedding. More than `MAX_FRAMES`
timestamps are averaged in `MAX_FRAMES` consecutive groups (`reduce_frames`), so that a module
with a 10 ms hop stores what a 1 s one does: OpenMIC's 20,000 clips at 1,000 frames of 768
values would take 61 GB, and the classical models pool the frames anyway.

`resolve_params` loads the model once in the calling process, runs it on 10 s of seeded noise and
records what the cache needs to know before any clip (frames, size) with the module's identity
(`features.hear.loading.identity`): the parameters are the cache's key and ``run.json``'s record.
"""

from __future__ import annotations

import contextlib
from typing import Any

import librosa
import numpy as np

from core.errors import ParameterError
from features.audio import CLIP_DURATION_S, to_mono
from features.hear.loading import TIMESTAMP_FUNCTION, HearError, identity, load

MAX_FRAMES = 10  # frames stored per clip at most (VGGish's 10 examples of 0.96 s)
PROBE_SEED = 0
PROBE_AMPLITUDE = 0.1
HEAR_DEFAULTS: dict[str, Any] = {
    "module": "", "version": None, "source_sha256": None, "weights": "", "weights_sha256": "",
    "sample_rate": 0, "kind": "timestamp", "n_timestamps": 0, "n_frames": 0, "dim": 0,
    "resampler": "soxr_hq", "max_frames": MAX_FRAMES,
}  # fmt: skip


def resolve_params(
    module: str, weights: str = "", *, resampler: str = "soxr_hq", max_frames: int = MAX_FRAMES
) -> dict[str, Any]:
    """The ``"hear"`` extractor's parameters for a module: its identity and output, probed.

    Parameters
    ----------
    module : str
        An importable module implementing the HEAR 2021 API (``"hear21passt.base"``).
    weights : str
        ``model_file_path`` for ``load_model``; "" for the module's default.
    resampler : str
        librosa ``res_type`` to the module's rate (``"soxr_hq"``; ``"kaiser_best"`` is resampy's,
        as musicnn's own front end uses).
    max_frames : int
        Frames stored per clip at most.

    Returns
    -------
    params : dict
        `HEAR_DEFAULTS`' keys: the identity (``module``, ``version``, ``source_sha256``,
        ``weights``, ``weights_sha256``), ``sample_rate``, ``kind`` ("timestamp" or "scene"),
        ``n_timestamps`` (per 10 s clip), ``n_frames`` (stored), ``dim``, ``resampler``,
        ``max_frames``.

    Raises
    ------
    HearError
        The module is missing, does not implement the API, cannot load its weights, or returns
        embeddings of the wrong shape or with NaN for 10 s of noise.
    """
    if not (isinstance(max_frames, int) and max_frames >= 1):
        raise ParameterError(f"max_frames must be a positive integer, given max_frames={max_frames!r}")
    mod, model = load(module, weights)
    sample_rate = int(model.sample_rate)
    kind = "timestamp" if callable(getattr(mod, TIMESTAMP_FUNCTION, None)) else "scene"
    n_samples = round(CLIP_DURATION_S * sample_rate)
    noise = np.random.default_rng(PROBE_SEED).uniform(-1, 1, size=(1, n_samples))
    params = {**HEAR_DEFAULTS, **identity(module, weights), "sample_rate": sample_rate,
              "kind": kind, "resampler": resampler, "max_frames": max_frames}
    frames = _embed(mod, model, (PROBE_AMPLITUDE * noise).astype(np.float32), params)
    params.update(n_timestamps=len(frames), n_frames=min(len(frames), max_frames),
                  dim=int(frames.shape[1]))
    return params


def embed_clip(y: np.ndarray, sr: int, params: dict) -> np.ndarray:
    """The frames of one clip: the ``"hear"`` extractor's computation.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,) or (n_channels, n_samples)]
        A decoded clip in librosa layout.
    sr : int
        Its sampling rate in Hz.
    params : dict
        From `resolve_params`.

    Returns
    -------
    frames : np.ndarray [shape=(n_frames, dim), dtype=float32]

    Raises
    ------
    HearError
        The module gives another number of timestamps or size than it did when probed, or NaN.
    """
    mod, model = load(params["module"], params["weights"])
    audio = prepare_audio(y, sr, params["sample_rate"], resampler=params["resampler"])
    frames = _embed(mod, model, audio[None], params)
    if frames.shape != (params["n_timestamps"], params["dim"]):
        raise HearError(
            f"{params['module']} gave {frames.shape[0]} timestamps of size {frames.shape[1]} for "
            f"a 10 s clip, but {params['n_timestamps']} of size {params['dim']} for the first 10 s "
            "it embedded: the toolkit needs the same number per 10 s clip; the module is not "
            "usable here as it is"
        )
    return reduce_frames(frames, params["max_frames"])


def clip_shape(params: dict) -> tuple[int, int]:
    """``(n_frames, dim)`` of `embed_clip`; the parameters must come from `resolve_params`."""
    if not params.get("module") or params.get("n_frames", 0) < 1 or params.get("dim", 0) < 1:
        raise ParameterError(
            "the hear extractor needs the parameters of features.hear.resolve_params(module), "
            f"given module={params.get('module')!r}, n_frames={params.get('n_frames')!r}, "
            f"dim={params.get('dim')!r}"
        )
    return (params["n_frames"], params["dim"])


def prepare_audio(y: np.ndarray, sr: int, sample_rate: int, *, resampler: str = "soxr_hq"
                  ) -> np.ndarray:
    """A clip as HEAR wants one sound: mono, at `sample_rate`, 10 s, float32 in [-1, 1].

    Returns
    -------
    audio : np.ndarray [shape=(round(10 * sample_rate),), dtype=float32]
        Channels averaged, resampled with `resampler`, cut or padded with zeros at the end,
        clipped to [-1, 1] (resampling can overshoot a full-scale peak).
    """
    mono = to_mono(y, dtype=np.float32)
    if sr != sample_rate:
        mono = librosa.resample(mono, orig_sr=sr, target_sr=sample_rate, res_type=resampler)
    n_samples = round(CLIP_DURATION_S * sample_rate)
    out = np.zeros(n_samples, dtype=np.float32)
    out[: min(len(mono), n_samples)] = mono[:n_samples]
    return np.clip(out, -1.0, 1.0, out=out)


def reduce_frames(frames: np.ndarray, max_frames: int) -> np.ndarray:
    """At most `max_frames` frames: consecutive timestamps averaged in groups of equal size (+-1).

    Parameters
    ----------
    frames : np.ndarray [shape=(n_timestamps, dim)]
    max_frames : int

    Returns
    -------
    np.ndarray [shape=(min(n_timestamps, max_frames), dim), dtype=float32]
        `frames` itself when there are few enough; otherwise group ``i`` is the mean of the
        timestamps ``round(i * n / max_frames)`` to ``round((i + 1) * n / max_frames) - 1``.
    """
    frames = np.asarray(frames, dtype=np.float32)
    if len(frames) <= max_frames:
        return frames
    bounds = np.linspace(0, len(frames), max_frames + 1).round().astype(int)
    sums = np.add.reduceat(frames.astype(np.float64), bounds[:-1], axis=0)
    return (sums / np.diff(bounds)[:, None]).astype(np.float32)


def _embed(mod, model, audio: np.ndarray, params: dict) -> np.ndarray:
    """One sound's embeddings ``(n_timestamps, dim)`` float32, checked against the HEAR API."""
    name = params["module"]
    function = TIMESTAMP_FUNCTION if params["kind"] == "timestamp" else "get_scene_embeddings"
    try:
        with _inference(model):
            out = getattr(mod, function)(_as_framework(audio, model), model)
            if params["kind"] == "timestamp":
                if not (isinstance(out, (tuple, list)) and len(out) == 2):
                    raise HearError(f"{name}.{function} must return (embeddings, timestamps), "
                                    f"it returned {type(out).__name__}")
                out = out[0]
            emb = _as_numpy(out)
    except HearError:
        raise
    except Exception as err:
        raise HearError(f"{name}.{function} failed on audio of shape {audio.shape} at "
                        f"{params['sample_rate']} Hz ({type(err).__name__}: {err})") from None
    if params["kind"] == "timestamp":
        size, want = int(model.timestamp_embedding_size), "(n_sounds, n_timestamps, timestamp_embedding_size)"
        ok = emb.ndim == 3 and emb.shape[0] == 1 and emb.shape[1] >= 1 and emb.shape[2] == size
    else:
        size, want = int(model.scene_embedding_size), "(n_sounds, scene_embedding_size)"
        ok = emb.ndim == 2 and emb.shape[0] == 1 and emb.shape[1] == size
    if not ok:
        raise HearError(
            f"{name}.{function} returned embeddings of shape {emb.shape} for audio of shape "
            f"{audio.shape}; the HEAR API wants {want} = (1, ..., {size}): the module does not "
            "implement the API as the toolkit needs"
        )
    if not np.isfinite(emb).all():
        raise HearError(
            f"{name}.{function} returned NaN or infinite values for 10 s of audio at "
            f"{params['sample_rate']} Hz (mono float32 in [-1, 1]): the module or its weights are "
            "broken for this input; check its installation and weights"
        )
    return emb.reshape(emb.shape[-2] if emb.ndim == 3 else 1, size)


def _framework(model) -> str | None:
    """"torch", "tensorflow" or None: where the model's class comes from."""
    roots = {cls.__module__.split(".")[0] for cls in type(model).__mro__}
    if "torch" in roots:
        return "torch"
    if roots & {"tensorflow", "keras", "tf_keras"}:
        return "tensorflow"
    return None


def _as_framework(audio: np.ndarray, model):
    """`audio` as the model's framework wants it: a tensor on the model's device, or NumPy."""
    framework = _framework(model)
    if framework == "torch":
        import torch

        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        return torch.from_numpy(audio).to(device)
    if framework == "tensorflow":
        import tensorflow as tf

        return tf.convert_to_tensor(audio)
    return audio


def _inference(model):
    """``torch.no_grad()`` for a PyTorch model (no autograd graph kept), else nothing."""
    if _framework(model) == "torch":
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()


def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch
        x = x.detach().cpu().numpy()
    elif hasattr(x, "numpy") and not isinstance(x, np.ndarray):  # tensorflow
        x = x.numpy()
    return np.asarray(x, dtype=np.float32)
