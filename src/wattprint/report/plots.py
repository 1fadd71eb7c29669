"""Plots of the reports as inline SVG strings, drawn with matplotlib.

matplotlib is an optional dependency (the ``report`` extra: ``pip install
'wattprint[report]'``), imported only when a plot is drawn, with the
non-interactive Agg machinery (no display, no GUI toolkit). Every figure is
a :class:`matplotlib.figure.Figure` created directly -- never through pyplot,
so no global figure state is kept and nothing needs closing.

The SVG is made for embedding in one self-contained HTML file:

* text is drawn as paths (``svg.fonttype = "path"``), so no font is needed;
* the XML prologue, DOCTYPE and the RDF metadata block are removed, so the
  markup can sit inside HTML, and the output is reproducible (no date);
* every plot gets its own ``svg.hashsalt``, so the ids of clip paths and
  glyphs of two plots on one page never collide.

Long runs are binned before drawing (at most :data:`MAX_POINTS` steps per
series): a bin's power is its energy over its covered time, and its
intensity the time-weighted mean, so binning keeps energy and the mean
intensity exact while keeping the HTML small.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from wattprint.errors import WattprintError
from wattprint.extras import install_hint
from wattprint.units import axis_unit, format_number

#: Most steps drawn per series; longer series are binned.
MAX_POINTS = 600

_INSTALL_HINT = install_hint("report")
_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(\bid="|href="#|url\(#)([^")]+)')
_COLORS = ("#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6a4c93", "#00798c", "#8c564b")
_TERM_COLORS = {"dynamic": "#1b6ca8", "idle": "#8fb8de", "infrastructure": "#edae49",
                "embodied": "#6a4c93"}


def require_matplotlib() -> None:
    """Check that matplotlib can be imported.

    Raises:
        WattprintError: matplotlib is not installed (with the pip command to fix it).
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise WattprintError(
            f"plots need matplotlib, which is not installed: {_INSTALL_HINT} "
            "(or use --format md or json, which need no plots)"
        ) from exc


def _figure(width_in: float = 7.0, height_in: float = 2.8) -> Any:
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), layout="constrained")


def _svg(fig: Any, salt: str) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": salt,
                                "svg.image_inline": True}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = _METADATA.sub("", _PROLOGUE.sub("", buf.getvalue(), count=1))
    return _prefix_ids(text.strip(), salt)


def _prefix_ids(svg: str, prefix: str) -> str:
    """Give every element id (and every reference to one) the plot's own prefix.

    matplotlib numbers its element ids per figure (``figure_1``, ``patch_1``)
    and names glyphs by font (``DejaVuSans-30``), so two plots on one page
    would repeat ids; HTML requires them unique.
    """
    ids = set(_ID.findall(svg))

    def rename(match: re.Match[str]) -> str:
        lead, name = match.group(1), match.group(2)
        return f"{lead}{prefix}-{name}" if name in ids else match.group(0)

    return _REF.sub(rename, svg)


def _time_scale(span_s: float) -> tuple[float, str]:
    if span_s <= 120:
        return 1.0, "s"
    if span_s <= 2 * 3600:
        return 60.0, "min"
    return 3600.0, "h"


def binned(starts: np.ndarray, ends: np.ndarray, amount: np.ndarray,
           max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge consecutive intervals into at most ``max_points`` bins.

    Args:
        starts: interval starts, s (ascending).
        ends: interval ends, s.
        amount: a quantity per interval that adds up (energy in J, or
            intensity × duration).
        max_points: most bins returned.

    Returns:
        ``(bin_starts, bin_ends, rate)``: ``rate`` is the bin's summed amount
        over its summed interval duration (power in W for energy), so the
        total is kept exactly.
    """
    n = starts.size
    dt = ends - starts
    if n <= max_points:
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(dt > 0, amount / np.where(dt > 0, dt, 1.0), 0.0)
        return starts, ends, rate
    edges = np.linspace(0, n, max_points + 1).astype(np.int64)
    first, last = edges[:-1], edges[1:] - 1
    sums = np.add.reduceat(amount, first)
    spans = np.add.reduceat(dt, first)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(spans > 0, sums / np.where(spans > 0, spans, 1.0), 0.0)
    return starts[first], ends[last], rate


def _steps(ax: Any, starts: np.ndarray, ends: np.ndarray, values: np.ndarray, t0: float,
           scale: float, **style: Any) -> None:
    xs = np.column_stack(((starts - t0) / scale, (ends - t0) / scale)).ravel()
    ys = np.repeat(values, 2)
    ax.plot(xs, ys, **style)


def _human_ticks(axis: Any) -> None:
    """Tick labels as :func:`~wattprint.units.format_number` writes them: no offset, no 1e−5."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _pos: format_number(value, 6)))


def _scaled_axis(values: np.ndarray, unit: str) -> tuple[np.ndarray, str]:
    """Values in the one unit that suits the axis (``kWh`` of 3e-5 are drawn as 108 J)."""
    finite = np.abs(values[np.isfinite(values)])
    divisor, shown = axis_unit(float(finite.max()) if finite.size else 0.0, unit)
    return values / divisor, shown


def _style(ax: Any) -> None:
    _human_ticks(ax.xaxis)
    _human_ticks(ax.yaxis)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8)


def power_svg(appendix: Mapping[str, Any]) -> str | None:
    """Power over time of each device of a run appendix (``None`` without intervals)."""
    devices = [d for d in appendix["inputs"]["devices"] if d["intervals"]["t_start"]]
    if not devices:
        return None
    t0 = min(min(d["intervals"]["t_start"]) for d in devices)
    t1 = max(max(d["intervals"]["t_end"]) for d in devices)
    scale, unit = _time_scale(t1 - t0)
    fig = _figure()
    ax = fig.add_subplot()
    series = []
    for d in devices:
        iv = d["intervals"]
        series.append(binned(np.asarray(iv["t_start"], dtype=np.float64),
                             np.asarray(iv["t_end"], dtype=np.float64),
                             np.asarray(iv["energy_j"], dtype=np.float64)))
    peak_w = max((float(w.max()) for _s, _e, w in series if w.size), default=0.0)
    divisor, power_unit = axis_unit(peak_w, "W")
    for n, (d, (s, e, w)) in enumerate(zip(devices, series, strict=True)):
        basis = "measured" if d["measured"] else "estimated"
        _steps(ax, s, e, w / divisor, t0, scale, color=_COLORS[n % len(_COLORS)],
               linewidth=1.2, label=f"{d['name']} ({d['kind']}, {basis})")
    _phase_spans(ax, appendix.get("phases") or [], t0, t1, scale)
    ax.set_xlabel(f"time since start ({unit})", fontsize=9)
    ax.set_ylabel(f"device power ({power_unit})", fontsize=9)
    ax.set_ylim(bottom=0)
    _style(ax)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig, "wattprint-power")


def _phase_spans(ax: Any, phases: Sequence[Mapping[str, Any]], t0: float, t1: float,
                 scale: float) -> None:
    """Shade each top-level ``run.phase()`` section and name it at the top of the plot."""
    from matplotlib.transforms import blended_transform_factory

    top = [p for p in phases if not p.get("depth")]
    along = blended_transform_factory(ax.transData, ax.transAxes)
    for n, p in enumerate(top):
        start = float(p["t_start"])
        end = float(p["t_end"]) if p.get("t_end") is not None else t1
        if end <= t0 or start >= t1:
            continue
        x0, x1 = (max(start, t0) - t0) / scale, (min(end, t1) - t0) / scale
        ax.axvspan(x0, x1, color=_COLORS[n % len(_COLORS)], alpha=0.08, linewidth=0,
                   label=f"phase {p['name']}" if n < 8 else None)
        ax.text((x0 + x1) / 2, 0.98, str(p["name"]), transform=along, ha="center",
                va="top", fontsize=7, color="#555555", clip_on=True)


def intensity_svg(appendix: Mapping[str, Any]) -> str | None:
    """Grid intensity applied over time in a run appendix (``None`` without intervals)."""
    starts: list[float] = []
    ends: list[float] = []
    values: list[float] = []
    seen: set[tuple[float, float]] = set()
    for d in appendix["inputs"]["devices"]:
        iv = d["intervals"]
        for s, e, v in zip(iv["t_start"], iv["t_end"], iv["intensity_g_per_kwh"], strict=True):
            if v is None or (s, e) in seen:
                continue
            seen.add((s, e))
            starts.append(s)
            ends.append(e)
            values.append(v)
    if not starts:
        return None
    order = np.argsort(np.asarray(starts), kind="stable")
    s_arr = np.asarray(starts, dtype=np.float64)[order]
    e_arr = np.asarray(ends, dtype=np.float64)[order]
    v_arr = np.asarray(values, dtype=np.float64)[order]
    s_b, e_b, ci = binned(s_arr, e_arr, v_arr * (e_arr - s_arr))
    scale, unit = _time_scale(float(e_arr.max() - s_arr.min()))
    fig = _figure(height_in=2.4)
    ax = fig.add_subplot()
    _steps(ax, s_b, e_b, ci, float(s_arr.min()), scale, color="#2e933c", linewidth=1.2)
    ax.set_xlabel(f"time since start ({unit})", fontsize=9)
    ax.set_ylabel("intensity (gCO2e/kWh)", fontsize=9)
    ax.set_ylim(bottom=0, top=max(float(ci.max()) * 1.15, 1.0))
    _style(ax)
    return _svg(fig, "wattprint-intensity")


def breakdown_svg(groups: Sequence[Mapping[str, Any]]) -> str | None:
    """Carbon of each group split into dynamic, idle, infrastructure and embodied (kg)."""
    if not groups:
        return None
    labels = [str(g["key"]) or "(none)" for g in groups]
    fig = _figure(height_in=max(1.6, 0.45 * len(groups) + 1.0))
    ax = fig.add_subplot()
    left = np.zeros(len(groups))
    y = np.arange(len(groups))
    totals = [sum(float(g["co2e_kg"][t] or 0.0) for t in _TERM_COLORS) for g in groups]
    divisor, mass_unit = axis_unit(max(totals), "kg")
    for term, color in _TERM_COLORS.items():
        widths = np.array([float(g["co2e_kg"][term] or 0.0) for g in groups]) / divisor
        ax.barh(y, widths, left=left, color=color, label=term, height=0.6)
        left += widths
    ax.set_yticks(y, labels=labels)
    ax.invert_yaxis()
    ax.set_xlabel(f"CO2e ({mass_unit})", fontsize=9)
    _style(ax)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig, "wattprint-breakdown")


def whatif_svg(rows: Sequence[Mapping[str, Any]], *, job_duration_s: float | None = None,
               baseline_region: str | None = None) -> str | None:
    """Carbon reduction of each what-if strategy asked for, by window, one panel per region.

    Bars are the mean reduction (%) over start times, for the shortest job
    duration given; the black tick on each bar is the 90th percentile (p90);
    the legend says both. ``region`` rows (running the job in this region
    instead of the baseline region, at the same times) are a last group of
    their own on the x axis. Windows and the job are named by
    :func:`~wattprint.units.format_duration_s`, the job by its true length
    when given (a 12 s run is modelled on one hourly slot, but it is a 12 s job).

    Args:
        rows: the what-if result rows.
        job_duration_s: the job's true length, seconds (default: the rows' duration).
        baseline_region: the region ``region`` rows compare against, for the labels.

    Returns:
        The SVG, or ``None`` without rows.
    """
    if not rows:
        return None
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from wattprint.units import format_duration_s

    regions = list(dict.fromkeys(str(r["region"]) for r in rows))
    strategies = list(dict.fromkeys(str(r["strategy"]) for r in rows))
    colors = {name: _COLORS[k % len(_COLORS)] for k, name in enumerate(strategies)}
    durations = sorted({float(r["duration_h"]) for r in rows}) or [0.0]
    duration = durations[0]
    shown_s = job_duration_s if job_duration_s is not None else duration * 3600.0
    job = f"{format_duration_s(shown_s)} job"
    if abs(shown_s - duration * 3600.0) > 0.5:
        job += f" (on {format_duration_s(duration * 3600.0)} of intensity slots)"
    base = baseline_region or "the baseline region"
    fig = _figure(height_in=max(2.8, 2.2 * len(regions)))
    axes = fig.subplots(len(regions), 1, squeeze=False)[:, 0]
    timed_names = [name for name in strategies if name != "region"]
    width = 0.8 / max(1, len(timed_names))
    for ax, region in zip(axes, regions, strict=True):
        mine = [r for r in rows if r["region"] == region and float(r["duration_h"]) == duration]
        windows = sorted({float(r["window_h"]) for r in mine if r["strategy"] != "region"})
        for k, strategy in enumerate(timed_names):
            xs, means, p90s = [], [], []
            for i, w in enumerate(windows):
                hit = [r for r in mine if r["strategy"] == strategy and float(r["window_h"]) == w]
                if hit:
                    xs.append(i + (k - (len(timed_names) - 1) / 2) * width)
                    means.append(100.0 * float(hit[0]["mean_reduction"]))
                    p90s.append(100.0 * float(hit[0]["p90_reduction"]))
            ax.bar(xs, means, width=width * 0.9, color=colors[strategy])
            ax.scatter(xs, p90s, marker="_", color="black", s=80, zorder=3)
        labels = [f"{format_duration_s(w * 3600.0)} window" for w in windows]
        elsewhere = [r for r in mine if r["strategy"] == "region"]
        if elsewhere:
            x = float(len(windows))
            ax.bar([x], [100.0 * float(elsewhere[0]["mean_reduction"])], width=0.8 / 2,
                   color=colors["region"])
            ax.scatter([x], [100.0 * float(elsewhere[0]["p90_reduction"])], marker="_",
                       color="black", s=80, zorder=3)
            labels.append(f"here, not in {base}")
        _style(ax)  # before the window labels: it sets number formatters on both axes
        ax.set_xticks(range(len(labels)), labels=labels)
        ax.axhline(0.0, color="#555555", linewidth=0.6)
        ax.set_xlabel("slack window: how long the job may wait (or where it runs)", fontsize=8)
        ax.set_ylabel("carbon reduction (%)", fontsize=8)
        ax.set_title(f"{region}: a {job}, reduction against starting at once", fontsize=9,
                     loc="left")
    handles: list[Any] = [Patch(color=colors[name], label=name) for name in strategies]
    handles.append(Patch(color="#b8b8b8", label="bar: mean over start times"))
    handles.append(Line2D([], [], color="black", marker="_", linestyle="none", markersize=10,
                          label="tick: p90 (90th percentile)"))
    axes[0].legend(handles=handles, fontsize=7, frameon=False, loc="upper left",
                   bbox_to_anchor=(1.0, 1.0))
    return _svg(fig, "wattprint-whatif")


def front_svg(board: Mapping[str, Any]) -> str | None:
    """The leaderboard's task metric against its first cost, the Pareto front highlighted."""
    runs = board["runs"]
    if not runs or not board["costs"]:
        return None
    cost = board["costs"][0]
    x, unit = _scaled_axis(np.array([float(r[cost["column"]]) for r in runs]),
                           cost["unit"] or "")
    label = f"{cost['name']} ({unit})" if unit else cost["name"]
    y = np.array([float(r["metric"]) for r in runs])
    front = np.array([bool(r["pareto"]) for r in runs])
    fig = _figure(height_in=3.4)
    ax = fig.add_subplot()
    if (~front).any():
        ax.scatter(x[~front], y[~front], s=14, color="#b8b8b8", label="dominated", zorder=2)
    ax.scatter(x[front], y[front], s=26, color="#d1495b", label="Pareto front", zorder=3)
    if len(board["costs"]) == 1 and front.any():
        order = np.argsort(x[front], kind="stable")
        ax.plot(x[front][order], y[front][order], color="#d1495b", linewidth=1.0,
                drawstyle="steps-post", zorder=3)
    for row, px, py in zip(runs, x, y, strict=True):
        ax.annotate(str(row.get("name") or str(row["id"])[:8]), (float(px), float(py)),
                    xytext=(4, 3), textcoords="offset points", fontsize=6, color="#333333")
    ax.set_xlabel(label, fontsize=9)
    ax.set_ylabel(f"{board['metric']} ({'higher' if board['maximize'] else 'lower'} is better)",
                  fontsize=9)
    _style(ax)
    ax.legend(fontsize=7, frameon=False)
    return _svg(fig, "wattprint-front")


__all__ = ["MAX_POINTS", "binned", "breakdown_svg", "front_svg", "intensity_svg", "power_svg",
           "require_matplotlib", "whatif_svg"]
