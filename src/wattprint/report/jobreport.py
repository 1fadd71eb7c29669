"""The appendix of a distributed job (``wattprint report JOB``): Markdown, HTML and JSON.

A job's appendix is its document (:func:`~wattprint.report.jobview.job_document`)
with the accounting choices it was made with: the totals, the wall span,
energy and carbon by node (each node accounted in its own region, so a job
spread over two sites says which grid each part used), by rank (who
measured) and by device, one line per measuring run with its region,
intensity and PUE, and rank 0's metrics and units. A partial job (a node
whose runs ended without stopping) says so at the top; what the node
measured is counted. The JSON form embeds everything the renderings show.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wattprint.report.appendix import accounting_block, json_safe
from wattprint.report.jobview import JOB_SCHEMA, job_document
from wattprint.store import Store
from wattprint.units import DEFAULT_PRECISION, format_duration_s, j_to_kwh

__all__ = ["job_appendix", "job_html", "job_markdown"]


def job_appendix(store: Store, job_id: str, opts: Any = None,
                 metrics_rank: int | None = None) -> dict[str, Any]:
    """The appendix document of a job (schema ``wattprint.appendix.job/1``).

    Args:
        store: the store.
        job_id: a resolved job id.
        opts: :class:`~wattprint.accounting.account.AccountingOptions`.
        metrics_rank: whose metrics and units (default rank 0).

    Raises:
        RunNotFound: no such job.
        RegionError: a run's region is unknown.
        IntensityError: the intensity source cannot be used.
    """
    from wattprint.accounting.account import AccountingOptions

    opts = opts or AccountingOptions()
    doc = job_document(store, job_id, opts, metrics_rank=metrics_rank)
    return dict(json_safe({"schema": JOB_SCHEMA, "kind": "job",
                           "accounting": accounting_block(opts), **doc}))


def _num(value: Any, precision: int) -> str:
    if value is None:
        return "—"
    from wattprint.report.appendix import fmt_num

    return str(fmt_num(float(value), precision))


def _rank(value: Any) -> str:
    return "—" if value is None else str(value)


def _sections(doc: Mapping[str, Any], p: int) -> list[tuple[str, list[str], list[list[str]]]]:
    """Titles, headers and cells of the appendix's tables, shared by both renderings."""
    fp = doc["footprint"]
    totals = [
        ["status", doc["status"] + (" (final)" if doc["final"] else "")],
        ["launcher", doc["launcher"] or "—"],
        ["nodes", str(len(doc["nodes"]))], ["ranks", str(doc["ranks"])],
        ["runs", str(doc["runs"])],
        ["started (UTC)", doc["started_at"]], ["ended (UTC)", doc["ended_at"] or "—"],
        ["wall span", "—" if doc["wall_s"] is None else format_duration_s(doc["wall_s"], p)],
        ["device energy (kWh)", _num(doc["energy_kwh"], p)],
    ]
    totals += [[f"energy, {t} (kWh)", _num(fp["energy_kwh"][t], p)]
                for t in ("dynamic", "idle", "infrastructure", "total")]
    totals += [[f"CO2e, {t} (kg)", _num(fp["co2e_kg"][t], p)]
               for t in ("dynamic", "idle", "infrastructure", "embodied", "total")]
    nodes = [[d["node"], ", ".join(d["regions"]) or "—", str(len(d["ranks"])),
              _num(j_to_kwh(d["energy_j"]), p), _num(d["co2e_kg"], p),
              "ended without stopping" if d.get("dead") else ""] for d in doc["by_node"]]
    ranks = [[_rank(d["rank"]), d["node"], d["status"], _num(j_to_kwh(d["energy_j"]), p),
              _num(d["co2e_kg"], p)] for d in doc["by_rank"]]
    devices = [[d["node"], d["device_id"], d["kind"] or "", "measured" if d["measured"]
                else "estimated", ", ".join(_rank(r) for r in d["measured_by"]),
                _num(j_to_kwh(d["energy_j"]), p)] for d in doc["by_device"]]
    runs = [[r["run_id"], r["node"], _rank(r["rank"]), r["region"],
             f"{_num(r['intensity_g_per_kwh'], p)} ({r['intensity_source']}, "
             f"{r['intensity_method']})", _num(r["pue"], p), _num(r["energy_kwh"]["total"], p),
             _num(r["co2e_kg"]["total"], p)] for r in doc["accounted"]]
    out = [("Totals", ["quantity", "value"], totals),
           ("By node", ["node", "region", "ranks", "energy (kWh)", "CO2e (kg)", "note"], nodes),
           ("By rank (who measured)", ["rank", "node", "status", "energy (kWh)", "CO2e (kg)"],
            ranks),
           ("By device", ["node", "device", "kind", "basis", "measured by rank",
                          "energy (kWh)"], devices),
           ("Accounting of each measuring run", ["run", "node", "rank", "region",
                                                 "intensity (gCO2e/kWh)", "PUE",
                                                 "energy with PUE (kWh)", "CO2e (kg)"], runs)]
    if doc["metrics"] or doc["units"]:
        rows = [[m["name"], _num(m["value"], p), _rank(m.get("step"))] for m in doc["metrics"]]
        rows += [[f"unit: {u}", _num(c, p), ""] for u, c in doc["units"].items()]
        out.append((f"Metrics and units (rank {_rank(doc['metrics_from_rank'])})",
                    ["name", "value", "step"], rows))
    return out


def _partial_note(doc: Mapping[str, Any]) -> str | None:
    if not doc["partial"]:
        return None
    return (f"Partial job: node(s) {', '.join(doc['dead_nodes'])} ended without stopping; "
            "what they measured is kept and counted.")


def job_markdown(doc: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """The job appendix as Markdown."""
    from wattprint.report.render_md import data_block, table

    parts = [f"# Energy and carbon appendix: job {doc['job_id']}\n"]
    note = _partial_note(doc)
    if note:
        parts.append(f"> {note}\n")
    parts.append("Each node is accounted in its own region and hours; carbon is the sum of "
                 "the measuring runs' footprints.\n")
    for title, headers, rows in _sections(doc, precision):
        parts.append(f"## {title}\n\n{table(headers, rows, precision=precision)}")
    parts.append(data_block(doc, "the job document (JSON)"))
    return "\n".join(parts)


def job_html(doc: Mapping[str, Any], precision: int = DEFAULT_PRECISION) -> str:
    """The job appendix as one self-contained HTML page."""
    from html import escape

    from wattprint.report.render_html import html_table, page

    body = [f"<h1>Energy and carbon appendix: job {escape(str(doc['job_id']))}</h1>\n"]
    note = _partial_note(doc)
    if note:
        body.append(f'<p class="note"><strong>{escape(note)}</strong></p>\n')
    body.append("<p>Each node is accounted in its own region and hours; carbon is the sum "
                "of the measuring runs' footprints.</p>\n")
    for title, headers, rows in _sections(doc, precision):
        body.append(f"<h2>{escape(title)}</h2>\n")
        body.append(html_table(headers, rows, precision=precision))
    return page(f"job {doc['job_id']}", "".join(body), doc)
