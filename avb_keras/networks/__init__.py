"""Networks: Keras layers and models only, no training logic.

Encoders map x to samples of q(z|x) (and, for some, its moments), decoders map
z to the parameters of p(x|z), and adversaries map (x, z) to the logit T(x, z).
"""

from avb_keras.networks.adversaries import (ConcatAdversary, InnerProductAdversary,
                                            LatentAdversary)
from avb_keras.networks.decoders import conv_decoder, mlp_decoder
from avb_keras.networks.encoders import (gaussian_encoder, implicit_encoder, moment_encoder,
                                         noise_sampler)
from avb_keras.networks.layers import MomentSampler, StandardNormalNoise

__all__ = [
    "ConcatAdversary",
    "InnerProductAdversary",
    "LatentAdversary",
    "MomentSampler",
    "StandardNormalNoise",
    "conv_decoder",
    "gaussian_encoder",
    "implicit_encoder",
    "mlp_decoder",
    "moment_encoder",
    "noise_sampler",
]
