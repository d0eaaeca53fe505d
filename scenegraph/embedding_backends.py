"""The backends a sentence-transformers model can run on, apart from the code that runs them,
so the CLI can offer them without importing numpy or the model libraries.

``torch`` is sentence-transformers' own ``encode``; ``onnx`` the same model exported to ONNX and
run by ONNX Runtime; ``onnx-int8`` that export dynamically quantised (see ``embedding_onnx``).
"""

from __future__ import annotations

from typing import Literal, get_args

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)
# The fastest backend that keeps the quality bar of bench/embed.py (mean cosine to torch's
# vectors >= 0.99, neighbour recall@10 >= 0.97). On 2 cores onnx-int8 misses the recall bar
# and onnx is not faster than torch, so torch stays (README, Performance).
DEFAULT_BACKEND: Backend = "torch"
