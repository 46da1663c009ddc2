"""What an ingest run did: filled in by the run (files, nodes, time) and by its
committer (what landed), printed by the CLI.

Its own module so that the run and the committer both import it and neither imports
the other (``run`` drives ``commit``, one way).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class IngestSummary:
    """What a run did. ``new`` samples landed; ``already_present`` were in the lake
    before; ``duplicates`` repeated another item's bytes within this run."""

    run_id: str
    source: str
    files: int = 0
    new: int = 0
    already_present: int = 0
    duplicates: int = 0
    weak_labelled: int = 0
    ambiguous: int = 0
    mime_mismatch: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    quarantine_new: int = 0
    sidecars_skipped: int = 0
    nodes: Counter[str] = field(default_factory=Counter)  # files inspected per Ray node
    seconds: float = 0.0
    snapshots: dict[str, int | None] = field(default_factory=dict)

    def lines(self) -> list[str]:
        q = ", ".join(f"{r} {n}" for r, n in sorted(self.quarantined.items())) or "none"
        return [
            f"ingest {self.source}: {self.files} files in {self.seconds:.1f}s",
            f"  new samples      {self.new} ({self.weak_labelled} weak-labelled, "
            f"{self.ambiguous} ambiguous, {self.mime_mismatch} type/extension mismatch)",
            f"  already present  {self.already_present} (+{self.duplicates} duplicate bytes in this run)",
            f"  quarantined      {sum(self.quarantined.values())} ({q}; {self.quarantine_new} newly recorded)",
            f"  sidecar files    {self.sidecars_skipped} skipped (manifests, taxonomies, notes)",
        ]
