"""Named configurations: networks, optimizers and data for each experiment.

    AVB.from_preset("mnist_mlp", latent_dim=8)
    VAE.from_preset("four_frames")

A preset fixes the data, the network sizes and the players' learning rates
(of `optimizers.player_adam`, Adam with beta_1 = 0.5). It is data only: each
model class builds its own networks from a `Preset`
(`LatentVariableModel.from_preset`, and the class's `preset_arguments`), so a
new model or a new preset touches no switch here. Overrides are either network
settings (`latent_dim`, `seed`, `data_shape`, AVB's `encoder_type`) or
constructor arguments of the model (`adaptive_contrast`, `adversary_steps`, ...).
"""

import dataclasses

from avb_keras import pretrained
from avb_keras.checks import positive_int, positive_ints
from avb_keras.contrast import TRAINING_MOMENT_SAMPLES

#: Training steps per call into TensorFlow (Keras's `steps_per_execution`) of a
#: preset: the fastest measured on the project's CPU (docs/PERFORMANCE.md).
#: `avb-keras train` lowers it to a divisor of the steps per epoch and of
#: --log-every (`steps_per_execution`), since Keras calls the batch callbacks
#: once per call.
STEPS_PER_EXECUTION = 10


@dataclasses.dataclass(frozen=True)
class Preset:
    """One named configuration. Sizes are tuples of layer widths."""

    dataset: str
    data_shape: tuple
    latent_dim: int
    hidden_units: tuple
    #: The adversary's listed widths: its hidden layers and AVB's inner dimension...
    adversary_units: tuple
    inner_dim: int
    noise_dim: int
    learning_rate: float
    adversary_learning_rate: float
    adversary_steps: int = 1
    conv_filters: tuple = ()
    decoder_filters: tuple = ()
    num_basis: int = 16
    #: K, the encoder samples per x for Monte Carlo moments (implicit encoder with AC).
    moment_samples: int = TRAINING_MOMENT_SAMPLES
    #: AVB's encoder with Adaptive Contrast: "moment" (analytic moments) or "implicit"
    #: (Monte Carlo); without Adaptive Contrast AVB's encoder is always "implicit".
    encoder_type: str = "moment"
    #: AVB's contrast (`AVB(adaptive_contrast=...)`): True / "diagonal" (the paper's
    #: r(z|x) = N(mu, diag sigma^2)), "full" or False (the prior).
    adaptive_contrast: object = True
    batch_size: int = 128
    epochs: int = 10
    #: "constant" or "cosine" (decaying over the run's steps; see `avb_keras.optimizers`).
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    #: Momentum of the moving average of the primal weights, or None for no average.
    ema: float = None
    steps_per_execution: int = STEPS_PER_EXECUTION
    #: ...times this factor (`adversary_widths`; `configured` and --adversary-width set
    #: it), or if None times 1, except for AVB with full Adaptive Contrast...
    adversary_width: float = None
    #: ...whose adversary's task is nearly trivial (q(z|x) normalized by its own full
    #: covariance), and which keeps its KL and likelihood with a narrower one.
    full_contrast_adversary_width: float = 1.0
    #: A name ("bernoulli", "gaussian") or a likelihood's serialized config.
    likelihood: object = "bernoulli"
    description: str = ""

    def adversary_widths(self, adaptive_contrast=None):
        """(hidden units, inner dimension) of the adversary of a model with
        `adaptive_contrast` (AVB's; None for other models): the listed widths times
        `adversary_width` (if None: `full_contrast_adversary_width` for the full
        contrast, else 1), rounded, at least 1."""
        factor = self.adversary_width
        if factor is None:
            factor = self.full_contrast_adversary_width if adaptive_contrast == "full" else 1.0

        def scaled(units):
            return max(1, round(units * float(factor)))
        return tuple(scaled(u) for u in self.adversary_units), scaled(self.inner_dim)


PRESETS = {
    "four_frames": Preset(
        description="The paper's synthetic example: 4 one-hot 2x2 images, 2-d latent, "
                    "3x64 ELU MLPs, 64-d encoder noise, 2 adversary steps per primal step.",
        dataset="four_frames", data_shape=(2, 2, 1), latent_dim=2,
        hidden_units=(64, 64, 64), adversary_units=(64, 64, 64), inner_dim=64, noise_dim=64,
        learning_rate=1e-3, adversary_learning_rate=1e-3, adversary_steps=2,
        encoder_type="implicit", moment_samples=8, batch_size=512, epochs=125),
    # The recipe of the zoo's MNIST models (docs/RESULTS.md, "Stability, measured"): the
    # VAE's best rate, which full AC trains at stably in every seed (with the adversary's
    # offset limit) and where it beats the VAE; diagonal AC's adversary falls behind its
    # bound there. At latent 8 the two contrasts give the same likelihood (full minus
    # diagonal +0.11 +- 0.11 nats of test AIS, paired) and only full AC's KL estimate stays
    # above its bound, so full AC is the contrast at both latent sizes. Full AC's adversary
    # a quarter as wide keeps its KL above the adversary-free bound and the likelihood
    # within the seeds' spread, at 0.57 of full AC's time per example.
    "mnist_mlp": Preset(
        description="Fast MLPs for binarized MNIST (2x512), latent 32; AVB with "
                    "full-covariance Adaptive Contrast and its adversary a quarter as wide "
                    "(2x128, inner dimension 128; 2x512 for the other models), Adam at 1e-3 "
                    "(adversary 2e-3) decaying along a cosine, weight average 0.999, "
                    "100 epochs: the zoo's recipe.",
        dataset="mnist", data_shape=(28, 28, 1), latent_dim=32,
        hidden_units=(512, 512), adversary_units=(512, 512), inner_dim=512, noise_dim=32,
        full_contrast_adversary_width=0.25,
        learning_rate=1e-3, adversary_learning_rate=2e-3, lr_schedule="cosine", ema=0.999,
        adaptive_contrast="full", batch_size=128, epochs=100),
    "mnist_conv": Preset(
        description="The paper's MNIST architecture: strided convolutional encoder and "
                    "decoder, inner-product adversary with 3x1024 leaky-ReLU MLPs and "
                    "inner dimension 8192; lr 5e-5 (primal) and 1e-4 (adversary).",
        dataset="mnist", data_shape=(28, 28, 1), latent_dim=32,
        hidden_units=(512,), adversary_units=(1024, 1024, 1024), inner_dim=8192,
        noise_dim=32, conv_filters=(32, 64, 128), decoder_filters=(64, 32),
        learning_rate=5e-5, adversary_learning_rate=1e-4, batch_size=128, epochs=100),
    # The authors' CelebA network (their released code's "avb_celebA_64"), simplified: plain strided
    # convolutions without their residual blocks or per-layer noise (the noise enters
    # through the moment encoder's bases instead), and a stride-1 output convolution.
    "celeba_conv": Preset(
        description="The paper's CelebA architecture for 64x64 RGB images from a folder "
                    "(datasets 'folder'), simplified: 5x5 stride-2 convolutions "
                    "64-128-256-512 (no residual blocks), a dense layer of 512, latent 64; "
                    "decoder dense to 4x4x512 then transposed convolutions 512-256-128-64 "
                    "and a 5x5 convolution to RGB; adversary with the same convolutions on "
                    "x. Gaussian pixels with a learned per-pixel scale (a weight, not the "
                    "authors' decoder head; initial scale 0.1), because the colours are "
                    "continuous: a Bernoulli on grey levels is no density of them. AVB+AC "
                    "(the released script had AC off) at the AC rates 5e-5 and 1e-4, "
                    "batch 64.",
        dataset="folder", data_shape=(64, 64, 3), latent_dim=64,
        hidden_units=(512,), adversary_units=(1024, 1024), inner_dim=1024, noise_dim=128,
        conv_filters=(64, 128, 256, 512), decoder_filters=(512, 256, 128, 64), num_basis=32,
        learning_rate=5e-5, adversary_learning_rate=1e-4, batch_size=64, epochs=20,
        likelihood={"class_name": "avb_keras>Gaussian", "config": {"initial_scale": 0.1}}),
    # celeba_conv's design at a CPU's size (benchmarks/folder_speed.py): 32x32, three
    # stride-2 convolutions and a narrow decoder: 1/36 of its training FLOPs per example
    # at 32x32 (tests/test_folder.py checks it).
    "folder_small": Preset(
        description="celeba_conv's design sized for a CPU: 32x32 RGB images from a folder "
                    "(datasets 'folder'), 5x5 stride-2 convolutions 16-32-64, a dense layer "
                    "of 256, latent 32; decoder dense to 4x4x32 then transposed convolutions "
                    "32-16-8 and a 5x5 convolution to RGB; adversary with the same "
                    "convolutions on x and 2x256 MLPs. Gaussian pixels with a learned "
                    "per-pixel scale; AVB+AC at 2e-4 and 4e-4, batch 64.",
        dataset="folder", data_shape=(32, 32, 3), latent_dim=32,
        hidden_units=(256,), adversary_units=(256, 256), inner_dim=256, noise_dim=32,
        conv_filters=(16, 32, 64), decoder_filters=(32, 16, 8), num_basis=16,
        learning_rate=2e-4, adversary_learning_rate=4e-4, batch_size=64, epochs=20,
        likelihood={"class_name": "avb_keras>Gaussian", "config": {"initial_scale": 0.1}}),
}


def get(name):
    """The `Preset` called `name`; an unknown name lists the valid ones."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; architecture presets are {sorted(PRESETS)}, "
                         f"pretrained presets {pretrained.names()}, or give a folder written by "
                         "save_to_preset.")
    return PRESETS[name]


def list_presets():
    """Every preset `from_preset` accepts by name, architectures first, then pretrained models.

    Returns:
      {name: {"kind": "architecture" | "pretrained", "model", "description", "data",
      "test_metric", ...}}: for an architecture, the models it configures and the
      dataset it is made for (`test_metric` None); for a pretrained preset, its class,
      the data it was trained on and its test metric from its model card
      (`avb_keras.pretrained`).
    """
    listing = {name: {"kind": "architecture", "model": "AVB, AAE, VAE",
                      "latent_dim": preset.latent_dim, "description": preset.description,
                      "data": preset.dataset, "test_metric": None}
               for name, preset in PRESETS.items()}
    listing.update({name: pretrained.describe(name) for name in pretrained.names()})
    return listing


def learning_rates(preset_name):
    """{optimizer name: preset `preset_name`'s Adam rate for that player}."""
    preset = get(preset_name)
    return {"optimizer": preset.learning_rate,
            "adversary_optimizer": preset.adversary_learning_rate}


def configured(name, latent_dim=None, data_shape=None, adversary_width=None):
    """The `Preset` called `name`, with its latent size, data shape or adversary's width
    replaced if given.

    Args:
      latent_dim: a positive integer; None keeps the preset's.
      data_shape: (H, W, C) of positive integers, e.g. for a folder of images at
        another size (convolutional presets need H and W divisible by
        2 ** len(decoder_filters)); None keeps the preset's.
      adversary_width: a positive factor on the adversary's listed dense widths
        (`adversary_units` and `inner_dim`; see `Preset.adversary_widths`); None keeps
        the preset's factor.
    """
    preset = get(name)
    changes = {}
    if latent_dim is not None:
        changes["latent_dim"] = positive_int(latent_dim, "latent_dim")
    if data_shape is not None:
        changes["data_shape"] = positive_ints(data_shape, "data_shape")
    if adversary_width is not None:
        if (isinstance(adversary_width, bool) or not isinstance(adversary_width, (int, float))
                or not adversary_width > 0):
            raise ValueError(f"adversary_width must be a positive factor on the adversary's "
                             f"widths, e.g. 0.5; got {adversary_width!r}.")
        changes["adversary_width"] = float(adversary_width)
    return dataclasses.replace(preset, **changes)


def steps_per_execution(most, *periods):
    """The largest n <= `most` that divides every one of `periods`.

    Keras's fit runs n steps per call of its train function and calls the
    batch callbacks once per call. With n dividing the steps per epoch an epoch
    ends at exactly its last step, and with n dividing the monitor's period
    (--log-every) the monitor writes at exactly the steps it would with n = 1.
    """
    return max(n for n in range(1, max(1, int(most)) + 1) if all(p % n == 0 for p in periods))
