"""Tiny models of every class, exported once per test session for the export and serving tests."""

import atexit
import shutil
import tempfile
from pathlib import Path

from conftest import tiny_aae, tiny_avb, tiny_vae

from avb_keras.export import export_decoder, export_encoder

#: name -> (builder, outputs of `encode`)
MODELS = {
    "vae": (lambda: tiny_vae(latent_dim=3), {"z", "z_mean", "z_std"}),
    "avb_ac_implicit": (lambda: tiny_avb(latent_dim=3), {"z", "z_mean", "z_std"}),
    "avb_ac_moment": (lambda: tiny_avb(latent_dim=3, encoder_type="moment"),
                      {"z", "z_mean", "z_std"}),
    "avb_plain": (lambda: tiny_avb(latent_dim=3, adaptive_contrast=False),
                  {"z", "z_mean", "z_std"}),
    "aae": (lambda: tiny_aae(latent_dim=3), {"z", "z_mean", "z_std"}),
}

_EXPORTED = {}


def export_all():
    """{name: (model, decoder version dir, encoder version dir)}, built and exported once."""
    if not _EXPORTED:
        base = Path(tempfile.mkdtemp(prefix="avb_keras_export_test_"))
        atexit.register(shutil.rmtree, base, ignore_errors=True)
        for name, (build, _) in MODELS.items():
            model = build()
            _EXPORTED[name] = (model, export_decoder(model, base / name / "decoder"),
                               export_encoder(model, base / name / "encoder"))
    return _EXPORTED
