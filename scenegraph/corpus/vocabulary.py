"""One vocabulary of style, register and tone labels: canonical names and their aliases.

Corpora name one voice many ways (``poet`` and ``поэт``, the adjective ``поэтический``), and
every spelling would otherwise become a style of its own: a dataset per spelling under
``--by-style``, a role split across twins. The bundled generation defaults
(``resources/seeds/defaults.yaml``) name the canonical voices and list each one's ``aliases``;
its ``labels`` section adds canonical labels a corpus may carry that no generator offers.
Loading maps an alias to its canonical name before an expression's id is computed, so ids use
the canonical name, and keeps the spelling as given in the expression's provenance.

The corpus layer sits below ``generation/``, so it reads the same file itself, once per
process (``vocabulary`` is cached): a label costs one or two dict lookups at load.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable

import yaml
from pydantic import BaseModel, ConfigDict

from ..text import nfc

# The generation defaults; generation/config.py reads the same file for its instructions.
VOCABULARY_FILE = files("scenegraph") / "resources" / "seeds" / "defaults.yaml"
# Expression field -> the section of the file that names its labels.
DIMENSIONS: dict[str, str] = {"style": "styles", "register": "registers", "tone": "tones"}


class Term(BaseModel):
    """A canonical label and the other spellings that mean it (the instruction is not read)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    aliases: tuple[str, ...] = ()


class VocabularyFile(BaseModel):
    """The parts of the defaults file the vocabulary reads."""

    model_config = ConfigDict(extra="ignore")

    styles: list[Term] = []
    registers: list[Term] = []
    tones: list[Term] = []
    labels: dict[str, list[Term]] = {}  # section -> canonical labels no generator offers


def _key(label: str) -> str:
    """How a label is matched: NFC, trimmed, case-folded (``Poet`` is ``poet``)."""
    return nfc(label).strip().casefold()


class Vocabulary:
    """Alias -> canonical name for each dimension (style, register, tone)."""

    def __init__(self, data: VocabularyFile):
        self.canonical: dict[str, dict[str, str]] = {}
        for field, section in DIMENSIONS.items():
            table: dict[str, str] = {}
            for term in [*getattr(data, section), *data.labels.get(section, [])]:
                for spelling in (term.name, *term.aliases):
                    table.setdefault(spelling, term.name)
                    table.setdefault(_key(spelling), term.name)
            self.canonical[field] = table

    def resolve(self, field: str, label: str) -> str | None:
        """The canonical name of a label, or None when the vocabulary does not know it."""
        table = self.canonical[field]
        found = table.get(label)
        return found if found is not None else table.get(_key(label))

    def names(self, field: str) -> set[str]:
        """The canonical names of a dimension."""
        return set(self.canonical[field].values())


def read_vocabulary(path: Traversable = VOCABULARY_FILE) -> Vocabulary:
    """The vocabulary of a defaults-shaped YAML file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return Vocabulary(VocabularyFile.model_validate(data))


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """The bundled vocabulary, read once per process."""
    return read_vocabulary()
