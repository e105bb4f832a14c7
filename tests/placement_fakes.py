"""An in-memory placement map store with the ConfigMap's compare-and-swap (unit tests)."""

from __future__ import annotations

from components.placement import Placement, parse_placement, placement_json
from components.placement_store import PlacementStore, StoredPlacement


class MemoryPlacementStore(PlacementStore):
    """Keeps the stored text and a version counter; a write at a stale version loses."""

    def __init__(self, entries: dict[str, int] | None = None, shards: int = 3) -> None:
        super().__init__(lambda: None, "guacamole", "prod")
        self.text: str | None = None
        self.version = 0
        self.writes = 0
        self.lose_next = 0
        """Writes to refuse as if another writer had got there first."""
        if entries is not None:
            self.text = placement_json(Placement(entries), shards)
            self.version = 1

    def read(self) -> StoredPlacement:
        if self.text is None:
            return StoredPlacement(Placement(), None)
        return StoredPlacement(parse_placement(self.text, self.where), str(self.version))

    def write(self, placement: Placement, shards: int, resource_version: str | None) -> bool:
        current = None if self.text is None else str(self.version)
        if self.lose_next > 0:
            self.lose_next -= 1
            self.version += 1
            return False
        if resource_version != current:
            return False
        self.text = placement_json(placement, shards)
        self.version += 1
        self.writes += 1
        return True

    @property
    def placement(self) -> Placement:
        return self.read().placement
