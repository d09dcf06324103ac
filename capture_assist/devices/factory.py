"""Turn a shot list's camera entries into devices."""

from __future__ import annotations

from collections.abc import Mapping

from capture_assist.clock import SessionClock
from capture_assist.devices.base import DeviceError, StillCamera
from capture_assist.devices.opencv_source import VideoMode, VideoSource
from capture_assist.devices.simulated import SceneControls, SimulatedCamera
from capture_assist.shotlist.model import Camera, Gphoto2Source, OpencvSource, ShotList, SimSource


def open_camera(
    camera: Camera,
    clock: SessionClock,
    *,
    sim_controls: SceneControls | None = None,
    force_simulated: bool = False,
    delete_from_card: bool = False,
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
            focal_length_mm=camera.records.focal_length_mm or 35.0,
        )
    if isinstance(camera.source, Gphoto2Source):
        # Imported here: loading libgphoto2 costs time and is not needed on the simulated set.
        from capture_assist.devices.gphoto2_camera import Gphoto2Camera

        return Gphoto2Camera(
            camera.id,
            clock=clock,
            serial=camera.source.serial,
            port=camera.source.port,
            model=camera.source.model,
            nominal_fps=camera.records.frame_rate,
            delete_from_card=delete_from_card,
        )
    if isinstance(camera.source, OpencvSource):
        width, height = camera.records.resolution
        return VideoSource(
            camera.id,
            camera.source.device,
            clock=clock,
            requested=VideoMode(width, height, camera.records.frame_rate, camera.source.fourcc),
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
            camera,
            clock,
            sim_controls=sim_controls,
            force_simulated=force_simulated,
            delete_from_card=shotlist.delete_from_card,
        )
        for camera in shotlist.cameras
    }
