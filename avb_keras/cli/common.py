"""What `avb-keras train` and `evaluate` share: a run's test split and its KL bound."""

from pathlib import Path

import numpy as np
import tensorflow as tf

from avb_keras import datasets, evaluation, seeding

SPLITS = ("train", "valid", "test")


def load_split(dataset, split, batch_size, data_path, seed, image_size):
    """One split of a run's data as the run read it: the run's seed plus the split's index
    seeds it (so `avb-keras evaluate` reads the test split the run was scored on); the
    training split repeats."""
    return datasets.load(dataset, split, batch_size=batch_size, path=data_path,
                         seed=seed + SPLITS.index(split), repeat=split == "train",
                         image_size=image_size)


def kl_bound_summary(model, test_data, seed, num_examples=256):
    """The adversary-free lower bound on the KL over the first test images, beside the
    model's own KL there (`evaluation.kl_lower_bound`)."""
    x = first_images(model, test_data, num_examples)
    bound = evaluation.kl_lower_bound(model, x, seed=seed)
    with seeding.seeded(model, seed):
        estimate = model.compute_terms(tf.constant(x))["kl"].numpy()
    return {"mean": float(np.mean(bound.kl_lower_bound)),
            "standard_error": float(np.std(bound.kl_lower_bound, ddof=1) / np.sqrt(len(x))),
            "model_kl_mean": float(np.mean(estimate)), "num_examples": len(x),
            "num_samples": evaluation.kl_bound.NUM_SAMPLES}


def first_images(model, data, num_examples):
    """The first `num_examples` images of the batched dataset `data` (fewer if it is shorter)."""
    images = []
    for batch in data:
        images.append(np.asarray(model.images(batch)))
        if sum(map(len, images)) >= num_examples:
            break
    return np.concatenate(images)[:num_examples]


def default_output(model_path, name):
    """Where a command writes its file `name` (e.g. "evaluation.json") by default: inside a
    run folder, beside a model file (MODEL.name), else (a preset's name or folder, which
    are not ours to write into) ./PRESET.name in the current directory."""
    path = Path(model_path)
    if (path / "model.keras").is_file():
        return path / name
    if path.suffix == ".keras":
        return path.with_suffix(f".{name}")
    return Path(f"{path.name}.{name}")
