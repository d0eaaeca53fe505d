"""Errors that scenegraph raises on purpose.

Every message says what went wrong and what to do next; the CLI prints it on one line per
problem and exits non-zero. Anything that is not a ``SceneGraphError`` is a bug and keeps its
traceback.

    SceneGraphError
    ├── CorpusError            bad input file: each problem names file, line and field
    ├── StoreError             the graph store failed
    │   ├── StoreUnavailable   server down, wrong credentials, missing database, lock held
    │   └── ReadOnlyViolation  a write statement sent to a read-only query path
    ├── ConfigError            bad option, unknown name, missing key in the environment
    ├── VectorIndexError       vector index missing, stale, or built with another model
    └── ProviderError          an LLM or embedding endpoint failed for good
"""

from __future__ import annotations


class SceneGraphError(Exception):
    """Root of every error scenegraph raises on purpose."""


class CorpusError(SceneGraphError):
    """One or more problems in corpus files; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class StoreError(SceneGraphError):
    """The graph store refused or failed an operation."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or opened."""


class ReadOnlyViolation(StoreError):
    """A statement that writes was sent where only reads are allowed."""


class ConfigError(SceneGraphError):
    """A setting, option or name is wrong."""


class VectorIndexError(SceneGraphError):
    """The vector index is missing, stale, or was built with another model."""


class ProviderError(SceneGraphError):
    """A model endpoint failed after all retries."""
