"""`avb-keras export`: a trained model's decoder or encoder as a TF Serving SavedModel."""

import sys

from avb_keras.export import model_card, savedmodel


def export(args):
    """Writes the next (or --version) version under --out with its model card; returns 0."""
    model, summary = savedmodel.load_trained(args.model_path)
    write = savedmodel.export_encoder if args.encoder else savedmodel.export_decoder
    card = model_card.card_from_run(summary)
    card["export_command"] = "avb-keras " + " ".join(sys.argv[1:])
    path = write(model, args.out, version=args.version, card=card)
    print(f"Exported the {'encoder' if args.encoder else 'decoder'} of "
          f"{type(model).__name__} (latent {model.latent_dim}) to {path}; "
          f"check it with: saved_model_cli show --dir {path} --all")
    return 0
