"""FLOP counts of a training step: per layer by hand, and the 3x rule against the graph."""

import keras
import numpy as np
import pytest
from conftest import TINY_SHAPE, tiny_aae, tiny_avb, tiny_vae

from avb_keras import AVB, VAE, flops, networks
from avb_keras.networks.layers import MomentSampler


def built(layer, input_shape):
    layer.build(input_shape)
    return layer


def test_layer_flops_by_hand():
    assert flops.layer_flops(built(keras.layers.Dense(512), (None, 784))) == 2 * 784 * 512
    # 'same' stride 2: 28x28 -> 14x14 outputs, each a 5x5x1 window for 32 filters.
    conv = built(keras.layers.Conv2D(32, 5, strides=2, padding="same"), (None, 28, 28, 1))
    assert flops.layer_flops(conv) == 2 * 5 * 5 * 1 * 32 * 14 * 14
    # Transposed: every one of the 7x7 inputs scatters a 5x5x64 -> 32 window.
    up = built(keras.layers.Conv2DTranspose(32, 5, strides=2, padding="same"), (None, 7, 7, 64))
    assert flops.layer_flops(up) == 2 * 5 * 5 * 64 * 32 * 7 * 7
    sampler = built(MomentSampler(num_basis=16, latent_dim=8, hidden_units=(64,)),
                    [(None, 8), (None, 16, 8)])
    assert flops.layer_flops(sampler) == 2 * 16 * (8 * 64 + 64 * 8)
    assert flops.layer_flops(keras.layers.Activation("elu")) == 0


def test_vae_step_executes_exactly_the_counted_matrix_work():
    """Tiny VAE: encoder 16 -> 8 -> (2, 2), decoder 2 -> 8 -> 16.

    Forward E = 2 (16*8 + 8*2 + 8*2) = 320, D = 2 (2*8 + 8*16) = 288; the 3x rule
    gives 3 (E + D) = 1824, and the executed step lacks only the input gradient
    of the layer reading x: 2 * 16 * 8 = 256.
    """
    model = tiny_vae()
    model.compile()
    assert flops.network_flops(model.encoder) == 320
    assert flops.network_flops(model.decoder) == 288
    assert flops.train_step_flops(model) == 1824
    assert flops.graph_flops(model, batch_size=64) == 1824 - 256
    assert flops.graph_flops(model, batch_size=7) == 1824 - 256  # per example


@pytest.mark.parametrize("make, low, high", [
    (tiny_avb, 1.0, 1.3),
    (lambda: tiny_avb(encoder_type="moment"), 1.0, 1.3),
    (lambda: tiny_avb(adaptive_contrast=False), 1.0, 1.3),
    (lambda: tiny_avb(adversary_steps=3), 1.0, 1.3),
    (tiny_aae, 1.0, 1.3),
    # The rate limit's gradient of T's mean logit adds a third overcounted input gradient
    # of the adversary's first layer, which is most of this tiny adversary (1.33 measured).
    (lambda: tiny_avb(adaptive_contrast=False, adversary=networks.ConcatAdversary((8,))),
     1.0, 1.4),
    # MNIST-sized: the input-gradient overcount is a few per cent of the work.
    (lambda: VAE.from_preset("mnist_mlp"), 1.0, 1.12),
    # Full AC's adversary, a quarter as wide, is a smaller share of the work, its input
    # gradient of x (784 x 128) a larger one: 1.105 measured (1.08 held at full width).
    (lambda: AVB.from_preset("mnist_mlp"), 1.0, 1.12),
    (lambda: AVB.from_preset("mnist_mlp", adaptive_contrast=False), 1.0, 1.08),
], ids=["avb_mc", "avb_moment", "avb_plain", "avb_3_steps", "aae", "avb_concat", "mlp_vae",
         "mlp_avb_ac",
        "mlp_avb"])
def test_three_x_rule_bounds_the_executed_work(make, low, high):
    """The 3x rule counts each layer's input gradient, which layers reading data
    or noise skip, so it may only overcount, and by little on real networks."""
    model = make()
    model.compile()
    ratio = flops.train_step_flops(model) / flops.graph_flops(model, batch_size=32)
    assert low <= ratio <= high


def test_monte_carlo_moments_add_k_encoder_passes():
    """K draws apart from z: K + 1 encoder passes per step."""
    with_k = {}
    for k in (2, 6):
        model = tiny_avb(moment_samples=k)
        model.compile()
        with_k[k] = flops.graph_flops(model, batch_size=16)
    encoder = flops.network_flops(model.encoder)
    assert with_k[6] - with_k[2] == pytest.approx(4 * encoder)


def test_unknown_models_are_refused():
    with pytest.raises(TypeError, match="expected a VAE, AVB or AAE"):
        flops.train_step_flops(keras.Sequential([keras.Input(TINY_SHAPE)]))


def test_concat_adversary_is_one_dense_layer_on_the_pair():
    """T(x, z) = w_2 relu(W [x; z] + b) + b_2, its x-block run once for S latents."""
    adversary = networks.ConcatAdversary(hidden_units=(5,))
    rng = np.random.default_rng(0)
    x = rng.random((3,) + TINY_SHAPE).astype("float32")
    z = rng.normal(size=(2, 3, 2)).astype("float32")  # S = 2 latents per x
    t = np.asarray(adversary((x, z)))
    kernel = np.concatenate([np.asarray(adversary.x_block.kernel),
                             np.asarray(adversary.z_block.kernel)])
    pair = np.concatenate([np.broadcast_to(x.reshape(1, 3, -1), (2, 3, 16)), z], axis=-1)
    hidden = np.maximum(pair @ kernel + np.asarray(adversary.z_block.bias), 0.0)
    expected = (hidden @ np.asarray(adversary.logit.kernel))[..., 0] + np.asarray(
        adversary.logit.bias)[0]
    np.testing.assert_allclose(t, expected, rtol=1e-5, atol=1e-6)
    x_flops, z_flops = flops.adversary_flops(adversary)
    assert (x_flops, z_flops) == (2 * 16 * 5, 2 * (2 * 5 + 5 * 1))
