"""Every public constructor and function that takes a count refuses a bad one, by name.

A count is checked, never coerced (`avb_keras.checks`): 0, 1.5, -1, True and "3"
are each a ValueError or TypeError whose message names the argument, where
`int(x)` or `int(x or default)` would quietly have changed them.
"""

import re

import numpy as np
from conftest import TINY_SHAPE, binary_images, tiny_avb, tiny_vae

from avb_keras import (AAE, AVB, VAE, AdversarialVI, callbacks, datasets, evaluation, flops,
                       networks, presets, priors)
from avb_keras.callbacks.images import scatter_image
from avb_keras.datasets import folder, four_frames
from avb_keras.evaluation.quadrature import latent_grid
from avb_keras.export import export_decoder
from avb_keras.export.metrics import served_reconstruction
from avb_keras.networks.layers import MomentSampler, StandardNormalNoise

BAD = [0, 1.5, -1, True, "3"]

#: What the calls share, built once by the `tiny` fixture: every call below fails at
#: its check, before anything is built from them.
T = {}


def _avb(**kwargs):
    avb = T["avb"]
    return AVB(avb.encoder, avb.decoder, avb.adversary, **kwargs)


def _aae(**kwargs):
    avb = T["avb"]
    return AAE(avb.encoder, avb.decoder, T["latent_adversary"], **kwargs)


def _vi(**kwargs):
    return AdversarialVI(T["sampler"], T["latent_adversary"], **kwargs)


def _ais(**kwargs):
    return evaluation.ais_log_likelihood(T["vae"], T["x"], **kwargs)


CALLS = {
    # Models.
    "AVB.from_preset latent_dim": lambda v: AVB.from_preset("four_frames", latent_dim=v),
    "VAE.from_preset latent_dim": lambda v: VAE.from_preset("four_frames", latent_dim=v),
    "AAE.from_preset latent_dim": lambda v: AAE.from_preset("four_frames", latent_dim=v),
    "presets.configured data_shape": lambda v: presets.configured("four_frames",
                                                                  data_shape=(2, v, 1)),
    "AVB adversary_steps": lambda v: _avb(adversary_steps=v),
    "AVB moment_samples": lambda v: _avb(moment_samples=v),
    "AAE adversary_steps": lambda v: _aae(adversary_steps=v),
    "AdversarialVI batch_size": lambda v: _vi(batch_size=v),
    "AdversarialVI adversary_steps": lambda v: _vi(adversary_steps=v),
    "AdversarialVI.for_target dim": lambda v: AdversarialVI.for_target(
        lambda z: -z[:, 0] ** 2, dim=v),
    "AdversarialVI.for_target noise_dim": lambda v: AdversarialVI.for_target(
        lambda z: -z[:, 0] ** 2, dim=2, noise_dim=v, hidden_units=(4,), adversary_units=(4,)),
    "AdversarialVI.sample n": lambda v: _vi().sample(v),
    "sample n": lambda v: T["avb"].sample(v),
    "moment_matched_gaussian num_samples": lambda v: T["avb"].moment_matched_gaussian(
        T["x"], num_samples=v),
    # Networks and layers.
    "implicit_encoder latent_dim": lambda v: networks.implicit_encoder(TINY_SHAPE, v),
    "implicit_encoder noise_dim": lambda v: networks.implicit_encoder(TINY_SHAPE, 2,
                                                                      noise_dim=v),
    "implicit_encoder hidden_units": lambda v: networks.implicit_encoder(
        TINY_SHAPE, 2, hidden_units=(4, v)),
    "moment_encoder latent_dim": lambda v: networks.moment_encoder(TINY_SHAPE, v),
    "moment_encoder num_basis": lambda v: networks.moment_encoder(TINY_SHAPE, 2, num_basis=v),
    "gaussian_encoder latent_dim": lambda v: networks.gaussian_encoder(TINY_SHAPE, v),
    "gaussian_encoder data_shape": lambda v: networks.gaussian_encoder((4, v, 1), 2),
    "noise_sampler dim": lambda v: networks.noise_sampler(v),
    "noise_sampler noise_dim": lambda v: networks.noise_sampler(2, noise_dim=v),
    "mlp_decoder latent_dim": lambda v: networks.mlp_decoder(v, TINY_SHAPE),
    "mlp_decoder hidden_units": lambda v: networks.mlp_decoder(2, TINY_SHAPE,
                                                               hidden_units=(v,)),
    "conv_decoder latent_dim": lambda v: networks.conv_decoder(v, TINY_SHAPE,
                                                               conv_filters=(2,)),
    "conv_decoder data_shape": lambda v: networks.conv_decoder(2, (4, v, 1),
                                                               conv_filters=(2,)),
    "conv_decoder conv_filters": lambda v: networks.conv_decoder(2, TINY_SHAPE,
                                                                 conv_filters=(v,)),
    "InnerProductAdversary inner_dim": lambda v: networks.InnerProductAdversary(inner_dim=v),
    "InnerProductAdversary hidden_units": lambda v: networks.InnerProductAdversary(
        hidden_units=(v,)),
    "InnerProductAdversary conv_filters": lambda v: networks.InnerProductAdversary(
        conv_filters=(v,)),
    "LatentAdversary hidden_units": lambda v: networks.LatentAdversary(hidden_units=(v,)),
    "StandardNormalNoise dim": lambda v: StandardNormalNoise(v),
    "MomentSampler num_basis": lambda v: MomentSampler(v, 2),
    "MomentSampler latent_dim": lambda v: MomentSampler(2, v),
    "MomentSampler noise_dim": lambda v: MomentSampler(2, 2, noise_dim=v),
    "priors.standard_normal latent_dim": lambda v: priors.standard_normal(v),
    # Evaluation, data and callbacks.
    "ais_log_likelihood num_chains": lambda v: _ais(num_chains=v),
    "ais_log_likelihood num_steps": lambda v: _ais(num_steps=v),
    "ais_log_likelihood leapfrog_steps": lambda v: _ais(leapfrog_steps=v),
    "evaluate_log_likelihood batch_size": lambda v: evaluation.evaluate_log_likelihood(
        T["vae"], T["x"], batch_size=v),
    "annealing_schedule num_steps": lambda v: evaluation.annealing_schedule(v),
    "latent_grid grid_size": lambda v: latent_grid(v),
    "quadrature_log_likelihood chunk": lambda v: evaluation.quadrature_log_likelihood(
        T["vae"], T["x"], chunk=v),
    "linear_gaussian latent_dim": lambda v: evaluation.linear_gaussian(latent_dim=v),
    "linear_gaussian data_dim": lambda v: evaluation.linear_gaussian(data_dim=v),
    "linear_gaussian num_examples": lambda v: evaluation.linear_gaussian(num_examples=v),
    "graph_flops batch_size": lambda v: flops.graph_flops(T["vae"], v),
    "served_reconstruction batch_size": lambda v: served_reconstruction(
        T["folder"], T["folder"], T["x"], batch_size=v),
    "iwae_bound num_samples": lambda v: evaluation.iwae_bound(T["vae"], T["x"], v),
    "kl_lower_bound num_samples": lambda v: evaluation.kl_lower_bound(T["vae"], T["x"], v),
    "datasets.load batch_size": lambda v: datasets.load("four_frames", batch_size=v),
    "datasets.load num_examples": lambda v: datasets.load("four_frames", num_examples=v),
    "four_frames.arrays num_examples": lambda v: four_frames.arrays("train", num_examples=v),
    "folder.image_size_of image_size": lambda v: folder.image_size_of((4, v)),
    "TrainingMonitor log_every": lambda v: callbacks.TrainingMonitor(
        T["folder"], T["x"], log_every=v),
    "TrainingMonitor batch_size": lambda v: callbacks.TrainingMonitor(
        T["folder"], T["x"], batch_size=v),
    "KLBoundCheck num_samples": lambda v: callbacks.KLBoundCheck(T["x"], num_samples=v),
    "KLBoundCheck batch_size": lambda v: callbacks.KLBoundCheck(T["x"], batch_size=v),
    "ImagePanels num_samples": lambda v: callbacks.ImagePanels(
        T["folder"], T["x"], num_samples=v),
    "ImagePanels num_reconstructions": lambda v: callbacks.ImagePanels(
        T["folder"], T["x"], num_reconstructions=v),
    "ImagePanels num_points": lambda v: callbacks.ImagePanels(
        T["folder"], T["x"], num_points=v),
    "ImagePanels samples_per_point": lambda v: callbacks.ImagePanels(
        T["folder"], T["x"], samples_per_point=v),
    "ImagePanels size": lambda v: callbacks.ImagePanels(T["folder"], T["x"], size=v),
    "scatter_image size": lambda v: scatter_image(np.zeros((2, 2)), [0, 1], 4.0, size=v),
    "scatter_image dot": lambda v: scatter_image(np.zeros((2, 2)), [0, 1], 4.0, dot=v),
    "EmbeddingProjector every_n_epochs": lambda v: callbacks.EmbeddingProjector(
        T["folder"], T["x"], np.zeros(2, "int64"), every_n_epochs=v),
    "monitoring_callbacks log_every": lambda v: callbacks.monitoring_callbacks(
        T["folder"], T["x"], log_every=v),
    "EmbeddingProjector batch_size": lambda v: callbacks.EmbeddingProjector(
        T["folder"], T["x"], np.zeros(2, "int64"), batch_size=v),
}

#: Counts that may be 0: counts of things done before (adaptation passes, versions).
NON_NEGATIVE = {
    "ais_log_likelihood adaptation_chains": lambda v: _ais(adaptation_chains=v),
    "export_decoder version": lambda v: export_decoder(T["vae"], T["folder"] / "decoder",
                                                       version=v),
}


def test_every_count_refuses_a_bad_value_by_name(tmp_path):
    """One test, not one per case: each test's set-up (conftest) costs more than all
    the calls, which fail at their checks."""
    T.update(avb=tiny_avb(), vae=tiny_vae(), x=binary_images(2),
             sampler=networks.noise_sampler(2, hidden_units=(4,)),
             latent_adversary=networks.LatentAdversary((4,)), folder=tmp_path)
    unrefused = []
    try:
        for case, call in {**CALLS, **NON_NEGATIVE}.items():
            argument = case.split()[-1]
            for value in [v for v in BAD if not (case in NON_NEGATIVE and v == 0)]:
                try:
                    call(value)
                except (ValueError, TypeError) as error:
                    if not re.search(rf"\b{re.escape(argument)}\b", str(error)):
                        unrefused.append(f"{case}={value!r}: {error}")
                else:
                    unrefused.append(f"{case}={value!r}: accepted")
    finally:
        T.clear()
    assert not unrefused, "\n".join(unrefused)
