"""Merging an NPC's preferences: routine defaults → the NPC's own → the session's override (later wins).

Each source is validated on its own (so an error names the source's JSON path); merging then works key by key:
the weight maps and trait modifiers merge entry by entry, everything else is replaced whole. Only keys a source
actually sets take part, so an override of one category weight keeps all the others.
"""

from __future__ import annotations

from typing import Any

from pixsim_hooks.backend.behavior._config import Preferences
from pixsim_hooks.plugin import FrozenDict, freeze

__all__ = ["merge_preferences", "preferences_json"]

_MERGED_BY_ENTRY = frozenset({"activity_weights", "category_weights", "trait_modifiers"})


def merge_preferences(*sources: Preferences | None) -> Preferences:
    merged: dict[str, Any] = {}
    for source in sources:
        if source is None:
            continue
        for key, value in source.model_dump(exclude_unset=True).items():
            if key in _MERGED_BY_ENTRY and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **_set_entries(source, key, value)}
            else:
                merged[key] = _set_entries(source, key, value)
    return Preferences.model_validate(merged)


def _set_entries(source: Preferences, key: str, value: Any) -> Any:
    # Trait modifiers left unset in a source must not overwrite another source's values with None.
    if key == "trait_modifiers":
        return source.trait_modifiers.model_dump(exclude_unset=True)
    return value


def preferences_json(preferences: Preferences) -> FrozenDict:
    """The merged preferences as plugins see them (``NpcView.preferences``): camelCase JSON, read-only."""
    frozen: FrozenDict = freeze(preferences.model_dump(mode="json", by_alias=True, exclude_unset=True))
    return frozen
