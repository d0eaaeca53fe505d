"""The checks one expression answers alone, against its scene: rule 1 (*lived, not
explained*) and the structural half of rule 3 (*no redundancy*).

Both read the text for markers, in Russian and English, and turn what they find into
penalties (see ``RuleResult.of_penalties``): an explicit comment on the scene ("в этой сцене…",
"this scene depicts…", "the agent is…", "Сцена инверсии: …") or a field listing fails at once;
a softer sign of analysis ("metaphor", "a sense of tension") costs half. Restating the scene's
structure means naming most of its components, ``key: value`` listings, the scene's id or
hyperlexeme, or the expression's own style/register labels.

Notation forms (symbolic, formula, colour) are not asked to be lived, and may name a component
or two — that is how a sign line works — but not restate them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..models import Expression, Scene
from ..text import nfc
from .options import Thresholds
from .results import RuleResult
from .words import NOTATION_FORMS, PROSE_FORMS, WORDED_FORMS, fold, mentions, words


@dataclass(frozen=True)
class Marker:
    pattern: re.Pattern[str]
    weight: float
    code: str
    says: str  # what it found, for the reason


def _markers(weight: float, code: str, says: str, *patterns: str) -> list[Marker]:
    return [
        Marker(re.compile(p, re.IGNORECASE | re.MULTILINE), weight, code, says) for p in patterns
    ]


STRUCTURE_KEYS = (
    r"agent|field|act|tone|meta|archetypes?|components?|scene|style|register|form|"
    r"target|hyperlexemes?|агент|поле|действие|акт|тон|мета|архетипы?|компоненты?|"
    r"сцена|стиль|регистр|форма|цель|гиперлексем[аы]"
)
FIELD_LISTING = re.compile(rf"(?<!\w)(?:{STRUCTURE_KEYS})\s*[:=]|\{{\s*\"\w+\"\s*:", re.IGNORECASE)

# Texts are folded first (lower case, ё → е), so patterns are written that way.
COMMENTARY = [
    *_markers(
        1.0,
        "commentary",
        "talks about the scene instead of living it",
        r"\b(в|на) (этой|данной|нашей) сцене\b",
        r"\b(эта|данная) сцена\b",
        r"\bсцен[аыеу] (изображает|показывает|описывает|передает|выражает|рассказывает|"
        r"отражает|посвящена|о том|про|представляет|демонстрирует)",
        r"^\W*сцена\b[^.!?\n]{0,60}:",
        r"\b(здесь|тут) (изображен|показан|описан|передан|представлен)",
        r"\bречь (идет|пойдет) о\b",
        r"\b(in|on) this scene\b",
        r"\bthis scene\b",
        r"\bthe scene (depicts|shows|describes|portrays|captures|conveys|represents|"
        r"is about|evokes|illustrates|expresses)",
        r"^\W*scene\b[^.!?\n]{0,60}:",
    ),
    *_markers(
        1.0,
        "commentary",
        "explains what the scene stands for",
        r"\b(символизиру|олицетворя|иллюстриру)\w*",
        r"\b(жест|цвет|звук|символ|образ) означает\b",
        r"\bэто (метафора|символ|образ|аллегория|архетип)\b",
        r"\bпереда(ет|ют) (ощущение|чувство|состояние|атмосферу|настроение|идею|смысл)",
        r"\b(выражение|реплика|фраза|строка|текст) (передает|выражает|описывает|показывает|"
        r"означает|говорит о)",
        r"\b(depicts?|depicting|portrays?|portraying|symboli[sz](es|ed|ing|e)|represents|"
        r"illustrates|personifies|embodies|allegor\w*)\b",
        r"\b(is|as) an? (metaphor|symbol|image|allegory) (for|of)\b",
        r"\b(conveys|evokes|creates|captures|expresses) (a|the) (sense|feeling|mood|"
        r"atmosphere|idea|notion) of\b",
        r"\b(this|the) (expression|replica|phrase|line|sentence|text) (conveys|expresses|"
        r"describes|shows|captures|means)\b",
    ),
    *_markers(
        1.0,
        "commentary",
        "speaks about the agent or the reader, not from the scene",
        r"\b(агент|персонаж|протагонист)\w{0,3}( сцены)? (—|-|это|является|представля|"
        r"испытыва|ощуща|чувству)",
        r"\bгеро(й|я|ю)( сцены)? (является|представляет|символизирует|олицетворяет|"
        r"испытывает)",
        r"\b(мы видим|перед нами)\b",
        r"\b(читател|зрител)(ь|я|ю|ем|е|и)\b",
        r"\bавтор(а|у|ом|е)?\b",
        r"\bthe (agent|character|protagonist)\b",
        r"\bthe subject (is|of the scene)\b",
        r"\b(we see|the reader|the viewer|the author|the narrator)\b",
    ),
    *_markers(
        1.0,
        "commentary",
        "names the scene's parts as terms",
        r"\b(архетип|гиперлексем)\w*",
        r"\b(поле|тон|акт|агент) сцены\b",
        r"\b(archetyp|hyperlexem)\w*",
        r"\bthe (field|tone|act) (is|of the scene)\b",
    ),
    *_markers(
        0.5,
        "analysis",
        "analyses instead of showing",
        r"\bметафор\w*",
        r"\bсимвол(ом|ами|ы)?\b",
        r"\b(ощущение|чувство|состояние) (тревоги|напряжения|перехода|порога|восторга|"
        r"печали|утраты|ожидания)\b",
        r"\bmetaphor\w*",
        r"\bsymbol(s|ic|ism)?\b",
        r"\ba (sense|feeling|state) of (anxiety|tension|transition|threshold|longing|loss|"
        r"wonder|anticipation)\b",
    ),
]

KEY_VALUE = re.compile(r"(?<!\w)[^\W\d_][\w\- ]{0,24}\s*[:=]\s*\S")
SCENE_ID = re.compile(r"Δ\s?\d")


def check_lived(expr: Expression, thresholds: Thresholds) -> RuleResult:
    """Rule 1: the expression lives the scene; commentary about it fails."""
    if expr.form not in WORDED_FORMS:
        return RuleResult.skipped(f"not asked of the {expr.form} form")
    original = nfc(expr.text)
    text = fold(original)
    penalties, seen = [], set()
    if FIELD_LISTING.search(expr.text):
        penalties.append(("field-listing", 1.0, "lists the scene's fields instead of living it"))
    for marker in COMMENTARY:
        if (match := marker.pattern.search(text)) and match.group(0) not in seen:
            seen.add(match.group(0))
            quoted = (
                original[match.start() : match.end()]
                if len(original) == len(text)
                else match.group(0)
            )
            penalties.append((marker.code, marker.weight, f"{marker.says} («{quoted.strip()}»)"))
    return RuleResult.of_penalties(penalties, thresholds.lived_min)


def check_structure(expr: Expression, scenes: list[Scene], thresholds: Thresholds) -> RuleResult:
    """Rule 3, first half: the expression evokes the scene without restating its structure."""
    copied = copied_components(expr, scenes)
    penalties = [
        *_copy_penalty(expr, copied, len(_component_names(scenes)), thresholds),
        *_listings(expr),
        *_names_the_scene(expr, scenes),
        *_voice_labels(expr),
    ]
    return RuleResult.of_penalties(penalties, thresholds.structure_min, copied=copied)


def _component_names(scenes: list[Scene]) -> list[str]:
    return sorted({c.name for scene in scenes for c in scene.components})


def copied_components(expr: Expression, scenes: list[Scene]) -> list[str]:
    """The scene's component names the text repeats, in any inflection."""
    text_words = words(expr.text)
    return [name for name in _component_names(scenes) if mentions(text_words, name)]


def _copy_penalty(
    expr: Expression, copied: list[str], total: int, thresholds: Thresholds
) -> list[tuple[str, float, str]]:
    """Naming one component is speech; naming most of them restates the scene. Notation forms
    fail only when they name every one."""
    if len(copied) < 2:
        return []
    share = len(copied) / total
    enough = len(copied) >= thresholds.copy_min_names
    restates = enough and (
        share >= 1.0 if expr.form in NOTATION_FORMS else share >= thresholds.copy_max_share
    )
    reason = f"names {len(copied)} of the scene's {total} components ({', '.join(copied)})"
    return (
        [("copies-components", 1.0, reason)]
        if restates
        else [("components", round(0.5 * share, 3), reason)]
    )


def _listings(expr: Expression) -> list[tuple[str, float, str]]:
    if FIELD_LISTING.search(expr.text):
        return [("key-value", 1.0, "restates the structure as key: value fields")]
    if expr.form in PROSE_FORMS and len(KEY_VALUE.findall(expr.text)) >= 2:
        return [("key-value", 1.0, "is a key: value listing")]
    return []


def _names_the_scene(expr: Expression, scenes: list[Scene]) -> list[tuple[str, float, str]]:
    text = fold(expr.text)
    fused = [
        h
        for scene in scenes
        for h in scene.hyperlexemes
        if not SCENE_ID.search(h) and fold(h) in text
    ]
    if SCENE_ID.search(expr.text) or fused:
        return [("scene-id", 0.6, "names the scene by its id or hyperlexeme")]
    return []


def _voice_labels(expr: Expression) -> list[tuple[str, float, str]]:
    """The expression's own style/register/tone/target used as a label: «поэт · poetry →»."""
    text = fold(expr.text)
    for name in filter(None, (expr.style, expr.register, expr.tone, expr.target)):
        label = re.escape(fold(name))
        if re.search(rf"(?<!\w){label}(?!\w)\s*[:·|)\]→]|[·|(\[→]\s*{label}(?!\w)", text):
            return [("voice-labels", 0.6, f"carries its own voice label «{name}»")]
    return []
