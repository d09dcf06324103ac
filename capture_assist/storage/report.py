"""The session report: one self-contained HTML file (inline CSS, plots and thumbnails).

The only module that imports ``matplotlib``. It answers the questions asked
at wrap and at handover: what was shot and what is missing, how exposure,
white balance, framing and focus held over the takes, whether the actors hit
their beats the same way every time, what each camera was set to, and what
to fix or reshoot.
"""

from __future__ import annotations

import base64
import html
import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display, no Qt: the report is drawn off screen

import matplotlib.pyplot as plt
from PIL import Image

from capture_assist.shotlist.matrix import expand
from capture_assist.shotlist.model import Tolerance
from capture_assist.storage.atomic import atomic_write_bytes
from capture_assist.storage.session_files import (
    SessionRecord,
    SessionStep,
    StoredFile,
    read_session,
)

BACKGROUND = "#0d0f12"
PANEL = "#161a1f"
GRID = "#2a313a"
TEXT = "#e6e6e6"
DIM_TEXT = "#9aa4ae"
PASS = "#2f9e6e"
WARN = "#f0a020"
FAIL = "#ff4d4d"
NG = "#b07cff"
MISSING = "#56606b"
UNGRADED = "#5aa9e6"
ANGLE_COLOURS = ("#4cc9f0", "#f72585", "#ffd166", "#06d6a0", "#ef8354", "#b8b8ff")
QC_PLOTS = (
    ("exposure_ev", "Exposure change (EV)"),
    ("white_balance_mired", "White balance change (mired)"),
    ("framing_drift_px", "Framing drift (px)"),
    ("sharpness_drop_percent", "Sharpness drop (%)"),
)
BEAT_SPREAD_LIMIT_S = 0.5
"""A beat whose marks spread more than this over an action's takes is called out."""
THUMBNAIL_WIDTH = 220
MAX_THUMBNAIL_TAKES = 120
"""Thumbnails past this many takes would make the page too heavy to mail (about 16 KB each)."""


@dataclass(frozen=True, slots=True)
class FixItem:
    """One thing to fix or reshoot."""

    severity: str
    step_id: str
    what: str


def _figure_png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, facecolor=BACKGROUND, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _style(axes: Any, title: str) -> None:
    axes.set_facecolor(PANEL)
    axes.set_title(title, color=TEXT, fontsize=13, loc="left")
    axes.tick_params(colors=DIM_TEXT, labelsize=9)
    for spine in axes.spines.values():
        spine.set_color(GRID)
    axes.grid(True, color=GRID, linewidth=0.6)


def _metric(step: SessionStep, camera_id: str, name: str) -> float | None:
    value = step.qc.get(camera_id, {}).get("metrics", {}).get(name, {}).get("worst")
    return float(value) if isinstance(value, int | float) else None


def qc_plot(record: SessionRecord) -> str:
    """Return a PNG (base64) of the QC metrics over the done takes, one line per angle."""
    takes = [step for step in record.takes if step.is_done and step.files]
    figure, axes_grid = plt.subplots(2, 2, figsize=(12, 6.4), facecolor=BACKGROUND)
    cameras = {f.camera_id: f.angle_id for step in takes for f in step.files}
    for axes, (metric, title) in zip(axes_grid.flat, QC_PLOTS, strict=True):
        _style(axes, title)
        tolerance: Tolerance = getattr(record.shotlist.qc, metric)
        axes.axhspan(-tolerance.warn, tolerance.warn, color=PASS, alpha=0.12, linewidth=0)
        for limit, colour in ((tolerance.warn, WARN), (tolerance.fail, FAIL)):
            for sign in (1, -1):
                axes.axhline(sign * limit, color=colour, linewidth=1, linestyle="--", alpha=0.8)
        for index, (camera_id, angle) in enumerate(sorted(cameras.items())):
            points = [
                (position, value)
                for position, step in enumerate(takes, start=1)
                if (value := _metric(step, camera_id, metric)) is not None
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                axes.plot(
                    xs,
                    ys,
                    marker="o",
                    markersize=4,
                    linewidth=1.6,
                    color=ANGLE_COLOURS[index % len(ANGLE_COLOURS)],
                    label=f"{angle} ({camera_id})",
                )
        axes.set_xlabel("take, in shooting order", color=DIM_TEXT, fontsize=9)
    legend = axes_grid.flat[0].legend(facecolor=PANEL, edgecolor=GRID, fontsize=9)
    for text in legend.get_texts():
        text.set_color(TEXT)
    figure.tight_layout()
    return _figure_png(figure)


@dataclass(frozen=True, slots=True)
class BeatTiming:
    """How one beat of one action was hit over the takes that marked it."""

    action: str
    beat: str
    planned_s: float
    marks_s: tuple[float, ...]

    @property
    def mean_s(self) -> float:
        """Mean mark, seconds into the take."""
        return statistics.fmean(self.marks_s)

    @property
    def spread_s(self) -> float:
        """Latest minus earliest mark."""
        return max(self.marks_s) - min(self.marks_s)


def beat_timings(record: SessionRecord) -> list[BeatTiming]:
    """Return every marked beat's timing per action, in the action's beat order."""
    marks: dict[tuple[str, str], list[float]] = {}
    planned: dict[tuple[str, str], float] = {}
    for step in record.takes:
        if not step.files or not step.beats:
            continue
        take = step.files[0].sidecar["take"]
        start = float(step.files[0].sidecar["capture"]["session_start_s"])
        for beat in take["action"]["beats"]:
            planned[(take["action"]["id"], beat["name"])] = float(beat["start_s"])
        for mark in step.beats:
            marks.setdefault((take["action"]["id"], mark.name), []).append(
                mark.session_time_s - start
            )
    return [
        BeatTiming(action, beat, planned.get((action, beat), 0.0), tuple(values))
        for (action, beat), values in sorted(
            marks.items(), key=lambda item: (item[0][0], planned.get(item[0], 0.0))
        )
    ]


def beat_plot(timings: Sequence[BeatTiming]) -> str | None:
    """Return a PNG (base64) of each beat's marks against its plan, per action."""
    if not timings:
        return None
    actions = list(dict.fromkeys(timing.action for timing in timings))
    figure, axes_list = plt.subplots(
        len(actions),
        1,
        figsize=(12, 1.2 + 0.55 * len(timings)),
        facecolor=BACKGROUND,
        squeeze=False,
    )
    for axes, action in zip(axes_list[:, 0], actions, strict=True):
        rows = [timing for timing in timings if timing.action == action]
        _style(axes, f"Beat timing: {action} (dots: marks, diamond: plan)")
        for row, timing in enumerate(rows):
            colour = FAIL if timing.spread_s > BEAT_SPREAD_LIMIT_S else PASS
            axes.scatter(timing.marks_s, [row] * len(timing.marks_s), color=colour, s=28, zorder=3)
            axes.scatter([timing.planned_s], [row], marker="D", color=TEXT, s=30, zorder=4)
        axes.set_yticks(range(len(rows)), [timing.beat for timing in rows], color=TEXT)
        axes.invert_yaxis()
        axes.set_xlabel("seconds into the take", color=DIM_TEXT, fontsize=9)
    figure.tight_layout()
    return _figure_png(figure)


def _thumbnail(path: Path) -> str:
    with Image.open(path) as image:
        image.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_WIDTH))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=72)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _take_verdict(step: SessionStep) -> str | None:
    verdicts = [str(qc.get("verdict")) for qc in step.qc.values() if qc.get("verdict")]
    order = ("pass", "warn", "fail")
    return max(verdicts, key=order.index) if verdicts else None


def _cell_state(step: SessionStep | None) -> tuple[str, str]:
    if step is None:
        return "missing", "not in this session"
    if step.is_done and step.is_ng:
        return "ng", "NG"
    if step.is_done:
        verdict = _take_verdict(step)
        return (verdict, f"shot, QC {verdict}") if verdict else ("shot", "shot, not graded")
    if step.status == "failed":
        return "fail", f"failed: {step.last_error or ''}"
    return "missing", "not shot yet"


def coverage_table(record: SessionRecord) -> str:
    """Return the coverage matrix: subject and action by lighting and placement."""
    matrix = expand(record.shotlist)
    steps = {step.step_id: step for step in record.steps}
    columns = list(dict.fromkeys((s.lighting, s.placement.id) for s in matrix.setups))
    rows = list(dict.fromkeys((t.subject, t.action) for t in matrix.takes))
    cells: dict[tuple[str, str, str, str], list[str]] = {}
    for take in matrix.takes:
        state, title = _cell_state(steps.get(take.take_id))
        badge = (
            f'<span class="cell {state}" title="{html.escape(take.take_id)}: '
            f'{html.escape(title)}">r{take.repetition:02d}</span>'
        )
        key = (take.subject, take.action, take.lighting, take.placement.id)
        cells.setdefault(key, []).append(badge)
    head = "".join(
        f"<th>{html.escape(lighting)}<br><small>{html.escape(placement)}</small></th>"
        for lighting, placement in columns
    )
    body = []
    for subject, action in rows:
        tds = "".join(
            "<td>"
            + (
                "".join(cells.get((subject, action, lighting, placement), []))
                or '<span class="skipped">skipped</span>'
            )
            + "</td>"
            for lighting, placement in columns
        )
        body.append(f"<tr><th>{html.escape(subject)} · {html.escape(action)}</th>{tds}</tr>")
    legend = "".join(
        f'<span class="cell {state}">{label}</span>'
        for state, label in (
            ("pass", "shot, QC pass"),
            ("shot", "shot, not graded"),
            ("warn", "QC warn"),
            ("fail", "QC fail / failed"),
            ("ng", "NG"),
            ("missing", "missing"),
        )
    )
    return (
        f'<table class="matrix"><tr><th></th>{head}</tr>{"".join(body)}</table>'
        f'<p class="legend">{legend}</p>'
    )


def fix_list(record: SessionRecord, timings: Sequence[BeatTiming]) -> list[FixItem]:
    """Return what to fix or reshoot, most severe first."""
    items: list[FixItem] = []
    tolerances = record.shotlist.qc
    matrix = expand(record.shotlist)
    steps = {step.step_id: step for step in record.steps}
    for take in matrix.takes:
        step = steps.get(take.take_id)
        if step is None or not step.is_done:
            reason = f" ({step.last_error})" if step is not None and step.last_error else ""
            items.append(FixItem("fail", take.take_id, f"not shot yet{reason}: shoot it"))
        elif step.is_ng:
            items.append(
                FixItem(
                    "ng",
                    take.take_id,
                    "rated NG: reshoot it" + (f" ({step.notes})" if step.notes else ""),
                )
            )
    for step in record.references:
        if step.is_done:
            for stored in step.files:
                baseline = ((stored.sidecar.get("qc") or {}).get("baseline")) or {}
                if not baseline.get("chart_found", True):
                    items.append(
                        FixItem(
                            "fail",
                            step.step_id,
                            f"{stored.camera_id}: no ColorChecker "
                            "found in the reference frame: reshoot it with the chart in view",
                        )
                    )
    for step in record.takes:
        if not step.is_done or step.is_ng:
            continue
        for camera_id, qc in sorted(step.qc.items()):
            for name, metric in sorted(qc.get("metrics", {}).items()):
                verdict = metric.get("worst_verdict")
                if verdict in ("warn", "fail"):
                    tolerance: Tolerance = getattr(tolerances, name)
                    limit = tolerance.fail if verdict == "fail" else tolerance.warn
                    items.append(
                        FixItem(
                            verdict,
                            step.step_id,
                            f"{camera_id}: {name.replace('_', ' ')} {metric['worst']:+.2f} "
                            f"(limit {limit:g})"
                            + (": reshoot" if verdict == "fail" else ": check"),
                        )
                    )
    for timing in timings:
        if timing.spread_s > BEAT_SPREAD_LIMIT_S:
            items.append(
                FixItem(
                    "warn",
                    timing.action,
                    f"beat '{timing.beat}' marked over {timing.spread_s:.2f} s across takes "
                    f"(plan {timing.planned_s:.2f} s): direct the timing",
                )
            )
    for event in record.events:
        if event.level == "warning" and "settings changed" in event.message:
            items.append(FixItem("warn", "camera", event.message))
    rank = {"fail": 0, "ng": 1, "warn": 2}
    return sorted(items, key=lambda item: rank[item.severity])


def _settings_table(record: SessionRecord) -> str:
    rows = []
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for step in record.steps:
        for stored in step.files:
            key = (step.setup_id, stored.camera_id)
            seen.setdefault(key, {"angle": stored.angle_id, "values": {}})
            settings = stored.sidecar["camera"]["settings"]
            records = stored.sidecar["camera"]["records"]
            for name, value in (
                ("ISO", settings.get("iso")),
                ("shutter", _shutter(settings.get("shutter_s"))),
                ("aperture", f"f/{settings['aperture_f']:g}" if "aperture_f" in settings else None),
                (
                    "WB",
                    f"{settings['white_balance_k']:.0f} K"
                    if isinstance(settings.get("white_balance_k"), int | float)
                    else None,
                ),
                ("profile", records["picture_profile"]),
                ("lens", records["lens"]),
            ):
                seen[key]["values"].setdefault(name, set()).add(str(value))
    for (setup_id, camera_id), entry in seen.items():
        cells = []
        for name in ("ISO", "shutter", "aperture", "WB", "profile", "lens"):
            values = sorted(entry["values"].get(name, {"-"}))
            changed = len(values) > 1
            cells.append(
                f'<td class="{"changed" if changed else ""}">{html.escape(" → ".join(values))}</td>'
            )
        rows.append(
            f"<tr><td>{html.escape(setup_id)}</td><td>{html.escape(camera_id)} "
            f"<small>{html.escape(entry['angle'])}</small></td>{''.join(cells)}</tr>"
        )
    head = "".join(
        f"<th>{name}</th>"
        for name in ("setup", "camera", "ISO", "shutter", "aperture", "WB", "profile", "lens")
    )
    return f'<table class="settings"><tr>{head}</tr>{"".join(rows)}</table>'


def _shutter(value: object) -> str | None:
    if not isinstance(value, int | float) or value <= 0:
        return None
    return f"1/{round(1 / value)} s" if value < 1 else f"{value:g} s"


def _preview(record: SessionRecord, stored: StoredFile) -> str:
    try:
        data = _thumbnail(record.directory / stored.relative_path)
    except OSError:
        # A RAW or a clip Pillow cannot open: say so rather than drop the angle.
        return f'<span class="nopreview">{html.escape(stored.angle_id)}: no preview</span>'
    return f'<img alt="{html.escape(stored.angle_id)}" src="data:image/jpeg;base64,{data}">'


def _thumbnails(record: SessionRecord) -> str:
    """Return thumbnail cards: takes with problems first, at most ``MAX_THUMBNAIL_TAKES``."""
    done = [step for step in record.takes if step.is_done]
    severity = {"fail": 0, "ng": 1, "warn": 2, "shot": 3, "pass": 4}
    ranked = sorted(done, key=lambda step: severity[_cell_state(step)[0]])
    shown = {step.step_id for step in ranked[:MAX_THUMBNAIL_TAKES]}
    cards = []
    for step in done:
        if step.step_id not in shown:
            continue
        state, _title = _cell_state(step)
        images = "".join(_preview(record, stored) for stored in step.files)
        cards.append(
            f'<figure class="thumb {state}">{images}<figcaption>'
            f'<span class="cell {state}">{html.escape(state.upper())}</span> '
            f"{html.escape(step.step_id)}</figcaption></figure>"
        )
    hidden = len(done) - len(shown)
    note = (
        f'<p class="sub">{hidden} more takes are not shown, to keep this page small; '
        "the takes with problems come first.</p>"
        if hidden
        else ""
    )
    return f'<div class="thumbs">{"".join(cards)}</div>{note}'


def _beat_table(timings: Sequence[BeatTiming]) -> str:
    rows = "".join(
        f'<tr class="{"bad" if t.spread_s > BEAT_SPREAD_LIMIT_S else ""}">'
        f"<td>{html.escape(t.action)}</td><td>{html.escape(t.beat)}</td>"
        f"<td>{t.planned_s:.2f}</td><td>{t.mean_s:.2f}</td>"
        f"<td>{statistics.pstdev(t.marks_s):.2f}</td><td>{t.spread_s:.2f}</td>"
        f"<td>{len(t.marks_s)}</td></tr>"
        for t in timings
    )
    return (
        '<table class="settings"><tr><th>action</th><th>beat</th><th>plan s</th>'
        "<th>mean s</th><th>SD s</th><th>spread s</th><th>takes</th></tr>"
        f"{rows}</table>"
    )


CSS = f"""
body {{ background: {BACKGROUND}; color: {TEXT}; font: 15px/1.45 'DejaVu Sans', sans-serif;
       margin: 0; padding: 24px 32px; }}
h1 {{ font-size: 28px; margin: 0 0 4px; }} h2 {{ font-size: 20px; margin: 28px 0 10px;
       color: {TEXT}; border-bottom: 1px solid {GRID}; padding-bottom: 4px; }}
.sub {{ color: {DIM_TEXT}; }}
.stats {{ display: flex; gap: 14px; margin: 16px 0; flex-wrap: wrap; }}
.stat {{ background: {PANEL}; border-radius: 8px; padding: 10px 18px; min-width: 110px; }}
.stat b {{ display: block; font-size: 26px; }} .stat span {{ color: {DIM_TEXT}; }}
table {{ border-collapse: collapse; background: {PANEL}; border-radius: 8px; }}
th, td {{ padding: 6px 10px; border: 1px solid {GRID}; text-align: left; vertical-align: top; }}
th {{ color: {DIM_TEXT}; font-weight: 600; }} small {{ color: {DIM_TEXT}; }}
.cell {{ display: inline-block; border-radius: 4px; padding: 1px 7px; margin: 1px 3px 1px 0;
        font-size: 13px; font-weight: 600; color: #0d0f12; }}
.cell.pass {{ background: {PASS}; }} .cell.warn {{ background: {WARN}; }}
.cell.fail {{ background: {FAIL}; }} .cell.ng {{ background: {NG}; }}
.cell.missing {{ background: {MISSING}; color: {TEXT}; }}
.cell.shot {{ background: {UNGRADED}; }} .thumb.shot {{ border-color: {UNGRADED}; }}
.skipped, .nopreview {{ color: {DIM_TEXT}; font-style: italic; }}
.nopreview {{ display: inline-block; width: 150px; padding: 30px 0; text-align: center; }}
.legend {{ color: {DIM_TEXT}; }}
img.plot {{ max-width: 100%; border-radius: 8px; }}
.fix li {{ margin: 4px 0; }} .fix .what {{ color: {TEXT}; }}
.thumbs {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.thumb {{ margin: 0; background: {PANEL}; border-radius: 8px; padding: 8px;
         border-top: 3px solid {MISSING}; }}
.thumb.pass {{ border-color: {PASS}; }} .thumb.warn {{ border-color: {WARN}; }}
.thumb.fail {{ border-color: {FAIL}; }} .thumb.ng {{ border-color: {NG}; }}
.thumb img {{ width: {THUMBNAIL_WIDTH // 2 + 40}px; margin-right: 4px; border-radius: 4px; }}
figcaption {{ font-size: 12px; color: {DIM_TEXT}; max-width: 300px; }}
td.changed, tr.bad td {{ color: {WARN}; font-weight: 600; }}
"""


def render_report(record: SessionRecord) -> str:
    """Return the session report as one HTML document with everything inline."""
    takes = record.takes
    done = [s for s in takes if s.is_done]
    ng = [s for s in done if s.is_ng]
    planned = len(expand(record.shotlist).takes)
    verdicts = [_take_verdict(s) for s in done if not s.is_ng]
    timings = beat_timings(record)
    fixes = fix_list(record, timings)
    beat_png = beat_plot(timings)
    stats = (
        ("takes planned", planned),
        ("shot", len(done)),
        ("NG", len(ng)),
        ("missing", planned - len(done)),
        ("QC warn", verdicts.count("warn")),
        ("QC fail", verdicts.count("fail")),
    )
    grouped: dict[tuple[str, str], list[str]] = {}
    for item in fixes:
        grouped.setdefault((item.severity, item.step_id), []).append(item.what)
    fix_items = (
        "".join(
            f'<li><span class="cell {severity}">{severity.upper()}</span> '
            f"<b>{html.escape(step_id)}</b> "
            f'<span class="what">{html.escape("; ".join(whats))}</span></li>'
            for (severity, step_id), whats in grouped.items()
        )
        or "<li>Nothing: every planned take is shot and within tolerance.</li>"
    )
    beats_section = (
        f'<img class="plot" alt="beat timing" src="data:image/png;base64,{beat_png}">'
        + _beat_table(timings)
        if beat_png
        else '<p class="sub">No beats were marked in this session.</p>'
    )
    stat_tiles = "".join(f'<div class="stat"><b>{v}</b><span>{k}</span></div>' for k, v in stats)
    project = record.shotlist.project
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(project.id)}: session report</title>
<style>{CSS}</style></head><body>
<h1>{html.escape(project.title or project.id)}</h1>
<div class="sub">{html.escape(project.id)} · session {html.escape(record.directory.name)}
 · started {html.escape(record.meta.get("session_origin_wall", "?")[:19].replace("T", " "))} UTC
 · capture-assist {html.escape(record.meta.get("software_version", "?"))}</div>
<div class="stats">{stat_tiles}</div>
<h2>What to fix or reshoot</h2><ul class="fix">{fix_items}</ul>
<h2>Coverage</h2>{coverage_table(record)}
<h2>QC over the takes</h2>
<p class="sub">Worst value of each take against its setup's reference frame; dashed lines are
the shot list's warn (amber) and fail (red) tolerances.</p>
<img class="plot" alt="QC over takes" src="data:image/png;base64,{qc_plot(record)}">
<h2>Beat timing per action</h2>{beats_section}
<h2>Camera settings per setup</h2>{_settings_table(record)}
<h2>Takes</h2>{_thumbnails(record)}
</body></html>
"""


def write_report(session_dir: Path, output: Path | None = None) -> Path:
    """Write the report of a session folder (default ``<session>/report.html``); return its path."""
    record = read_session(session_dir)
    path = output or session_dir / "report.html"
    atomic_write_bytes(path, render_report(record).encode("utf-8"))
    return path
