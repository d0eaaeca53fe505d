"""A synthetic corpus of realistic shape, seeded and reproducible.

Scene records (the 6.5.3 shape) in JSONL, one fractal tree per line: sub-scenes nested up to
depth 4, 3–5 components, 1–3 archetypes, a fused hyperlexeme per scene, `leads_to` chains
between trees, Russian and English text (about one tree in five English).

    python bench/synth.py OUT.jsonl --scenes 100000 [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

RU = {
    "agent": ["тело", "ребёнок", "старик", "рука", "голос", "женщина", "птица", "путник", "мастер"],
    "field": ["тишина", "море", "город", "лес", "ночь", "порог", "огонь", "снег", "дом", "поле"],
    "act": ["шаг", "вдох", "касание", "падение", "ожидание", "взгляд", "вход", "поворот", "крик"],
    "tone": ["внутренний жар", "тревога", "покой", "нежность", "печаль", "ясность", "восторг"],
}
EN = {
    "agent": ["body", "child", "old man", "hand", "voice", "woman", "bird", "wanderer", "maker"],
    "field": ["silence", "sea", "city", "forest", "night", "threshold", "fire", "snow", "home"],
    "act": ["step", "breath", "touch", "fall", "waiting", "glance", "entry", "turn", "cry"],
    "tone": ["inner heat", "anxiety", "calm", "tenderness", "sorrow", "clarity", "delight"],
}
ARCHETYPES = ["переход", "порог", "инициация", "возвращение", "утрата", "встреча", "замирание",
              "превращение", "поиск", "прощание", "threshold", "return", "loss", "passage"]
MAX_DEPTH = 4


def scene(rng: random.Random, scene_id: str, lang: str, depth: int, budget: list[int]) -> dict:
    words = RU if lang == "ru" else EN
    kinds = ["agent", "field", "act", "tone"] + rng.sample(["agent", "field", "act", "tone"],
                                                           rng.randint(0, 1))
    components: dict[str, list[str]] = {}
    for kind in kinds:
        name = rng.choice(words[kind])
        if name not in components.setdefault(kind, []):
            components[kind].append(name)
    names = [n for kind in ("field", "act", "tone") for n in components.get(kind, [])]
    record = {
        "id": scene_id, "lang": lang,
        "title": " ".join(names[:2]),
        "text": _sentence(rng, components, lang),
        "components": {k: v[0] if len(v) == 1 else v for k, v in components.items()},
        "archetypes": rng.sample(ARCHETYPES, rng.randint(1, 3)),
        "hyperlexemes": ["".join(n.replace(" ", "") for n in names[:rng.randint(2, 3)])],
    }
    budget[0] -= 1
    parts = []
    if depth < MAX_DEPTH:
        for index in range(rng.choice([0, 0, 1, 1, 2, 3])):
            if budget[0] <= 0:
                break
            parts.append(scene(rng, f"{scene_id}.{index + 1}", lang, depth + 1, budget))
    if parts:
        record["parts"] = parts
    return record


def _sentence(rng: random.Random, components: dict[str, list[str]], lang: str) -> str:
    agent, field = components.get("agent", ["—"])[0], components.get("field", ["—"])[0]
    act, tone = components.get("act", ["—"])[0], components.get("tone", ["—"])[0]
    if lang == "ru":
        return rng.choice([f"{agent.capitalize()} замирает: {field}, {act}, и {tone}.",
                           f"Там, где {field}, {agent} делает {act} — {tone}."])
    return rng.choice([f"The {agent} pauses: {field}, a {act}, and {tone}.",
                       f"Where the {field} is, the {agent} makes a {act} — {tone}."])


def write_corpus(path: Path, scenes: int, seed: int = 1) -> int:
    """Write about ``scenes`` scenes (exactly, counting sub-scenes); returns the tree count."""
    rng = random.Random(seed)
    budget, trees, previous = [scenes], 0, None
    with path.open("w", encoding="utf-8") as out:
        while budget[0] > 0:
            tree_id = f"Δ{trees}"
            record = scene(rng, tree_id, "en" if rng.random() < 0.2 else "ru", 0, budget)
            if previous is not None and rng.random() < 0.5:
                record["leads_to"] = [previous]  # chains of trees: Δn → Δn-1 → …
            previous = tree_id
            trees += 1
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return trees


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--scenes", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    trees = write_corpus(args.out, args.scenes, args.seed)
    print(f"{args.scenes} scenes in {trees} trees → {args.out}")


if __name__ == "__main__":
    main()
