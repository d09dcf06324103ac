"""What a shot list amounts to: setups, takes, files and shooting time."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from capture_assist.shotlist.matrix import TakeMatrix
from capture_assist.shotlist.model import ShotList


@dataclass(frozen=True, slots=True)
class ShotListSummary:
    """Counts and an estimate of the shooting time."""

    project_id: str
    setups: int
    takes: int
    skipped_takes: int
    files_per_camera: tuple[tuple[str, int], ...]
    reference_frames: int
    estimated_shooting_s: float

    def render(self) -> str:
        """Return a short human-readable summary."""
        hours, rest = divmod(round(self.estimated_shooting_s), 3600)
        minutes = rest // 60
        lines = [
            f"project {self.project_id}: OK",
            f"  setups            {self.setups} (each opens with a reference frame)",
            f"  takes             {self.takes} ({self.skipped_takes} skipped by rules)",
        ]
        for camera, count in self.files_per_camera:
            lines.append(f"  files {camera:<11} {count} takes + {self.reference_frames} reference")
        lines.append(f"  shooting time     about {hours} h {minutes:02d} min")
        return "\n".join(lines)


def summarise(shotlist: ShotList, matrix: TakeMatrix) -> ShotListSummary:
    """Summarise ``matrix``; the estimate adds each take's action, overhead and setup changes."""
    durations = {action.id: action.expected_duration_s for action in shotlist.actions}
    files: Counter[str] = Counter()
    for take in matrix.takes:
        files.update(file.camera_id for file in take.files)
    timing = shotlist.timing
    estimate = sum(durations[take.action] + timing.take_overhead_s for take in matrix.takes)
    estimate += len(matrix.setups) * timing.reference_frame_s
    estimate += max(len(matrix.setups) - 1, 0) * timing.setup_change_s
    return ShotListSummary(
        project_id=shotlist.project.id,
        setups=len(matrix.setups),
        takes=len(matrix.takes),
        skipped_takes=matrix.skipped,
        files_per_camera=tuple((camera.id, files[camera.id]) for camera in shotlist.cameras),
        reference_frames=len(matrix.setups),
        estimated_shooting_s=estimate,
    )
