"""Export for TensorFlow Serving: SavedModels in its layout, and an offline request check.

- `savedmodel`: `export_decoder`, `export_encoder` (atomic versions), `load_trained`.
- `model_card`: model_card.json and MODEL_CARD.md beside the versions.
- `requests`: `OfflineServer` (PredictRequest / REST JSON -> signature -> response),
  `make_predict_request`, `read_signature_defs`.
"""

from avb_keras.export.requests import (BadRequest, OfflineServer, make_predict_request,
                                       read_signature_defs, version_dir)
from avb_keras.export.savedmodel import (export_decoder, export_encoder, next_version,
                                         reseed, seed_generators, versions)

__all__ = ["BadRequest", "OfflineServer", "export_decoder", "export_encoder",
           "make_predict_request", "next_version", "read_signature_defs", "reseed",
           "seed_generators", "version_dir", "versions"]
