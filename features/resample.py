"""resampy's ``kaiser_best`` and ``kaiser_fast`` resamplers as a vectorised polyphase filter.

resampy evaluates a windowed sinc for every output sample: its filter is a table of the sinc's
right half (``kaiser_best``: 8,192 entries per zero crossing, 50 crossings), read with linear
interpolation between entries at the output sample's fractional position, one tap per input
sample on each side. For a rational ratio ``target_sr / orig_sr = L / M`` (in lowest terms) the
fractional positions repeat every ``L`` outputs, so there are only ``L`` distinct tap sets
(phases). This module computes each phase's taps once, with resampy's own table and arithmetic,
and applies them as a few matrix products over strided frames of the signal: no loop per
sample, and the same output as ``resampy.resample`` to about 1e-10 in float64
(tests/test_resample.py).

Details that make it equal, not merely close:

* the output length is resampy's, ``int(n * target_sr / orig_sr)``;
* the signal is read as if zero outside ``[0, n)``: resampy's sums stop at both edges;
* resampy places output ``t`` at ``t * (1 / (target_sr / orig_sr))`` in float64, which can fall
  just below the integer ``t * M / L`` when that is exact; resampy then uses the previous input
  sample as the centre with a fraction of almost one, a slightly different set of taps. Those
  outputs (at most one in ``L``) are found and computed with resampy's own fraction;
* resampy adds the taps one by one into an output of the input's dtype. For float64 that is
  plain arithmetic, done here as matrix products. For a float32 signal (what the musicnn front
  end resamples) every partial sum is rounded to float32, and those roundings move the result
  by up to ~1e-6, enough to change one float16 step of musicnn's stored mel power on 0.2 % of
  the bins. So float32 outputs are accumulated the same way, tap after tap in resampy's order,
  rounded to float32 each time, by a small numba kernel vectorised over the outputs of each
  phase (numba is what resampy itself compiles with): 99.97 % of the samples come out
  bit-identical to resampy's, the rest one float32 step away.

Ratios that need more than `MAX_PHASES` phases fall back to resampy itself.
"""

from __future__ import annotations

import importlib.util
import math
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from core.errors import ParameterError

FILTERS = ("kaiser_best", "kaiser_fast")  # resampy's precomputed tables
MAX_PHASES = 4096  # more phases than this (e.g. 44.1 kHz -> 16.001 kHz): resampy itself
OUTPUTS_PER_PRODUCT = 64  # output samples per column block of a matrix product
ROWS_PER_CHUNK = 4096  # frames per matrix product: bounds the memory of a long signal


def resample(y: np.ndarray, orig_sr: int, target_sr: int, *, filter: str = "kaiser_best") -> np.ndarray:
    """Resample along the last axis, as ``resampy.resample(y, orig_sr, target_sr, filter=filter)``.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n_samples)]
        Real signal(s), time on the last axis (librosa layout); float32 stays float32, float64
        stays float64, integers give float32 (as resampy). Other float types are computed in
        float64 and rounded once (resampy rounds each partial sum to them).
    orig_sr, target_sr : int
        Sampling rates in Hz, positive integers.
    filter : {"kaiser_best", "kaiser_fast"}
        resampy's precomputed filter.

    Returns
    -------
    y_hat : np.ndarray [shape=(..., int(n_samples * target_sr / orig_sr))]
        A copy of `y` when the rates are equal. Float64 results equal resampy's to ~1e-10;
        float32 results are accumulated in float32 as resampy does (99.97 % bit-identical on
        real audio, the rest one float32 step away).

    Raises
    ------
    ParameterError
        A rate that is not a positive integer, an unknown filter, a non-real or empty `y`, or a
        signal too short to give one output sample.

    Examples
    --------
    >>> y = np.random.default_rng(0).standard_normal((2, 44100))
    >>> resample(y, 44100, 16000).shape
    (2, 16000)
    """
    for name, rate in (("orig_sr", orig_sr), ("target_sr", target_sr)):
        if not (isinstance(rate, (int, np.integer)) and rate > 0):
            raise ParameterError(f"{name} must be a positive integer in Hz, given {name}={rate!r}")
    if filter not in FILTERS:
        raise ParameterError(f"filter must be one of {FILTERS}, given filter={filter!r}")
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[-1] == 0 or not (np.isrealobj(y) and y.dtype.kind in "fiu"):
        raise ParameterError(
            f"y must be a non-empty real array, time on the last axis; given y.shape={y.shape}, "
            f"dtype {y.dtype}"
        )
    orig_sr, target_sr = int(orig_sr), int(target_sr)
    dtype = y.dtype if y.dtype.kind == "f" else np.dtype(np.float32)
    if orig_sr == target_sr:
        return y.astype(dtype, copy=True)
    n_out = int(y.shape[-1] * float(target_sr) / float(orig_sr))  # resampy's length rule
    if n_out < 1:
        raise ParameterError(
            f"y is too short to resample from {orig_sr} Hz to {target_sr} Hz: "
            f"given y.shape={y.shape}, which gives no output sample"
        )
    g = math.gcd(orig_sr, target_sr)
    if target_sr // g > MAX_PHASES:
        import resampy

        return resampy.resample(y, orig_sr, target_sr, filter=filter, axis=-1)
    plan = _plan(orig_sr, target_sr, filter)
    x = y.reshape(-1, y.shape[-1]).astype(np.float64)
    apply = plan.apply_float32 if dtype == np.float32 else plan.apply
    out = np.stack([apply(channel, n_out) for channel in x])
    return out.reshape(*y.shape[:-1], n_out).astype(dtype, copy=False)


def filter_table(filter: str) -> tuple[np.ndarray, int]:
    """resampy's precomputed half window and its entries per zero crossing.

    Read from resampy's package data (``resampy/data/<filter>.npz``, the file
    ``resampy.filters.get_filter`` loads) directly: importing resampy would import numba, which
    only float32 signals need here.

    Returns
    -------
    half_window : np.ndarray [shape=(n_entries,), dtype=float64]
    precision : int
        Table entries per zero crossing (8192 for kaiser_best, 512 for kaiser_fast).
    """
    return _filter_table(filter)


@cache
def _filter_table(filter: str) -> tuple[np.ndarray, int]:
    spec = importlib.util.find_spec("resampy")
    if spec is None or not spec.submodule_search_locations:
        raise ParameterError("the resampy package is not installed: pip install resampy")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{filter}.npz"
    with np.load(path) as npz:
        return np.array(npz["half_window"], dtype=np.float64), int(npz["precision"])


class _Polyphase:
    """The taps of every phase of one rate pair and filter, laid out for matrix products.

    Output ``t = q * B + r`` (``B`` outputs per block, a multiple of ``L``) is centred on input
    ``q * K + centre[r]`` (``K = B * M / L`` inputs per block) and reads the inputs from
    ``n_left - 1`` before the centre to ``n_right`` after it.
    """

    def __init__(self, orig_sr: int, target_sr: int, filter: str) -> None:
        g = math.gcd(orig_sr, target_sr)
        self.L, self.M = target_sr // g, orig_sr // g
        ratio = float(target_sr) / orig_sr
        win, self.num_table = filter_table(filter)
        if ratio < 1:
            win = ratio * win  # resampy scales the window (a copy) when downsampling
        self.win, self.delta = win, np.diff(win, append=win[-1])
        self.scale = min(1.0, ratio)
        self.step = int(self.scale * self.num_table)
        self.time_increment = 1.0 / ratio
        blocks = max(1, math.ceil(OUTPUTS_PER_PRODUCT / self.L))
        self.B, self.K = self.L * blocks, self.M * blocks
        r = np.arange(self.B)
        self.centre = (r * self.M) // self.L
        frac = self.scale * (((r * self.M) % self.L) / self.L)
        self.left, self.right = left, right = self.wings(frac)
        self.n_left, self.n_right = left.shape[1], right.shape[1]
        # Column blocks of at most OUTPUTS_PER_PRODUCT outputs, each with its own input span.
        self.products = []
        for a in range(0, self.B, OUTPUTS_PER_PRODUCT):
            cols = slice(a, min(a + OUTPUTS_PER_PRODUCT, self.B))
            first = int(self.centre[cols.start]) - self.n_left + 1
            span = int(self.centre[cols.stop - 1]) + self.n_right - first + 1
            matrix = np.zeros((span, cols.stop - cols.start))
            for j, c in enumerate(range(cols.start, cols.stop)):
                at = int(self.centre[c]) - first
                matrix[at - self.n_left + 1 : at + 1, j] = left[c, ::-1]
                matrix[at + 1 : at + 1 + self.n_right, j] = right[c]
            self.products.append((cols, first, matrix))

    def wings(self, frac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Left taps (centre, centre - 1, ...) and right taps (centre + 1, ...) per fraction.

        resampy's interpolation of its table: the fraction (in input samples, scaled) gives an
        offset into the table and a linear-interpolation weight, taps every `step` entries while
        they stay inside the table; the right wing starts from ``scale - frac``.

        Returns
        -------
        left, right : np.ndarray [shape=(len(frac), n_taps)], zero beyond each fraction's taps
        """
        return self._wing(frac), self._wing(self.scale - frac)

    def _wing(self, frac: np.ndarray) -> np.ndarray:
        index_frac = frac * self.num_table
        offset = index_frac.astype(np.int64)
        eta = index_frac - offset
        count = (len(self.win) - offset) // self.step
        taps = np.arange(int(count.max()))
        idx = offset[:, None] + taps * self.step
        inside = taps < count[:, None]
        idx = np.where(inside, idx, 0)
        return np.where(inside, self.win[idx] + eta[:, None] * self.delta[idx], 0.0)

    def _padded(self, x: np.ndarray, n_blocks: int) -> tuple[np.ndarray, int]:
        """`x` in zeros, and where it starts: reads past either edge see zeros, as resampy's
        sums stop there; the start leaves one sample more than the taps need (a corrected
        output centres one earlier); the length is a whole number of blocks past the last read.
        """
        pad_left = self.n_left
        need = (n_blocks - 1) * self.K + max(first + len(m) for _, first, m in self.products)
        length = pad_left + max(need, len(x)) + self.n_right + 1
        xp = np.zeros(-(-length // self.K) * self.K)
        xp[pad_left : pad_left + len(x)] = x
        return xp, pad_left

    def apply(self, x: np.ndarray, n_out: int) -> np.ndarray:
        """Resample one float64 channel to `n_out` float64 samples."""
        n_blocks = -(-n_out // self.B)
        xp, pad_left = self._padded(x, n_blocks)
        out = np.empty((n_blocks, self.B))
        for cols, first, matrix in self.products:
            frames = np.lib.stride_tricks.as_strided(
                xp[pad_left + first :],
                shape=(n_blocks, len(matrix)),
                strides=(xp.strides[0] * self.K, xp.strides[0]),
                writeable=False,
            )
            for start in range(0, n_blocks, ROWS_PER_CHUNK):
                rows = slice(start, start + ROWS_PER_CHUNK)
                out[rows, cols] = frames[rows] @ matrix
        out = out.reshape(-1)[:n_out]
        self._correct(out, xp, pad_left)
        return out

    def apply_float32(self, x: np.ndarray, n_out: int) -> np.ndarray:
        """Resample one channel to `n_out` float32 samples, rounding each partial sum as resampy.

        The padded signal is laid out as ``(K, n_blocks + ...)``, column ``m`` holding inputs
        ``m * K ..``, so that one tap of one phase reads a contiguous row for all blocks.
        """
        n_blocks = -(-n_out // self.B)
        xp, pad_left = self._padded(x, n_blocks)
        columns = np.ascontiguousarray(xp.reshape(-1, self.K).T)
        out = np.zeros((self.B, n_blocks), dtype=np.float32)
        for taps, first_input in ((self.left, -np.arange(self.n_left)),
                                  (self.right, 1 + np.arange(self.n_right))):
            at = pad_left + self.centre[:, None] + first_input[None, :]
            _accumulate_float32(columns, at % self.K, at // self.K, taps, out)
        out = out.T.reshape(-1)[:n_out]
        self._correct(out, xp, pad_left)
        return out

    def _correct(self, out: np.ndarray, xp: np.ndarray, pad_left: int) -> None:
        """Recompute the outputs whose float64 position resampy rounds below an exact integer."""
        t = np.arange(0, len(out), self.L)  # only these have an integer exact position
        t_out = t * self.time_increment
        centre = t_out.astype(np.int64)
        moved = centre != (t * self.M) // self.L
        if not moved.any():
            return
        t, t_out, centre = t[moved], t_out[moved], centre[moved]
        left, right = self.wings(self.scale * (t_out - centre))
        at = pad_left + centre
        left_x = xp[at[:, None] - np.arange(left.shape[1])]
        right_x = xp[at[:, None] + 1 + np.arange(right.shape[1])]
        if out.dtype == np.float64:
            out[t] = (left * left_x).sum(axis=1) + (right * right_x).sum(axis=1)
            return
        acc = np.zeros(len(t), dtype=np.float32)
        for weights, inputs in ((left, left_x), (right, right_x)):
            for i in range(weights.shape[1]):  # resampy's order, rounded as it rounds
                acc = (acc + weights[:, i] * inputs[:, i]).astype(np.float32)
        out[t] = acc


def _accumulate_float32(columns, rows, shifts, taps, out) -> None:
    """`_accumulate_float32_py` compiled by numba on first use (importing numba takes time)."""
    _float32_kernel()(columns, rows, shifts, taps, out)


@cache
def _float32_kernel():
    import numba

    return numba.njit(nogil=True, cache=True)(_accumulate_float32_py)


def _accumulate_float32_py(columns, rows, shifts, taps, out):  # pragma: no cover (compiled)
    """``out[r, q] += taps[r, i] * x[q * K + pos]`` tap after tap, rounded to float32 each time.

    `columns` is the padded signal as ``(K, n)`` (``columns[j, m] = x[m * K + j]``); tap ``i`` of
    phase ``r`` reads row ``rows[r, i]`` from column ``shifts[r, i]`` on. The product and the
    sum are float64, the store float32: resampy's ``y[t] += weight * x[n - i]`` on float32 `y`.
    """
    n_phases, n_blocks = out.shape
    for r in range(n_phases):
        acc = out[r]
        for i in range(taps.shape[1]):
            weight = taps[r, i]
            row = columns[rows[r, i]]
            shift = shifts[r, i]
            for q in range(n_blocks):
                acc[q] = acc[q] + weight * row[shift + q]


@lru_cache(maxsize=16)
def _plan(orig_sr: int, target_sr: int, filter: str) -> _Polyphase:
    return _Polyphase(orig_sr, target_sr, filter)
