"""What a generator may ask for: role styles, registers, tones and forms, each with its instruction.

The bundled ``scenegraph/resources/seeds/defaults.yaml`` (``seeds/defaults.yaml`` in a checkout)
is the default; a user file of the same shape adds entries or replaces them by name, and may add
``prices`` (US dollars per million tokens, by model; the bundled ones are replaced by name) for
the ``--dry-run`` cost estimate and the ``--max-cost`` spend cap::

    styles:
      - {name: моряк, aliases: [sailor], instruction: "Говори как старый моряк… / sailor: …"}
    prices:
      gpt-4o-mini: {input: 0.15, output: 0.60}

A voice's ``aliases`` are other spellings of its name: ``pick`` takes them for the name, and
the bundled file's aliases are the vocabulary loading maps corpus labels with
(``corpus/vocabulary.py``, which reads the same file); its ``labels`` section names canonical
labels no generator offers.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from os import PathLike
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigError
from ..llm.cost import Price

DEFAULTS_FILE = files("scenegraph") / "resources" / "seeds" / "defaults.yaml"
DIMENSIONS = ("styles", "registers", "tones", "forms")


class Voice(BaseModel):
    """One named choice (a style, register, tone or form) and the line the prompt says about it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    instruction: str
    aliases: tuple[str, ...] = ()


class Label(BaseModel):
    """A canonical corpus label no generator offers (no instruction), with its aliases."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    aliases: tuple[str, ...] = ()


class GenerationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    styles: list[Voice] = []
    registers: list[Voice] = []
    tones: list[Voice] = []
    forms: list[Voice] = []
    prices: dict[str, Price] = {}
    labels: dict[str, list[Label]] = {}  # dimension ("styles"…) -> labels without a voice

    def voices(self, dimension: str) -> dict[str, Voice]:
        return {voice.name: voice for voice in getattr(self, dimension)}

    def pick(self, dimension: str, names: list[str] | None) -> list[Voice]:
        """The named voices of a dimension in the order given (all of them for ``["all"]``)."""
        known = self.voices(dimension)
        if names == ["all"]:
            return list(known.values())
        spelled = {alias: voice for voice in known.values() for alias in voice.aliases}
        spelled.update(known)
        unknown = [name for name in names or [] if name not in spelled]
        if unknown:
            raise ConfigError(
                f"unknown {dimension[:-1]} {', '.join(map(repr, unknown))}: "
                f"choose from {', '.join(known)} (or add it to your --config file)"
            )
        return list({spelled[name].name: spelled[name] for name in names or []}.values())

    def price(self, model: str) -> Price:
        """The price of ``model``; a ``ConfigError`` saying how to add one when there is none."""
        if model not in self.prices:
            raise ConfigError(
                f"no price for model {model!r}: add `prices: {{{model}: {{input: USD, output: "
                "USD}}` (US dollars per million tokens) to a --config file"
            )
        return self.prices[model]

    def merged(self, override: GenerationConfig) -> GenerationConfig:
        """This config with the override's entries added or replacing same-named ones."""
        data = {
            dim: list({**self.voices(dim), **override.voices(dim)}.values()) for dim in DIMENSIONS
        }
        labels = {
            dim: list(
                {
                    label.name: label
                    for label in [*self.labels.get(dim, []), *override.labels.get(dim, [])]
                }.values()
            )
            for dim in dict.fromkeys([*self.labels, *override.labels])
        }
        return GenerationConfig(**data, prices={**self.prices, **override.prices}, labels=labels)


def read_config(path: str | Path | Traversable) -> GenerationConfig:
    """One config file; a bad one raises ``ConfigError`` naming the file and the field."""
    if isinstance(path, (str, PathLike)):
        path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return GenerationConfig.model_validate(data)
    except OSError as exc:
        raise ConfigError(f"cannot read generation config {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    except ValidationError as exc:
        where = ", ".join(".".join(map(str, e["loc"])) + f": {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {where}") from exc


def load_config(user_file: str | Path | None = None) -> GenerationConfig:
    """The bundled defaults, overridden by ``user_file`` when given."""
    config = read_config(DEFAULTS_FILE)
    return config.merged(read_config(user_file)) if user_file else config
