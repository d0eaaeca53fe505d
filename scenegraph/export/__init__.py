"""Export subgraphs as training sets for adapter fine-tuning tools.

    from scenegraph.export import ExportOptions, export_dataset
    manifest = export_dataset(store, "out/dataset",
                              ExportOptions(directions=["forward", "reverse"]))

One module per concern: ``selection`` (which scenes, read in chunks), ``rows`` (directions),
``formats`` (one writer per format), ``splits`` (seeded, grouped by fractal tree),
``manifest`` (manifest, dataset card, LLaMA-Factory registry), ``pipeline`` (the whole run).
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes
from .manifest import Manifest
from .options import DIRECTIONS, FORMATS, ExportOptions

if TYPE_CHECKING:
    from .pipeline import export_dataset

# The pipeline (and the writers under it) loads on first use: the options stay cheap to import.
__getattr__ = lazy_attributes(__name__, {"export_dataset": ".pipeline"})

__all__ = ["DIRECTIONS", "FORMATS", "ExportOptions", "Manifest", "export_dataset"]
