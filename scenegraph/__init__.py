"""scenegraph: a fractal graph of scenes, turned into training data for LoRA/QLoRA adapters."""

__version__ = "0.1.0"
