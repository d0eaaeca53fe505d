"""Export subgraphs as training sets for adapter fine-tuning tools.

    from scenegraph.export import ExportOptions, export_dataset
    manifest = export_dataset(store, "out/dataset",
                              ExportOptions(directions=["forward", "reverse"]))

One module per concern: ``selection`` (which scenes, read in chunks), ``rows`` (directions),
``formats`` (one writer per format), ``splits`` (seeded, grouped by fractal tree),
``manifest`` (manifest, dataset card, LLaMA-Factory registry), ``pipeline`` (the whole run).
"""

from .manifest import Manifest
from .options import DIRECTIONS, FORMATS, ExportOptions
from .pipeline import export_dataset

__all__ = ["DIRECTIONS", "FORMATS", "ExportOptions", "Manifest", "export_dataset"]
