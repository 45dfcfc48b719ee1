"""`avb-keras presets`: every preset `from_preset` accepts by name, as a table.

Architecture presets (fresh weights) first, then the pretrained models that ship
with the package (as `avb_keras.list_presets()`). `--markdown` prints the table the
README's "Model zoo" section holds.

Loads no TensorFlow: the architectures are read from the `PRESETS` dict in the
source of `avb_keras/presets.py` (its `Preset(...)` entries are literals, so the
file stays the one place they are written), the pretrained ones from their JSON
files (`avb_keras.pretrained`). tests/test_cli_start_up.py checks that this gives
what `avb_keras.list_presets()` gives.
"""

import ast
import functools
from pathlib import Path

COLUMNS = ("name", "kind", "model", "latent", "data", "test metric", "size")
PRESETS_SOURCE = Path(__file__).resolve().parents[1] / "presets.py"
#: The fields of an architecture's `list_presets()` entry read from its `Preset(...)`.
FIELDS = ("latent_dim", "description", "dataset")


def presets(args):
    """Prints the table of presets; returns 0."""
    rows = [row(name, entry) for name, entry in list_presets().items()]
    print(markdown(rows) if args.markdown else plain(rows))
    return 0


def list_presets():
    """`avb_keras.list_presets()`, without importing TensorFlow."""
    from avb_keras import pretrained

    listing = {name: {"kind": "architecture", "model": "AVB, AAE, VAE",
                      "latent_dim": fields["latent_dim"], "description": fields["description"],
                      "data": fields["dataset"], "test_metric": None}
               for name, fields in architectures().items()}
    listing.update({name: pretrained.describe(name) for name in pretrained.names()})
    return listing


def architecture_names():
    """The names of the architecture presets, in the order presets.py gives them."""
    return tuple(architectures())


@functools.cache
def architectures():
    """{name: {latent_dim, description, dataset}} of each `Preset(...)` in PRESETS."""
    tree = ast.parse(PRESETS_SOURCE.read_text(encoding="utf-8"))
    table = next(node.value for node in ast.walk(tree)
                 if isinstance(node, (ast.Assign, ast.AnnAssign))
                 and getattr(_target(node), "id", None) == "PRESETS")
    return {ast.literal_eval(key): _fields(call) for key, call in zip(table.keys, table.values)}


def _target(node):
    return node.targets[0] if isinstance(node, ast.Assign) else node.target


def _fields(call):
    given = {k.arg: k.value for k in call.keywords}
    return {name: ast.literal_eval(given[name]) if name in given else "" for name in FIELDS}


def row(name, entry):
    """The table's cells for one `list_presets()` entry."""
    size = entry.get("size_bytes")
    return (name, entry["kind"], entry["model"], str(entry.get("latent_dim") or ""),
            entry["data"].split(":")[0], metric_text(entry["test_metric"]),
            f"{size / 2**20:.1f} MiB" if size else "")


def metric_text(test_metric):
    """One line for a pretrained preset's test metric (nats); empty for an architecture."""
    if not test_metric:
        return ""
    if "ais" in test_metric:
        # AIS is a stochastic lower bound, tight only once more temperatures stop moving it.
        ais = test_metric["ais"]
        converged = ais.get("converged", True)
        return (f"log p(x) {'=' if converged else '>='} {ais['value']:.2f} +/- "
                f"{ais['standard_error']:.2f} (AIS, {ais['examples']} MNIST test images"
                f"{'' if converged else ', not converged'})")
    metric = test_metric["reproducible"]
    if metric["name"] == "log_likelihood":
        return f"log p(x) = {metric['value']:.4f} (exact, by quadrature)"
    return f"-log p(x|z) = {metric['value']:.2f} ({metric['data'].split(' (')[0]})"


def markdown(rows):
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_code(cells)) + " |" for cells in rows]
    return "\n".join(lines)


def _code(cells):
    return (f"`{cells[0]}`",) + tuple(c.replace("|", "\\|") for c in cells[1:])


def plain(rows):
    widths = [max(len(r[i]) for r in rows + [COLUMNS]) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
                     for cells in [COLUMNS] + rows)
