"""The models: one file a method; the shared pieces in `players`, `base` and `adversarial`."""

from avb_keras.models.aae import AAE
from avb_keras.models.adversarial import AdversarialGame, AdversarialLatentModel
from avb_keras.models.adversarial_vi import AdversarialVI
from avb_keras.models.avb import AVB
from avb_keras.models.base import LatentVariableModel
from avb_keras.models.players import PlayerModel
from avb_keras.models.vae import VAE

__all__ = ["AAE", "AVB", "AdversarialGame", "AdversarialLatentModel", "AdversarialVI",
           "LatentVariableModel", "PlayerModel", "VAE"]
