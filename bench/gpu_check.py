"""Check wattprint's NVML sensor against the GPU it runs on.

Run on a machine with an NVIDIA GPU (and, ideally, PyTorch with CUDA)::

    python bench/gpu_check.py            # about 20 s
    python bench/gpu_check.py --all      # also shares, driver samples, ranks, signals,
                                         # frameworks (bench/gpu_checks_extra.py), ~3 min
    GPU_CHECK_SECONDS=60 python bench/gpu_check.py

What it does:

1. opens wattprint's NVML sensor (the real ``pynvml``) and lists its devices,
   what was skipped, and the MIG mode of every GPU NVML sees;
2. runs a small PyTorch training loop, then inference, on the first CUDA
   device for the duration (idle GPUs when torch or CUDA is missing);
3. meanwhile, every 100 ms, reads the sensor and, in the same tick, polls
   ``nvmlDeviceGetPowerUsage`` directly;
4. per device, compares the energy from the total-energy counter's delta
   (what wattprint stores) with the trapezoid integral of the polled power
   over the same span, and reports their ratio (expect about 1.0; power on
   Ampere and later is a one-second average, so short spans can differ a
   little), the gaps, and the sensor's read cost;
5. prints the results as JSON and writes them to ``$OUT/gpu_check.json`` when
   ``OUT`` is set.

Without a usable NVIDIA GPU it prints why and exits with status 0.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

try:
    import wattprint  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from wattprint.errors import SensorUnavailable
from wattprint.sensors import nvml as nvml_sensor
from wattprint.sensors.base import SkippedSensor
from wattprint.sensors.context import SensorContext

DURATION_S = float(os.environ.get("GPU_CHECK_SECONDS", "20"))
PERIOD_S = 0.1
RATIO_TOLERANCE = 0.15


def emit(result: dict[str, Any]) -> None:
    if "--all" in sys.argv[1:]:  # the shares, driver-sample, rank, signal and framework checks
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from gpu_checks_extra import run_all

        result["extra"] = run_all()
    text = json.dumps(result, indent=2, sort_keys=True, default=str)
    print(text)
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "gpu_check.json").write_text(text + "\n")


def workload(stop: threading.Event, switch_at: float, stats: dict[str, Any]) -> None:
    """Train a small MLP, then run inference, until ``stop`` is set."""
    try:
        import torch
    except ImportError:
        stats["workload"] = "none: torch is not installed (GPUs measured idle)"
        return
    if not torch.cuda.is_available():
        stats["workload"] = "none: torch.cuda is not available (GPUs measured idle)"
        return
    try:
        device = torch.device("cuda")
        stats["workload"] = f"torch {torch.__version__} MLP on {torch.cuda.get_device_name(0)}"
        width = 4096
        model = torch.nn.Sequential(
            torch.nn.Linear(width, width),
            torch.nn.ReLU(),
            torch.nn.Linear(width, width),
            torch.nn.ReLU(),
            torch.nn.Linear(width, 1000),
        ).to(device)
        optimiser = torch.optim.SGD(model.parameters(), lr=1e-3)
        loss_fn = torch.nn.CrossEntropyLoss()
        x = torch.randn(1024, width, device=device)
        y = torch.randint(0, 1000, (1024,), device=device)
        steps = 0
        while not stop.is_set():
            if time.monotonic() < switch_at:
                optimiser.zero_grad(set_to_none=True)
                loss_fn(model(x), y).backward()
                optimiser.step()
                stats["train_steps"] = stats.get("train_steps", 0) + 1
            else:
                with torch.inference_mode():
                    model(x)
                stats["inference_steps"] = stats.get("inference_steps", 0) + 1
            steps += 1
            if steps % 20 == 0:
                torch.cuda.synchronize()  # keep the queue short so stop is prompt
        torch.cuda.synchronize()
    except Exception as exc:  # report, never hang the check
        stats["workload_error"] = repr(exc)


def trapezoid_j(points: list[tuple[float, float]]) -> float:
    return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in itertools.pairwise(points))


def mig_modes(pynvml: Any) -> list[dict[str, Any]]:
    modes = []
    for index in range(pynvml.nvmlDeviceGetCount()):
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        entry: dict[str, Any] = {"index": index, "uuid": str(pynvml.nvmlDeviceGetUUID(handle))}
        try:
            current, pending = pynvml.nvmlDeviceGetMigMode(handle)
            entry["mig_enabled"] = bool(current == pynvml.NVML_DEVICE_MIG_ENABLE)
            entry["mig_pending"] = bool(pending == pynvml.NVML_DEVICE_MIG_ENABLE)
        except pynvml.NVMLError as exc:
            entry["mig_enabled"] = False
            entry["mig_query"] = str(exc)
        modes.append(entry)
    return modes


def main() -> int:
    result: dict[str, Any] = {"check": "wattprint NVML sensor", "duration_s": DURATION_S}
    notes: list[SkippedSensor] = []
    try:
        sensor = nvml_sensor.open_sensor(SensorContext(), frozenset(), notes)
    except SensorUnavailable as exc:
        result.update(status="no_gpu", reason=str(exc))
        emit(result)
        return 0
    import pynvml

    pynvml.nvmlInit()
    try:
        result["driver_version"] = str(pynvml.nvmlSystemGetDriverVersion())
        result["mig"] = mig_modes(pynvml)
        devices = sensor.devices()
        result["devices"] = [asdict(device) for device in devices]
        result["skipped"] = [asdict(note) for note in notes]
        handles = {d.id: pynvml.nvmlDeviceGetHandleByUUID(d.extra["uuid"]) for d in devices}

        stats: dict[str, Any] = {}
        stop = threading.Event()
        start = time.monotonic()
        worker = threading.Thread(
            target=workload, args=(stop, start + DURATION_S / 2, stats), daemon=True
        )
        worker.start()

        energy: dict[str, list[tuple[float, float]]] = {d.id: [] for d in devices}
        wattprint_power: dict[str, list[tuple[float, float]]] = {d.id: [] for d in devices}
        polled_power: dict[str, list[tuple[float, float]]] = {d.id: [] for d in devices}
        read_cost_s: list[float] = []
        ticks = 0
        next_tick = start
        while time.monotonic() < start + DURATION_S:
            t0 = time.perf_counter()
            readings = sensor.read()
            read_cost_s.append(time.perf_counter() - t0)
            now = time.monotonic()
            ticks += 1
            for device in devices:
                reading = readings.get(device.id)
                if reading is not None and reading.energy_j is not None:
                    energy[device.id].append((now, reading.energy_j))
                if reading is not None and reading.power_w is not None:
                    wattprint_power[device.id].append((now, reading.power_w))
                try:
                    watts = pynvml.nvmlDeviceGetPowerUsage(handles[device.id]) / 1000.0
                    polled_power[device.id].append((now, watts))
                except pynvml.NVMLError:
                    pass
            next_tick += PERIOD_S
            time.sleep(max(0.0, next_tick - time.monotonic()))
        stop.set()
        worker.join(timeout=30)
        result["workload"] = stats
        result["ticks"] = ticks
        result["sensor_read_ms_mean"] = 1000 * sum(read_cost_s) / max(1, len(read_cost_s))
        result["sensor_read_ms_max"] = 1000 * max(read_cost_s, default=0.0)
        result["process_shares_self"] = dict(sensor.process_shares(frozenset({os.getpid()})))

        comparisons = []
        all_ok = True
        for device in devices:
            entry: dict[str, Any] = {
                "id": device.id,
                "name": device.name,
                "counter": device.counter,
            }
            polled = polled_power[device.id]
            entry["gaps"] = ticks - max(len(energy[device.id]), len(wattprint_power[device.id]))
            if device.counter and len(energy[device.id]) >= 2:
                (t_first, e_first), (t_last, e_last) = energy[device.id][0], energy[device.id][-1]
                span = [(t, p) for t, p in polled if t_first <= t <= t_last]
                counter_j = e_last - e_first
                integral_j = trapezoid_j(span)
                entry.update(
                    span_s=t_last - t_first,
                    counter_energy_j=counter_j,
                    power_integral_j=integral_j,
                    mean_power_w=counter_j / (t_last - t_first) if t_last > t_first else None,
                    ratio_counter_over_power=counter_j / integral_j if integral_j > 0 else None,
                )
                ratio = entry["ratio_counter_over_power"]
                entry["ok"] = ratio is not None and abs(ratio - 1.0) <= RATIO_TOLERANCE
            elif not device.counter:
                entry.update(
                    wattprint_power_integral_j=trapezoid_j(wattprint_power[device.id]),
                    power_integral_j=trapezoid_j(polled),
                    ok=len(wattprint_power[device.id]) >= 2,
                )
            else:
                entry["ok"] = False
            all_ok = all_ok and bool(entry["ok"])
            comparisons.append(entry)
        result["comparisons"] = comparisons
        result["status"] = "ok" if all_ok else "check"
    finally:
        sensor.close()
        pynvml.nvmlShutdown()
    emit(result)
    return 0 if result.get("status") == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
