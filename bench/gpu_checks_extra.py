"""GPU checks beyond the NVML counter: shares, driver samples, ranks, signals, frameworks.

Run by ``bench/gpu_check.py --all`` on a machine with an NVIDIA GPU and
PyTorch with CUDA; each check runs in its own processes with a time limit,
so one failure never hides the others. Every check returns a JSON-ready
dict; nothing here asserts, the caller reads the numbers.

* ``driver_samples``: how often the driver produces per-process utilisation
  samples (``nvmlDeviceGetProcessUtilization`` with ``lastSeenTimeStamp``),
  asked every 20 ms while a kernel loop runs: the period the fake NVML models.
* ``shares``: two processes on one GPU (a heavy and a light matmul loop),
  each under ``track(attribution="process")`` sampling at 0.05 s, faster
  than the driver's period: each run's share rules, and the sum of their
  attributed GPU energy against the device's counter over the same span.
* ``ranks``: ``torchrun --nproc_per_node 2`` on one GPU with ``track()`` in
  the script: the sum of the ranks' whole-device GPU energy over the NVML
  counter's delta (1.0 means the GPU is counted once).
* ``signals``: SIGTERM to a tracked GPU training loop: stored status, the
  time to exit, the exit code.
* ``lightning``: a 2-epoch fit on the GPU with the wattprint callback, if the
  integration is present.
* ``bench``: ``wattprint bench --devices 0`` over two batch sizes of a matmul
  loop: each configuration's GPU devices, basis, energy per sample and the
  hardware fingerprint (GPU names and driver).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    env["WATTPRINT_HOME"] = str(home)
    env["WATTPRINT_REGION"] = "FR"
    env.pop("WATTPRINT_SENSORS", None)
    return env


def _runs(home: Path) -> list[dict[str, Any]]:
    db = home / "wattprint.db"
    if not db.exists():
        return []
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        runs = [dict(r) for r in con.execute("SELECT * FROM runs ORDER BY started_at")]
        for run in runs:
            run["devices"] = [dict(d) for d in con.execute(
                "SELECT d.id, d.kind, d.name, d.share_rule, "
                "COALESCE(SUM(i.energy_j), 0) AS energy_j, "
                "COALESCE(SUM(i.attributed_energy_j), 0) AS attributed_j "
                "FROM devices d LEFT JOIN intervals i ON i.run_id = d.run_id AND "
                "i.device_id = d.id WHERE d.run_id = ? GROUP BY d.id", (run["id"],))]
            with contextlib.suppress(ValueError):
                run["info"] = json.loads(run.get("info") or "{}")
        return runs
    finally:
        con.close()


def _gpu_counter_j() -> float:
    import pynvml

    pynvml.nvmlInit()
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        return float(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)) / 1000.0
    finally:
        pynvml.nvmlShutdown()


#: the GPU load every check runs: square matmuls for a while, synchronised every 10
MATMUL = """
def matmul_for(size, seconds):
    x = torch.randn(size, size, device="cuda")
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        y = x @ x
        n += 1
        if n % 10 == 0:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
"""

LOOP = "import os, sys, time, torch\n" + MATMUL + """
matmul_for(int(os.environ.get("SIZE", "8192")), float(os.environ.get("SECONDS_TO_RUN", "12")))
"""


def driver_samples(seconds: float = 3.0) -> dict[str, Any]:
    """Distinct per-process utilisation samples and NotFound answers, asked every 20 ms."""
    import pynvml

    with tempfile.TemporaryDirectory() as tmp:
        child = subprocess.Popen([sys.executable, "-c", LOOP],
                                 env={**_env(Path(tmp)), "SECONDS_TO_RUN": str(seconds + 4)})
        time.sleep(3.0)  # CUDA context up
        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            last_seen = 0
            stamps: list[int] = []
            not_found = calls = 0
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                calls += 1
                try:
                    samples = pynvml.nvmlDeviceGetProcessUtilization(handle, last_seen)
                    for s in samples:
                        if s.timeStamp > last_seen:
                            last_seen = s.timeStamp
                        stamps.append(int(s.timeStamp))
                except pynvml.NVMLError_NotFound:
                    not_found += 1
                except pynvml.NVMLError as exc:
                    return {"error": str(exc)}
                time.sleep(0.02)
        finally:
            pynvml.nvmlShutdown()
            child.wait(timeout=30)
    distinct = sorted(set(stamps))
    gaps = [b - a for a, b in itertools.pairwise(distinct)]
    return {"calls": calls, "not_found": not_found, "distinct_samples": len(distinct),
            "period_us_median": sorted(gaps)[len(gaps) // 2] if gaps else None,
            "period_us_min": min(gaps) if gaps else None}


TRACKED = "import os, time, torch, wattprint\n" + MATMUL + """
with wattprint.track(project="gpu-check", name=os.environ["NAME"], interval_s=0.05,
                     attribution="process") as run:
    matmul_for(int(os.environ["SIZE"]), float(os.environ["SECONDS_TO_RUN"]))
"""


def shares(seconds: float = 12.0) -> dict[str, Any]:
    """Two tracked processes on one GPU: share rules and attributed energy against the counter."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        before = _gpu_counter_j()
        procs = [subprocess.Popen([sys.executable, "-c", TRACKED], env={
            **_env(home), "SIZE": str(size), "NAME": name, "SECONDS_TO_RUN": str(seconds)})
            for name, size in (("heavy", 8192), ("light", 1024))]
        codes = [p.wait(timeout=seconds + 120) for p in procs]
        after = _gpu_counter_j()
        runs = _runs(home)
    out: dict[str, Any] = {"exit_codes": codes, "counter_delta_j": after - before, "runs": []}
    gpu_total = attributed_total = 0.0
    for run in runs:
        gpus = [d for d in run["devices"] if d["kind"] == "gpu"]
        entry = {"name": run["name"], "status": run["status"],
                 "gpu_energy_j": sum(d["energy_j"] for d in gpus),
                 "gpu_attributed_j": sum(d["attributed_j"] for d in gpus),
                 "share_rules": (run.get("info") or {}).get("share_rules")}
        gpu_total += entry["gpu_energy_j"]
        attributed_total += entry["gpu_attributed_j"]
        out["runs"].append(entry)
    out["sum_whole_device_over_counter"] = (gpu_total / out["counter_delta_j"]
                                            if out["counter_delta_j"] else None)
    out["sum_attributed_over_counter"] = (attributed_total / out["counter_delta_j"]
                                          if out["counter_delta_j"] else None)
    return out


RANK = "import os, time, torch, wattprint\n" + MATMUL + """
with wattprint.track(project="gpu-check", name="rank" + os.environ.get("RANK", "?"),
                     interval_s=0.1):
    matmul_for(4096, 10)
"""


def ranks() -> dict[str, Any]:
    """torchrun with 2 ranks on one GPU: how many times the GPU is counted."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        script = Path(tmp) / "rank.py"
        script.write_text(RANK)
        env = {**_env(home), "CUDA_VISIBLE_DEVICES": "0"}
        before = _gpu_counter_j()
        r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                            "--nproc_per_node", "2", str(script)], env=env,
                           capture_output=True, text=True, timeout=240)
        after = _gpu_counter_j()
        runs = _runs(home)
    gpu_j = sum(d["energy_j"] for run in runs for d in run["devices"] if d["kind"] == "gpu")
    delta = after - before
    return {"returncode": r.returncode, "stderr_tail": r.stderr[-600:], "runs": len(runs),
            "job_ids": sorted({str(run.get("job_id")) for run in runs}),
            "counter_delta_j": delta, "sum_gpu_energy_j": gpu_j,
            "gpu_counted_times": gpu_j / delta if delta else None}


LONG = """
import time, torch, wattprint
with wattprint.track(project="gpu-check", name="sigterm", interval_s=0.05):
    x = torch.randn(4096, 4096, device="cuda")
    print("ready", flush=True)
    while True:
        y = x @ x
        torch.cuda.synchronize()
"""


def signals() -> dict[str, Any]:
    """SIGTERM to a tracked GPU loop: exit time, exit code, stored status."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        p = subprocess.Popen([sys.executable, "-c", LONG],
                             env=_env(home), stdout=subprocess.PIPE, text=True)
        assert p.stdout is not None
        p.stdout.readline()
        time.sleep(3.0)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            code = p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            code = None
        exit_s = time.monotonic() - t0
        runs = _runs(home)
    run = runs[-1] if runs else {}
    return {"exit_code": code, "exit_s": exit_s, "status": run.get("status"),
            "error": run.get("error"), "stored_exit_code": run.get("exit_code")}


LIGHTNING = """
import torch, wattprint
from torch.utils.data import DataLoader, TensorDataset
try:
    import lightning as L
except ImportError:
    import pytorch_lightning as L
from wattprint.integrations.lightning import WattprintCallback

class Net(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(512, 2048), torch.nn.ReLU(),
                                       torch.nn.Linear(2048, 10))
    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("loss", loss)
        return loss
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

data = DataLoader(TensorDataset(torch.randn(20000, 512), torch.randint(0, 10, (20000,))),
                  batch_size=256)
cb = WattprintCallback(project="gpu-check")
L.Trainer(max_epochs=2, accelerator="gpu", devices=1, callbacks=[cb], logger=False,
          enable_checkpointing=False, enable_progress_bar=False).fit(Net(), data)
"""


def lightning() -> dict[str, Any]:
    """A 2-epoch fit on the GPU with the callback, if the integration exists."""
    if not (SRC / "wattprint" / "integrations" / "lightning.py").exists():
        return {"skipped": "no wattprint.integrations.lightning in this tree"}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        r = subprocess.run([sys.executable, "-c", LIGHTNING], env=_env(home),
                           capture_output=True, text=True, timeout=240)
        runs = _runs(home)
    return {"returncode": r.returncode, "stderr_tail": r.stderr[-800:],
            "runs": [{"name": run["name"], "status": run["status"],
                      "devices": [(d["kind"], round(d["energy_j"], 1)) for d in run["devices"]]}
                     for run in runs]}


BENCH_WORK = """
import sys, torch
batch = int(sys.argv[1])
x = torch.randn(batch, 2048, device="cuda")
w = torch.randn(2048, 2048, device="cuda")
for _ in range(400):
    x = torch.tanh(x @ w)
torch.cuda.synchronize()
print("WATTPRINT_UNITS", 400 * batch, "sample")
"""


def bench() -> dict[str, Any]:
    """``wattprint bench --devices 0`` over two batch sizes: figures and fingerprint."""
    if not (SRC / "wattprint" / "decide" / "bench.py").exists():
        return {"skipped": "no wattprint.decide.bench in this tree"}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "work.py"
        script.write_text(BENCH_WORK)
        r = subprocess.run([sys.executable, "-m", "wattprint", "bench", "--devices", "0",
                            "--grid", "batch=256,2048", "--warmup", "1", "--repeat", "2",
                            "--interval", "0.1", "--json", "-q", "--", sys.executable,
                            str(script), "{batch}"], env=_env(Path(tmp) / "home"),
                           capture_output=True, text=True, timeout=240)
    if r.returncode != 0:
        return {"returncode": r.returncode, "stderr_tail": r.stderr[-800:]}
    doc = json.loads(r.stdout)
    return {"hardware": doc["hardware"], "configs": [
        {"label": c["label"], "basis": c["basis"], "energy_j_per_unit": c["energy_j_per_unit"],
         "throughput_per_s": c["throughput_per_s"], "pareto": c["pareto"],
         "devices": [(d["kind"], d["name"], round(d["energy_j"], 1)) for d in c["devices"]]}
        for c in doc["configs"]]}


CHECKS = {"driver_samples": driver_samples, "shares": shares, "ranks": ranks,
          "signals": signals, "lightning": lightning, "bench": bench}


def run_all() -> dict[str, Any]:
    """Every check, each isolated: an exception is reported, never raised."""
    out: dict[str, Any] = {}
    for name, check in CHECKS.items():
        t0 = time.monotonic()
        try:
            out[name] = check()
        except Exception as exc:  # report and go on
            out[name] = {"error": repr(exc)}
        out[name]["wall_s"] = round(time.monotonic() - t0, 1)
        print(f"{name}: {json.dumps(out[name], default=str)[:400]}", file=sys.stderr, flush=True)
    return out


if __name__ == "__main__":
    print(json.dumps(run_all(), indent=2, default=str))
