"""Intensity signals: where the carbon intensity of "now" comes from, for live pausing.

Live pausing (:mod:`wattprint.schedule.controller`) asks one question again
and again: *how dirty is the grid now?* An :class:`IntensitySignal` answers
it, and, for a percentile threshold, also says which values lie ahead (the
job's horizon). Three kinds of answer come with wattprint:

* **a user series** -- a CSV or Parquet file read by
  :func:`~wattprint.accounting.seriesfile.load_series` (``--intensity FILE``),
  wrapped in a :class:`SeriesSignal`. The value of "now" is the value of the
  slot that holds it; the controller wakes at every slot boundary, so a
  pause starts and ends on the series' own grid. A series that ends before
  the deadline leaves the job running unpaused from then on.
* **the shipped hourly series** of a region (the 2022 US data,
  :func:`~wattprint.accounting.hourly.hourly_series`), also a
  :class:`SeriesSignal`, read by *typical-year replay*
  (:mod:`wattprint.accounting.replay`): the value at the same date and time
  (UTC) of 2022. The daily and seasonal shape is kept; the weather of the
  day is not, and the run's record says so.
* **a live API** -- Electricity Maps, WattTime or the UK Carbon Intensity
  API (:mod:`wattprint.accounting.live`), as a :class:`LiveSignal`. Its
  "now" is the API's latest value, its horizon the API's forecast. It is
  polled every :data:`DEFAULT_LIVE_POLL_S` seconds: none of these APIs
  updates faster, and their answers are cached that long. Clients are built
  ``strict`` (:func:`live_client`), so a failed request is a *missing
  signal* -- the job keeps running -- never a silent fallback value.

A signal only reads; :class:`TimedRead` bounds how long one read may take.
What to do with the value (pause, resume, release at the deadline) is the
controller's job.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from wattprint.accounting.replay import replay_time_s, series_year
from wattprint.accounting.series import IntensitySeries
from wattprint.errors import ConfigError, IntensityError, RegionError, WattprintError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_LIVE_POLL_S",
    "ForecastClient",
    "IntensitySignal",
    "LiveSignal",
    "SeriesSignal",
    "TimedRead",
    "clock_text",
    "live_client",
    "shipped_hourly",
    "utc_text",
]

FloatArray = npt.NDArray[np.float64]

#: Seconds between two reads of a live signal (the APIs update at most this often).
DEFAULT_LIVE_POLL_S = 300.0


def utc_text(t_s: float) -> str:
    """A UTC epoch time as ISO 8601 text to the second (``2025-03-01T12:30:00Z``), for messages."""
    return datetime.fromtimestamp(t_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def clock_text(t_s: float) -> str:
    """A UTC epoch time as a short UTC clock time for messages: ``14:00Z``, ``14:03:07Z``.

    Seconds are shown only when they are not zero.
    """
    moment = datetime.fromtimestamp(t_s, timezone.utc)
    return moment.strftime("%H:%MZ" if moment.second == 0 else "%H:%M:%SZ")


@runtime_checkable
class IntensitySignal(Protocol):
    """A carbon-intensity signal the controller polls.

    Attributes:
        description: what the signal is, for messages and the run's record.
    """

    description: str

    def current(self, now_s: float) -> float:
        """The intensity at ``now_s`` (UTC epoch seconds), gCO2e/kWh.

        Raises:
            IntensityError: no value for that time (a missing signal).
        """
        ...

    def values(self, start_s: float, end_s: float) -> FloatArray:
        """The values expected over ``[start_s, end_s)``, for a percentile threshold.

        Raises:
            IntensityError: no values for that span.
        """
        ...

    def next_change_s(self, now_s: float) -> float | None:
        """When the value may next change (a slot boundary), or ``None`` if unknown."""
        ...


class SeriesSignal:
    """A regular intensity series as a signal (a user file, or the shipped hourly data).

    Args:
        series: the series.
        replay_year: map times outside the series to the same date and time
            (UTC) of the series' first year (typical-year replay,
            :mod:`wattprint.accounting.replay`; for the shipped 2022 data).
        description: how to name it (default: from the series' provenance).
    """

    def __init__(
        self,
        series: IntensitySeries,
        *,
        replay_year: bool = False,
        description: str | None = None,
    ) -> None:
        self.series = series
        self.region = series.region
        self.step_s = series.step_s
        self._values = series.g_per_kwh
        self._start_s = float(series.start_s[0])
        self._end_s = series.end_s
        self.replay_year = replay_year
        #: calendar year (UTC) of the series' first slot: the target of replay
        self.year = series_year(series)
        self.description = description or _describe_series(series)
        if replay_year:
            self.description += f", typical-year replay of {self.year}"

    @property
    def start_s(self) -> float:
        """Start of the series' first slot, UTC epoch seconds."""
        return self._start_s

    @property
    def end_s(self) -> float:
        """End of the series' last slot, UTC epoch seconds."""
        return self._end_s

    def covers(self, t_s: float) -> bool:
        """Whether the series itself (without replay) holds ``t_s``."""
        return self.start_s <= t_s < self._end_s

    def _index(self, t_s: float) -> int:
        t = t_s
        if not self.covers(t) and self.replay_year:
            t = replay_time_s(t, self.year)
        if not self.covers(t):
            raise IntensityError(
                f"the {self.description} covers {utc_text(self.start_s)} to "
                f"{utc_text(self._end_s)}, not {utc_text(t_s)}; give a series that covers "
                "the job's run (times are UTC)"
            )
        return min(int((t - self.start_s) // self.step_s), self._values.size - 1)

    def current(self, now_s: float) -> float:
        """The value of the slot that holds ``now_s``.

        Raises:
            IntensityError: the series (after replay) has no value for ``now_s``.
        """
        value = float(self._values[self._index(now_s)])
        if not math.isfinite(value):
            raise IntensityError(f"the {self.description} has no value for {utc_text(now_s)}")
        return value

    def values(self, start_s: float, end_s: float) -> FloatArray:
        """Values of the slots that overlap ``[start_s, end_s)``, in time order.

        Raises:
            IntensityError: none of those slots has a value.
        """
        points = self._slot_points(start_s, end_s)
        found = []
        for t in points:
            try:
                found.append(float(self._values[self._index(t)]))
            except IntensityError:
                continue
        out = np.asarray(found, dtype=np.float64)
        out = out[np.isfinite(out)]
        if out.size == 0:
            raise IntensityError(
                f"the {self.description} has no values between {utc_text(start_s)} and "
                f"{utc_text(end_s)}; give a series that covers the job's horizon"
            )
        return out

    def _slot_points(self, start_s: float, end_s: float) -> list[float]:
        """``start_s`` and every slot boundary after it, before ``end_s``."""
        points = [start_s]
        k = math.floor((start_s - self.start_s) / self.step_s) + 1
        t = self.start_s + k * self.step_s
        while t < end_s:
            points.append(t)
            k += 1
            t = self.start_s + k * self.step_s
        return points

    def next_change_s(self, now_s: float) -> float | None:
        """The next slot boundary after ``now_s`` (the grid is the same under replay)."""
        k = math.floor((now_s - self.start_s) / self.step_s) + 1
        return self.start_s + k * self.step_s


def _describe_series(series: IntensitySeries) -> str:
    # a hand-made series may carry any provenance, or none
    provenance = getattr(series, "provenance", None)
    region = series.region
    source = str(getattr(provenance, "source", "") or "")
    dataset = str(getattr(provenance, "dataset", "") or "")
    what = f"{source} {dataset}".strip() or "intensity series"
    return f"{what} ({region})" if region else what


class TimedRead:
    """Reads a signal in a helper thread and gives up after a time-out.

    A slow API must never hold the controller past a forced resume, so each
    read runs in a daemon thread for at most ``timeout_s``. A read that timed
    out is not started again while it still runs (its thread is left to
    finish on its own); until then every read reports it as missing.

    Args:
        description: the signal's name, for messages.
        stop: when set, a read in progress is abandoned at once.
        clock: UTC epoch seconds (injectable for tests).
    """

    def __init__(
        self, description: str, stop: threading.Event, clock: Callable[[], float]
    ) -> None:
        self.description = description
        self._stop = stop
        self._clock = clock
        self._pending: threading.Thread | None = None
        self._pending_since = 0.0

    def __call__(self, fn: Callable[[], float], timeout_s: float) -> tuple[float | None, str]:
        """Run ``fn`` for at most ``timeout_s`` seconds.

        Returns:
            ``(value, "")``, or ``(None, why)`` when it failed, timed out,
            or gave no intensity (negative or not finite).
        """
        now = self._clock()
        if self._pending is not None:
            if self._pending.is_alive():
                waited = now - self._pending_since
                return None, f"the {self.description} has not answered for {waited:.0f} s"
            self._pending = None
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["value"] = fn()
            except Exception as exc:  # any failure of the source is a missing signal
                box["error"] = exc

        thread = threading.Thread(target=work, name="wattprint-intensity", daemon=True)
        thread.start()
        give_up = time.monotonic() + max(0.0, timeout_s)
        while thread.is_alive() and not self._stop.is_set():
            left = give_up - time.monotonic()
            if left <= 0:
                break
            thread.join(min(left, 0.1))
        if thread.is_alive():
            self._pending, self._pending_since = thread, now
            return None, f"the {self.description} did not answer within {timeout_s:.3g} s"
        if "error" in box:
            error = box["error"]
            return None, str(error) if isinstance(error, WattprintError) else repr(error)
        value = float(box["value"])
        if not (math.isfinite(value) and value >= 0):
            return None, f"the {self.description} gave {value!r}, not an intensity"
        return value, ""


@runtime_checkable
class ForecastClient(Protocol):
    """What :class:`LiveSignal` needs of a live client (:mod:`wattprint.accounting.live`)."""

    @property
    def title(self) -> str:
        """The API's name, for messages."""
        ...

    def latest(self, region: str) -> Any:
        """The latest intensity: an object with ``g_per_kwh``."""
        ...

    def forecast(self, region: str) -> Any:
        """A forecast series: an object with ``start_s``, ``step_s`` and ``g_per_kwh``."""
        ...


class LiveSignal:
    """A live intensity API as a signal.

    Args:
        client: a live client, built with ``strict=True`` so that a failure
            raises (see :func:`live_client`).
        region: the region (zone) to ask for.
    """

    def __init__(self, client: ForecastClient, region: str) -> None:
        self.client = client
        self.region = region
        self.description = f"{client.title} ({region})"

    def current(self, now_s: float) -> float:
        """The API's latest value.

        Raises:
            IntensityError: the API failed (strict client) or gave no number.
        """
        value = float(self.client.latest(self.region).g_per_kwh)
        if not (math.isfinite(value) and value >= 0):
            raise IntensityError(f"the {self.description} gave {value!r}, not an intensity")
        return value

    def values(self, start_s: float, end_s: float) -> FloatArray:
        """Forecast values of the slots that overlap ``[start_s, end_s)``.

        Raises:
            IntensityError: the forecast failed or does not reach that span.
        """
        forecast = self.client.forecast(self.region)
        starts = np.asarray(forecast.start_s, dtype=np.float64)
        values = np.asarray(forecast.g_per_kwh, dtype=np.float64)
        step = float(forecast.step_s)
        keep = (starts + step > start_s) & (starts < end_s) & np.isfinite(values)
        if not keep.any():
            raise IntensityError(
                f"the {self.description} forecast has no values between {utc_text(start_s)} and "
                f"{utc_text(end_s)}; give --pause-above instead of a percentile"
            )
        if float(starts[-1]) + step < end_s:
            logger.info(
                "the %s forecast ends at %s, before the horizon's end; the percentile uses "
                "the forecast only",
                self.description,
                utc_text(float(starts[-1]) + step),
            )
        return np.asarray(values[keep], dtype=np.float64)

    def next_change_s(self, now_s: float) -> float | None:
        """Unknown for a live API: the controller polls."""
        return None


def live_client(
    region: str, source: str | None = None, *, environ: Mapping[str, str] | None = None
) -> ForecastClient:
    """A strict live client for ``region`` (failures raise instead of falling back).

    Without ``source`` the first that applies is used: the UK Carbon Intensity
    API for ``GB`` (no key needed), Electricity Maps when
    ``WATTPRINT_ELECTRICITYMAPS_TOKEN`` is set, WattTime when
    ``WATTPRINT_WATTTIME_USERNAME`` and ``_PASSWORD`` are set (the region is
    then a WattTime region, e.g. ``CAISO_NORTH``).

    Args:
        region: region or zone code.
        source: ``"electricitymaps"``, ``"watttime"`` or ``"ukgrid"``.
        environ: environment to read credentials from (default ``os.environ``).

    Returns:
        The client.

    Raises:
        ConfigError: an unknown source, or no source applies.
        RegionError: the UK API was asked for a region outside Great Britain.
    """
    from wattprint.accounting.intensity import canonical_region
    from wattprint.accounting.live import (
        LIVE_SOURCES,
        ElectricityMapsClient,
        UKCarbonIntensityClient,
        WattTimeClient,
    )

    env = os.environ if environ is None else environ
    if source is None:
        try:
            code = canonical_region(region)
        except RegionError:
            code = region.strip().upper()
        if code == "GB":
            source = UKCarbonIntensityClient.name
        elif env.get("WATTPRINT_ELECTRICITYMAPS_TOKEN"):
            source = ElectricityMapsClient.name
        elif env.get("WATTPRINT_WATTTIME_USERNAME") and env.get("WATTPRINT_WATTTIME_PASSWORD"):
            source = WattTimeClient.name
        else:
            raise ConfigError(
                f"no live intensity source for {region}: set WATTPRINT_ELECTRICITYMAPS_TOKEN "
                "(Electricity Maps) or WATTPRINT_WATTTIME_USERNAME and _PASSWORD (WattTime); "
                "the UK Carbon Intensity API needs no key but covers GB only. Or use "
                "--intensity FILE or the shipped hourly series (leave out --live)"
            )
    if source not in LIVE_SOURCES:
        raise ConfigError(
            f"unknown live source {source!r}; choose from {', '.join(sorted(LIVE_SOURCES))}"
        )
    client: ForecastClient
    if source == UKCarbonIntensityClient.name:
        uk = UKCarbonIntensityClient(strict=True)
        uk._zone(region)  # raises RegionError outside Great Britain
        client = uk
    elif source == ElectricityMapsClient.name:
        client = ElectricityMapsClient(strict=True, environ=env)
    else:
        client = WattTimeClient(strict=True, environ=env)
    return client


def shipped_hourly(region: str, *, instead: str) -> IntensitySeries:
    """The shipped hourly series of ``region``, or an error listing the regions that have one.

    Args:
        region: region code.
        instead: what the user can give instead, for the message
            (``"--intensity FILE"``).

    Returns:
        The series.

    Raises:
        RegionError: the region is unknown (with suggestions) or has no
            shipped hourly series.
    """
    from wattprint.accounting.hourly import hourly_regions, hourly_series
    from wattprint.accounting.intensity import canonical_region

    try:
        return hourly_series(region)
    except RegionError:
        code = canonical_region(region)  # an unknown code raises with suggestions
        raise RegionError(
            f"no shipped hourly series for {code}; these regions have one: "
            f"{', '.join(hourly_regions())}. Give your own series with {instead}"
        ) from None
