"""Your own images: every PNG and JPEG under a folder, as RGB images of one size.

The files are found recursively (any depth, extensions ``.png``, ``.jpg``,
``.jpeg`` in any case) and sorted by their path relative to the folder. Each
image is decoded to RGB (grey images are repeated over the three channels, an
alpha channel is dropped) and resized to ``image_size`` (bilinear, with
antialiasing), then stored as uint8 like MNIST, so both share one pipeline.

Splits are fixed by the file's relative path alone, never by a seed:

    bucket(f) = crc32(relative path of f) mod 10
    split(f)  = "test" if bucket = 0, "valid" if bucket = 1, else "train"

about 80/10/10, like CelebA's own partition. Runs with different seeds, and
the train, valid and test pipelines of one run (which the command line loads
with different seeds), therefore never share an image, and adding images to
the folder never moves the old ones between splits.

Labels are the index of each image's folder among the sorted folders that
hold images (all 0 for a flat folder such as CelebA's ``img_align_celeba``).

Memory: the decoded folder (all splits) is kept in memory when

    num_images * height * width * 3 bytes <= CACHE_FRACTION * physical memory

(CelebA at 64x64: 202,599 images, 2.5 GB, kept on a machine with 10 GB or
more); it is decoded once per process with all CPU cores. Otherwise every
read decodes its files again, in parallel, on the fly.
"""

import concurrent.futures
import functools
import os
import zlib
from pathlib import Path

import numpy as np
import tensorflow as tf

from avb_keras.checks import positive_int

EXTENSIONS = (".png", ".jpg", ".jpeg")
CHANNELS = 3
DEFAULT_IMAGE_SIZE = (64, 64)
#: At most this fraction of the machine's physical memory holds decoded images.
CACHE_FRACTION = 0.25
_EXPECTED = "a folder of PNG or JPEG images (searched recursively)"


def image_size_of(image_size):
    """``(height, width)`` from an int, a pair of positive ints or None (the default)."""
    if image_size is None:
        return DEFAULT_IMAGE_SIZE
    size = (image_size, image_size) if np.ndim(image_size) == 0 else tuple(image_size)
    if len(size) != 2:
        raise ValueError(f"image_size must be a positive int or a pair (height, width) of "
                         f"positive ints; got {image_size!r}.")
    return tuple(positive_int(s, "image_size") for s in size)


def shape(image_size=None):
    """``(height, width, 3)``: one example at ``image_size``."""
    return image_size_of(image_size) + (CHANNELS,)


def image_files(path):
    """The image files under ``path``, as sorted POSIX paths relative to it.

    Raises:
        ValueError: ``path`` is None (not given).
        FileNotFoundError: ``path`` is not a folder.
        ValueError: it holds no PNG or JPEG file.
    """
    if path is None:
        raise ValueError(f"The folder data set needs path=... (--data-path): {_EXPECTED}.")
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder not found: {os.fspath(path)!r}; "
                                f"expected {_EXPECTED}.")
    return _listing(str(root.resolve()))


@functools.lru_cache(maxsize=4)
def _listing(root):
    found = sorted(p.relative_to(root).as_posix() for p in Path(root).rglob("*")
                   if p.suffix.lower() in EXTENSIONS and p.is_file())
    if not found:
        raise ValueError(f"No images in {root!r}; expected {_EXPECTED}.")
    return tuple(found)


def split_of(relative_path):
    """"train", "valid" or "test": bucket crc32(path) mod 10 is 0 for test, 1 for valid."""
    bucket = zlib.crc32(relative_path.encode("utf-8")) % 10
    return "test" if bucket == 0 else "valid" if bucket == 1 else "train"


def files(path, split):
    """``(relative paths, int64 labels)`` of split ``split`` of the folder, sorted.

    Raises:
        ValueError: the split is empty (a folder with too few images).
    """
    listing = image_files(path)
    chosen = [f for f in listing if split_of(f) == split]
    if not chosen:
        raise ValueError(f"The {split} split of {os.fspath(path)!r} is empty (it has "
                         f"{len(listing)} images, about 10% of which go to valid and to "
                         f"test); expected {_EXPECTED}, a few dozen at least.")
    folders = sorted({os.path.dirname(f) for f in listing})
    labels = np.array([folders.index(os.path.dirname(f)) for f in chosen], dtype=np.int64)
    return chosen, labels


def decode(file_path, image_size):
    """The uint8 ``[height, width, 3]`` image in file ``file_path`` (a string tensor).

    Resized with bilinear interpolation and antialiasing; values rounded to
    0..255.
    """
    image = tf.io.decode_image(tf.io.read_file(file_path), channels=CHANNELS,
                               expand_animations=False)
    image = tf.image.resize(image, image_size, antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def decode_checked(root, relative_path, image_size):
    """`decode` of one file as a NumPy array; a file that is no image is named.

    Raises:
        ValueError: the file cannot be read or decoded.
    """
    try:
        return decode(os.path.join(root, relative_path), image_size).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError,
            tf.errors.UnknownError) as error:
        message = " ".join(str(error.message).split())[:120]
        raise ValueError(f"Cannot decode {os.path.join(root, relative_path)!r} as an image "
                         f"({message}); expected a PNG or JPEG file.") from None


def fits_in_memory(num_images, image_size):
    """Whether the decoded uint8 images take at most CACHE_FRACTION of physical memory."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return num_images * int(np.prod(shape(image_size))) <= CACHE_FRACTION * physical


@functools.lru_cache(maxsize=1)
def _decoded(root, listing, image_size):
    """Every image of the folder, uint8 ``[n, height, width, 3]``, in `listing`'s order."""
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        images = list(pool.map(lambda f: decode_checked(root, f, image_size), listing))
    return np.stack(images)


def arrays(path, split, image_size):
    """``(images, labels, load_example)`` of one split.

    When the folder fits in memory (`fits_in_memory`), ``images`` is uint8
    ``[n, H, W, 3]`` and ``load_example`` None; otherwise ``images`` holds the
    absolute file names and ``load_example`` decodes one of them (`decode`).
    """
    image_size = image_size_of(image_size)
    listing = image_files(path)
    chosen, labels = files(path, split)
    root = str(Path(path).resolve())
    if not fits_in_memory(len(listing), image_size):
        names = np.array([os.path.join(root, f) for f in chosen])
        return names, labels, functools.partial(decode, image_size=image_size)
    position = {f: i for i, f in enumerate(listing)}
    everything = _decoded(root, listing, image_size)
    return everything[[position[f] for f in chosen]], labels, None
