"""`avb-keras presets`: every preset `from_preset` accepts by name, as a table.

Architecture presets (fresh weights) first, then the pretrained models that ship
with the package (`avb_keras.list_presets()`). `--markdown` prints the table the
README's "Model zoo" section holds.
"""

from avb_keras.presets import list_presets

COLUMNS = ("name", "kind", "model", "latent", "data", "test metric", "size")


def presets(args):
    """Prints the table of presets; returns 0."""
    rows = [row(name, entry) for name, entry in list_presets().items()]
    print(markdown(rows) if args.markdown else plain(rows))
    return 0


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
