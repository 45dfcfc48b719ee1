"""The model card of a TF Serving base directory: model_card.json (the source) and MODEL_CARD.md.

    BASE_DIR/1/, BASE_DIR/2/, ...           the versions (`savedmodel`)
    BASE_DIR/model_card.json                {"name": ..., "versions": {"1": {...}, ...}}
    BASE_DIR/MODEL_CARD.md                  rendered from the JSON on every write

Each export adds its version's entry (`describe`: the model, its signatures,
example requests, plus what the caller knows: data, training budget, test
metrics, command); `update_model_card` merges later facts (e.g. metrics measured
on the SavedModel) into an existing entry. Both files are written atomically.
"""

import datetime
import json
import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf

from avb_keras.atomic import write_text
from avb_keras.export.requests import read_signature_defs
from avb_keras.models.adversarial import ADVERSARY_METRICS

CARD_JSON = "model_card.json"
CARD_MD = "MODEL_CARD.md"


def card_from_run(summary):
    """Model card fields from an `avb-keras train` run's metrics.json."""
    if not summary:
        return {}
    return {
        "data": f"{summary['dataset']} (train split; model.evaluate on its test split)",
        "training_budget": (f"{summary['epochs']} epochs, batch {summary['batch_size']}, "
                            f"seed {summary['seed']}, {summary['train_seconds']} s of training"),
        "test_metrics": {"keras_evaluate": test_metrics(summary)},
        **({"kl": reported_kl(summary)}
           if is_adversarial(summary) and summary.get("kl_lower_bound") else {}),
        "command": summary.get("command"),
    }


def is_adversarial(summary):
    """Whether a run's KL (and so its ELBO) is an adversary's estimate rather than exact:
    its model reported the adversary's metrics."""
    return any(name in summary["test"] for name in ADVERSARY_METRICS)


def test_metrics(summary):
    """A run's `model.evaluate` metrics, with an adversary's "kl" and "elbo" named as such
    ("adversary_kl", "adversary_elbo"): a card reports the KL of `reported_kl`."""
    test = dict(summary["test"])
    if is_adversarial(summary):
        for name in ("kl", "elbo"):
            if name in test:
                test["adversary_" + name] = test.pop(name)
    return test


def reported_kl(summary):
    """The KL a card reports for an adversarial model: never below its adversary-free bound.

    For any density r, KL(q(z|x) || p(z)) >= B = E_q[log r(z|x) - log p(z)]
    (`evaluation.kl_lower_bound`, with r the full Gaussian fitted to other draws). An
    adversary's estimate T below B is known to be too low, so the card reports

        kl = max(T, B),    elbo = elbo_T - max(0, B - T),

    with T and B the means over the same first test images (metrics.json's
    "kl_lower_bound") and elbo_T the adversary's ELBO from `model.evaluate`.
    """
    bound = summary["kl_lower_bound"]
    adversary, lower = bound["model_kl_mean"], bound["mean"]
    shortfall = max(0.0, lower - adversary)
    return {"value": round(max(adversary, lower), 4),
            "source": "adversary" if shortfall == 0 else "adversary-free lower bound",
            "elbo": round(summary["test"]["elbo"] - shortfall, 4),
            "adversary_kl": round(adversary, 4), "lower_bound": round(lower, 4),
            "lower_bound_standard_error": round(bound["standard_error"], 4),
            "examples": bound["num_examples"], "samples": bound["num_samples"]}


def describe(model, kind, version_dir, card=None):
    """The model card entry of one exported version (a JSON-serializable dict)."""
    config = model.get_config()
    info = {
        "servable": kind,
        "model_class": type(model).__name__,
        "adaptive_contrast": config.get("adaptive_contrast"),
        "moment_estimator": (config.get("moment_estimator")
                             if config.get("adaptive_contrast") else None),
        "encoder_type": model.encoder_type,
        "preset": model.preset,
        "latent_dim": model.latent_dim,
        "data_shape": list(model.data_shape),
        "likelihood": type(model.likelihood).__name__,
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "size_bytes": sum(p.stat().st_size for p in Path(version_dir).rglob("*") if p.is_file()),
        "signatures": signature_summary(version_dir),
        "example_requests": example_requests(model, kind),
    }
    info.update(card or {})
    return info


def signature_summary(version_dir):
    """{signature: {"inputs": {name: [dtype, shape]}, "outputs": {...}}} from saved_model.pb."""
    summary = {}
    for key, sig in sorted(read_signature_defs(version_dir).items()):
        summary[key] = {
            part: {name: [tf.as_dtype(info.dtype).name,
                          [d.size for d in info.tensor_shape.dim]]
                   for name, info in sorted(getattr(sig, part).items())}
            for part in ("inputs", "outputs")}
    return summary


def example_requests(model, kind):
    """REST bodies for POST /v1/models/NAME:predict (what the card and README show)."""
    if kind == "decoder":
        return {
            "serving_default": {"signature_name": "serving_default",
                                "instances": [[0.0] * model.latent_dim]},
            "sample": {"signature_name": "sample", "inputs": {"num_samples": 4, "seed": 0}},
        }
    shape = model.data_shape
    blank = np.zeros(shape, "float32").tolist()
    return {"encode": {"signature_name": "encode", "inputs": {"x": [blank], "seed": 0}}}


def write_model_card(base_dir, version, info):
    """Adds `info` as version `version` to BASE_DIR/model_card.json and MODEL_CARD.md."""
    base_dir = Path(base_dir)
    path = base_dir / CARD_JSON
    # Zoo layout NAME/decoder, NAME/encoder: the card names both parts.
    name = (f"{base_dir.resolve().parent.name}/{base_dir.name}"
            if base_dir.name in ("decoder", "encoder") else base_dir.name)
    card = json.loads(path.read_text()) if path.exists() else {"name": name}
    card.setdefault("versions", {})[str(version)] = info
    card["versions"] = dict(sorted(card["versions"].items(), key=lambda kv: int(kv[0])))
    write_text(path, json.dumps(card, indent=2) + "\n")
    write_text(base_dir / CARD_MD, render_model_card(card))


def update_model_card(base_dir, version, updates):
    """Merges `updates` into the card entry of an existing version (e.g. its test metrics)."""
    card = json.loads((Path(base_dir) / CARD_JSON).read_text())
    info = card["versions"][str(version)]
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(info.get(key), dict):
            info[key] = {**info[key], **value}
        else:
            info[key] = value
    write_model_card(base_dir, version, info)


def remove_versions(base_dir, keep):
    """Deletes every version folder of BASE_DIR but `keep`, and their card entries
    (the card first: it never names a version that is gone)."""
    base_dir = Path(base_dir)
    card = json.loads((base_dir / CARD_JSON).read_text())
    card["versions"] = {v: info for v, info in card["versions"].items() if v == str(keep)}
    write_text(base_dir / CARD_JSON, json.dumps(card, indent=2) + "\n")
    write_text(base_dir / CARD_MD, render_model_card(card))
    for folder in base_dir.iterdir():
        if folder.is_dir() and folder.name.isdigit() and folder.name != str(keep):
            shutil.rmtree(folder)


def render_model_card(card):
    """MODEL_CARD.md from the card's JSON (the JSON is the source of truth)."""
    lines = [f"# Model card: {card['name']}", "",
             "TensorFlow Serving layout: one integer folder per version (tag `serve`); "
             "this card is regenerated from `model_card.json` on every export.", ""]
    for version, info in reversed(list(card["versions"].items())):
        lines += [f"## Version {version}", ""]
        for key in ("servable", "model_class", "adaptive_contrast", "encoder_type",
                    "moment_estimator", "preset", "latent_dim", "data_shape", "likelihood",
                    "data", "training_budget", "exported", "size_bytes", "training_command",
                    "export_command"):
            if info.get(key) is not None:
                lines.append(f"- **{key}**: {info[key]}")
        if info.get("test_metrics"):
            lines += ["", "### Test metrics", ""]
            for name, value in info["test_metrics"].items():
                lines.append(f"- {name}: {json.dumps(value)}")
        if info.get("kl"):
            kl = info["kl"]
            lines += ["", "### KL(q(z|x) || p(z)) and ELBO (nats)", "",
                      f"- **kl**: {kl['value']} (from the {kl['source']}); **elbo**: {kl['elbo']}",
                      f"- the adversary's KL {kl['adversary_kl']}, its adversary-free lower "
                      f"bound {kl['lower_bound']} +- {kl['lower_bound_standard_error']} "
                      f"(first {kl['examples']} test images); the card reports the larger"]
        if info.get("notes"):
            lines += ["", "### Notes", "", info["notes"]]
        if info.get("command"):
            lines += ["", "### Command that produced it", "", "```bash", info["command"], "```"]
        lines += ["", "### Signatures (method `tensorflow/serving/predict`)", "",
                  "| signature | inputs | outputs |", "|---|---|---|"]
        for name, sig in info["signatures"].items():
            fmt = lambda part: ", ".join(  # noqa: E731
                f"`{n}` {d} {s}" for n, (d, s) in part.items())
            lines.append(f"| `{name}` | {fmt(sig['inputs'])} | {fmt(sig['outputs'])} |")
        lines += ["", "### Example requests (REST, `POST /v1/models/NAME:predict`)", ""]
        for name, body in info["example_requests"].items():
            text = json.dumps(body)
            if len(text) > 300:
                text = text[:300] + " ...  (x: one all-zero image)"
            lines += [f"- `{name}`: `{text}`"]
        lines.append("")
    return "\n".join(lines)
