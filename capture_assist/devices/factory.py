"""Turn a shot list's camera entries into devices."""

from __future__ import annotations

from collections.abc import Mapping

from capture_assist.clock import SessionClock
from capture_assist.devices.base import DeviceError, StillCamera
from capture_assist.devices.simulated import SceneControls, SimulatedCamera
from capture_assist.shotlist.model import Camera, ShotList, SimSource


def open_camera(
    camera: Camera,
    clock: SessionClock,
    *,
    sim_controls: SceneControls | None = None,
    force_simulated: bool = False,
) -> StillCamera:
    """Return the device for one camera entry (not yet opened).

    Raises
    ------
    DeviceError
        When the entry names hardware this build cannot drive.
    """
    if isinstance(camera.source, SimSource) or force_simulated:
        seed = camera.source.seed if isinstance(camera.source, SimSource) else 0
        width, height = camera.records.resolution
        return SimulatedCamera(
            camera.id,
            width=width,
            height=height,
            fps=camera.records.frame_rate,
            clock=clock,
            seed=seed,
            controls=sim_controls,
            angle_id=camera.angles[0],
        )
    raise DeviceError(
        f"camera {camera.id!r} is a {camera.source.kind} source, which this build cannot drive.",
        "Use --simulate to rehearse the shot list on the simulated set.",
    )


def open_cameras(
    shotlist: ShotList,
    clock: SessionClock,
    *,
    sim_controls: SceneControls | None = None,
    force_simulated: bool = False,
) -> Mapping[str, StillCamera]:
    """Return a device per camera of the shot list, in shot-list order."""
    return {
        camera.id: open_camera(
            camera, clock, sim_controls=sim_controls, force_simulated=force_simulated
        )
        for camera in shotlist.cameras
    }
