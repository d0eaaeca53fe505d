"""Splits: near-duplicate scenes share a split, every style with enough groups reaches every
split, warnings name the styles that cannot, and no scene or tree crosses splits."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import pytest

from scenegraph.export import ExportOptions, export_dataset
from scenegraph.export.selection import near_duplicates, plan_selection
from scenegraph.export.splits import SplitAssigner, check_leakage, near_duplicates_apart
from scenegraph.graph.ladybug import LadybugStore
from scenegraph.load import load_corpus

RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}
STYLES = ["поэт", "тело", "философ", "инженер"]


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b)


# -- near-duplicates ----------------------------------------------------------------------


def test_near_duplicates_are_the_pairs_at_or_above_the_threshold():
    base = frozenset({"agent:woman", "field:cold room", "act:warming", "tone:tenderness",
                      "archetype:home"})
    signatures = {
        "a": base,
        "b": base,  # identical
        "c": base | {"archetype:solitude"},  # one part more: 5/6
        "d": (base - {"field:cold room"}) | {"field:sea"},  # one part swapped: 4/6
        "e": frozenset(),  # nothing to compare
        "f": frozenset(),
    }
    assert near_duplicates(signatures) == [("a", "b"), ("a", "c")]


def test_near_duplicates_match_comparing_every_pair():
    rng = random.Random(7)
    vocabulary = [f"agent:{n}" for n in range(4)] + [f"archetype:{n}" for n in range(5)]
    signatures = {f"s{i:03}": frozenset(rng.sample(vocabulary, rng.randint(1, 8)))
                  for i in range(300)}
    found = set(near_duplicates(signatures))
    # Identical signatures are paired with the first scene of the signature only, so compare
    # the pairs' signatures: every near pair of distinct signatures, and every repeat.
    by_signature = defaultdict(list)
    for sid in sorted(signatures):
        by_signature[signatures[sid]].append(sid)
    expected = {(ids[0], other) for ids in by_signature.values() for other in ids[1:]}
    for a, b in combinations(by_signature, 2):
        if jaccard(a, b) >= 0.8:
            expected.add(tuple(sorted((by_signature[a][0], by_signature[b][0]))))
    assert found == expected
    assert any(signatures[a] != signatures[b] for a, b in found)


# -- corpora ------------------------------------------------------------------------------


def scene(sid: str, index: int, styles: list[str], parts: list[dict] | None = None) -> dict:
    """A scene with its own components (so no two are alike) and one expression per style."""
    record = {"id": sid, "title": f"сцена {sid}",
              "components": {"agent": f"агент{index}", "field": f"поле{index}",
                             "act": f"действие{index % 5}"},
              "archetypes": [f"архетип{index % 3}"],
              "expressions": [{"text": f"{sid}: {style} говорит", "style": style}
                              for style in styles]}
    if parts:
        record["parts"] = parts
    return record


def load(folder: Path, scenes: list[dict]) -> LadybugStore:
    path = folder / "corpus.json"
    path.write_text(json.dumps({"scenes": scenes}, ensure_ascii=False), encoding="utf-8")
    store = LadybugStore(folder / "store")
    load_corpus(store, [path])
    return store


@pytest.fixture(scope="module")
def twins_store(tmp_path_factory):
    """40 trees of two scenes; the roots of T3 and T17 are near-identical (one archetype
    more in T17), and one rare style has expressions in exactly three trees."""
    trees = []
    for t in range(40):
        styles = [STYLES[t % 4], STYLES[(t + 1) % 4]] + (["ребёнок"] if t in (4, 11, 25) else [])
        trees.append(scene(f"T{t}", t, styles, [scene(f"T{t}.1", 100 + t, STYLES[:2])]))
    trees[17]["components"] = dict(trees[3]["components"])
    trees[17]["archetypes"] = [*trees[3]["archetypes"], "одиночество"]
    store = load(tmp_path_factory.mktemp("twins"), trees)
    yield store
    store.close()


def test_near_identical_scenes_in_different_trees_share_a_split_for_every_seed(twins_store):
    plan = plan_selection(twins_store, ExportOptions())
    assert plan.near_duplicates == [("T17", "T3")]
    assert plan.root_of["T3"] != plan.root_of["T17"]
    assert plan.group_of["T3"] == plan.group_of["T17"] == plan.group_of["T17.1"]
    for seed in range(40):
        splits = SplitAssigner(RATIOS, plan.styles, seed)
        assert near_duplicates_apart(plan.near_duplicates, plan.group_of, splits.split_of) == []
        assert splits.split_of[plan.group_of["T3"]] == splits.split_of[plan.group_of["T17"]]


def test_written_files_keep_near_duplicates_together(twins_store, tmp_path):
    for seed in range(3):
        manifest = export_dataset(twins_store, tmp_path / str(seed), ExportOptions(
            formats=["records"], seed=seed))
        split_of = {}
        for entry in manifest.outputs:
            for line in (tmp_path / str(seed) / entry.path).read_text("utf-8").splitlines():
                record = json.loads(line)
                split_of.setdefault(record.get("id") or record["scene"], entry.split)
        assert split_of["T3"] == split_of["T17"], seed
        assert manifest.leakage.scenes_in_several_splits == 0
        assert manifest.leakage.trees_in_several_splits == 0


def test_every_style_with_enough_groups_is_in_every_split_for_every_seed(twins_store):
    plan = plan_selection(twins_store, ExportOptions())
    assert sum(n for styles in plan.styles.values() for n in styles.values()) == 40 * 4 + 3
    for seed in range(40):
        splits = SplitAssigner(RATIOS, plan.styles, seed)
        for split in RATIOS:
            assert splits.present[split] == {*STYLES, "ребёнок"}, (seed, split)
        assert splits.warnings == []
        scenes_by_split = defaultdict(set)
        for sid in plan.scene_ids:
            scenes_by_split[splits.split_of[plan.group_of[sid]]].add(sid)
        leakage = check_leakage(scenes_by_split, plan.root_of)
        assert leakage.scenes_in_several_splits == leakage.trees_in_several_splits == 0
        assert leakage.checked_scenes == 80


def test_assignment_is_the_same_for_a_seed_and_follows_the_ratios():
    rng = random.Random(3)
    groups = {f"g{i:03}": Counter({rng.choice(STYLES): rng.randint(1, 9)}) for i in range(400)}
    first = SplitAssigner(RATIOS, groups, seed=5).split_of
    assert first == SplitAssigner(RATIOS, dict(reversed(groups.items())), seed=5).split_of
    assert first != SplitAssigner(RATIOS, groups, seed=6).split_of
    weight = Counter()
    for group, split in first.items():
        weight[split] += sum(groups[group].values())
    total = sum(weight.values())
    for split, ratio in RATIOS.items():
        assert abs(weight[split] / total - ratio) < 0.02, (split, weight)


def test_styles_with_too_few_groups_reach_train_first_and_are_named():
    groups = {f"g{i:02}": Counter({"поэт": 5}) for i in range(30)}
    groups["g03"]["тело"] = 1
    groups["g07"]["тело"] = 2
    groups["g09"]["инженер"] = 1
    splits = SplitAssigner(RATIOS, groups, seed=0)
    assert splits.split_of["g09"] == "train"
    assert {splits.split_of["g03"], splits.split_of["g07"]} == {"train", "validation"}
    assert splits.warnings == [
        "style 'инженер' is not in validation, test: its expressions are in 1 group(s) of "
        "scenes (fewer than the splits)",
        "style 'тело' is not in test: its expressions are in 2 group(s) of scenes "
        "(fewer than the splits)",
    ]


def test_chains_of_near_duplicates_do_not_swallow_a_split(tmp_path):
    """60 one-scene trees with the same content: merging them all would make one group."""
    store = load(tmp_path, [scene(f"S{t:02}", 0, [STYLES[t % 4]]) for t in range(60)])
    try:
        plan = plan_selection(store, ExportOptions())
    finally:
        store.close()
    assert len(plan.near_duplicates) == 59
    sizes = Counter(plan.group_of.values())
    assert max(sizes.values()) == 3  # 5% of 60 scenes
    splits = SplitAssigner(RATIOS, plan.styles, seed=0)
    assert set(splits.split_of.values()) == set(RATIOS)
    apart = near_duplicates_apart(plan.near_duplicates, plan.group_of, splits.split_of)
    assert apart and all(splits.split_of[plan.group_of[a]] != splits.split_of[plan.group_of[b]]
                         for a, b in apart)
