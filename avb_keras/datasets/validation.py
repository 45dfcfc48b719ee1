"""Checks that an array is a batch of images in the form the models expect.

The models in ``avb_keras`` consume float images shaped ``(..., H, W, C)``.
Bernoulli-style likelihoods need values in [0, 1]; Gaussian ones accept any
finite real values. :func:`validate_images` turns a silent mistake (raw uint8
pixels, a missing channel axis, NaNs) into an error that says what is wrong and
what was expected.
"""

import numpy as np

SUPPORTS = ("unit_interval", "real")


def validate_images(x, data_shape=None, support="unit_interval", name="x"):
    """Returns ``x`` as a float32 NumPy array after checking its form.

    Args:
        x: array-like (NumPy array, eager tensor, nested lists) of images.
        data_shape: expected trailing shape, e.g. ``(28, 28, 1)``; ``None``
            skips the shape check.
        support: ``"unit_interval"`` (values must lie in [0, 1]) or ``"real"``
            (any finite value).
        name: what to call the array in error messages.

    Raises:
        TypeError: ``x`` is not numeric or not floating point.
        ValueError: ``x`` is empty, has the wrong trailing shape, contains
            NaN/Inf, or lies outside [0, 1] when ``support="unit_interval"``.
    """
    if support not in SUPPORTS:
        raise ValueError(f"support must be one of {SUPPORTS}; got {support!r}.")
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        expected = ("float images in [0, 1]" if support == "unit_interval"
                    else "float images")
        hint = (" — divide by 255" if support == "unit_interval"
                and np.issubdtype(x.dtype, np.integer) else "")
        raise TypeError(f"{name}: expected {expected}; got {x.dtype}{hint}.")
    if x.size == 0:
        raise ValueError(f"{name}: expected a non-empty batch of images; "
                         f"got an empty array of shape {x.shape}.")
    if data_shape is not None:
        data_shape = tuple(int(d) for d in data_shape)
        if x.ndim < len(data_shape) or x.shape[x.ndim - len(data_shape):] != data_shape:
            raise ValueError(f"{name}: expected shape (..., "
                             f"{', '.join(map(str, data_shape))}); got {x.shape}.")
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"{name}: expected finite values; got {int(bad.sum())} "
                         f"NaN/Inf entries.")
    if support == "unit_interval" and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name}: expected values in [0, 1]; got range "
                         f"[{x.min():g}, {x.max():g}].")
    return x.astype(np.float32, copy=False)
