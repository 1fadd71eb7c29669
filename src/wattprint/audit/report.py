"""Renderings of an audit document: terminal text, Markdown, HTML and JSON.

Pure functions: the document (:mod:`wattprint.audit.analysis`,
:mod:`wattprint.audit.imageaudit`) in, a string out; only the CLI writes.
Sizes, energies and masses are shown with :mod:`wattprint.units`' human
formatting (three significant figures, SI units). The HTML page is the
house's self-contained page (:func:`wattprint.report.render_html.page`: no
script, no network, the document embedded as JSON) with a bar plot of the
bytes by package and status: matplotlib SVG when the ``report`` extra is
installed, else bars drawn in plain HTML.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from wattprint.units import (
    format_bytes,
    format_energy_j,
    format_mass_g,
    format_number,
    kwh_to_j,
)

#: how many packages the text renderings list per status
TOP = 15

_COLOURS = {"unused": "#d1495b", "dependency": "#edae49", "used": "#2e933c"}


def _pct(share: float) -> str:
    return f"{share * 100:.1f} %"


def _duration(seconds: float) -> str:
    return f"{format_number(seconds)} s"


def _title(doc: Mapping[str, Any]) -> str:
    if doc["kind"] == "image":
        img = doc["image"]
        name = ", ".join(img["tags"]) or img["archive"]
        return (f"image {name}: {img['layers']} layers, {format_bytes(img['size_bytes'])} "
                f"({format_bytes(img['compressed_bytes'])} compressed)")
    py = doc["python"]
    return f"environment of {py.get('executable', '?')} (Python {py.get('version', '?')})"


def _status_lines(doc: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    totals = doc["totals"] if doc["kind"] == "env" else doc["totals"]["python"]
    return [("unused", totals["unused_packages"], totals["unused_bytes"]),
            ("dependency", totals["dependency_packages"], totals["dependency_bytes"]),
            ("used", totals["used_packages"], totals["used_bytes"])]


def savings_sentence(doc: Mapping[str, Any]) -> str | None:
    """"Debloating saves X GB, Y s and Z g CO2e per deployment", or ``None`` without costs."""
    costs = doc.get("costs")
    if not costs:
        return None
    saved = costs["saved_per_provisioning"]
    return (f"debloating saves {format_bytes(saved['size_bytes'])}, "
            f"{_duration(saved['transfer_s'])}, "
            f"{format_energy_j(kwh_to_j(saved['energy_kwh']))} and "
            f"{format_mass_g(saved['co2e_g'])} CO2e per deployment")


def _cost_lines(doc: Mapping[str, Any]) -> list[str]:
    costs = doc.get("costs")
    if not costs:
        return []
    f, now = costs["factors"], costs["per_provisioning"]
    return [
        f"per provisioning now: {format_bytes(now['size_bytes'])}, "
        f"{_duration(now['transfer_s'])} at {format_number(f['bandwidth_mbps'])} Mbit/s, "
        f"{format_energy_j(kwh_to_j(now['energy_kwh']))}, {format_mass_g(now['co2e_g'])} CO2e",
        f"factors: network {f['network_kwh_per_gb']:g} kWh/GB, storage "
        f"{f['storage_kwh_per_gb_h']:g} kWh/GB-h for {f['keep_h']:g} h, grid "
        f"{f['intensity_g_per_kwh']:.4g} gCO2e/kWh ({f['region']})",
    ]


def _package_line(row: Mapping[str, Any]) -> str:
    text = f"  {row['name']} {row['version']}: {format_bytes(row['size_bytes'])}"
    if row["status"] == "used" and row.get("unopened_bytes"):
        kinds = ", ".join(f"{k} {format_bytes(v)}"
                          for k, v in list(row["unopened_by_kind"].items())[:4] if v)
        text += f", {format_bytes(row['unopened_bytes'])} never opened ({kinds})"
    elif row["status"] == "dependency" and row.get("required_by"):
        text += f", required by {', '.join(row['required_by'][:3])}"
    return text


def render_text(doc: Mapping[str, Any]) -> str:
    """The terminal summary: totals, the largest unused packages, used ones, costs, warnings."""
    t = doc["totals"]
    lines = [f"wattprint audit: {_title(doc)}"]
    if doc["kind"] == "image":
        lines.append(f"unused: {format_bytes(t['unused_bytes'])} of "
                     f"{format_bytes(t['size_bytes'])} ({_pct(t['bloat_share'])} bloat); "
                     f"opened {format_bytes(t['opened_bytes'])}; hidden by later layers "
                     f"{format_bytes(t['shadowed_bytes'])}")
        for name, cell in doc["categories"].items():
            if cell["files"]:
                lines.append(f"  {name}: {cell['files']} files, {format_bytes(cell['size_bytes'])}"
                             f", {format_bytes(cell['unused_bytes'])} unused")
        lines.append(f"OS packages: {t['os']['packages']}, {t['os']['unused_packages']} unused "
                     f"({format_bytes(t['os']['unused_bytes'])})")
        lines.append("Python packages:")
    else:
        lines.append(f"{t['packages']} packages, {format_bytes(t['size_bytes'])}: "
                     f"{format_bytes(t['unused_bytes'])} unused ({_pct(t['bloat_share'])} of "
                     f"bytes, {_pct(t['bloat_share_count'])} of packages)")
    for status, count, size in _status_lines(doc):
        lines.append(f"  {status}: {count} packages, {format_bytes(size)}")
    file_bloat = t["file_bloat_bytes"]
    if file_bloat:
        lines.append(f"  never opened inside used packages: {format_bytes(file_bloat)}")
    for status, heading in (("unused", "largest unused packages"),
                            ("dependency", "kept as dependencies"), ("used", "used packages")):
        rows = [r for r in doc["packages"] if r["status"] == status]
        if rows:
            lines.append(f"{heading}:")
            lines += [_package_line(r) for r in rows[:TOP]]
            if len(rows) > TOP:
                lines.append(f"  ... and {len(rows) - TOP} more")
    lines += _cost_lines(doc)
    sentence = savings_sentence(doc)
    if sentence:
        lines.append(sentence)
    lines += [f"warning: {w}" for w in doc["warnings"]]
    return "\n".join(lines) + "\n"


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def render_markdown(doc: Mapping[str, Any]) -> str:
    """The audit as a Markdown report."""
    t = doc["totals"]
    parts = [f"# Environment audit\n\n{_title(doc)}.\n",
             f"**Bloat: {format_bytes(t['unused_bytes'])} of {format_bytes(t['size_bytes'])} "
             f"({_pct(t['bloat_share'])})** never used by the traced workload.\n"]
    sentence = savings_sentence(doc)
    if sentence:
        parts.append(f"{sentence[0].upper()}{sentence[1:]}.\n")
    if doc["kind"] == "image":
        parts.append("## Layers\n\n" + _md_table(
            ("#", "created by", "compressed", "files", "size", "opened files", "opened",
             "hidden later"),
            [(r["index"] + 1, r["created_by"][:60], format_bytes(r["compressed_bytes"]),
              r["files"], format_bytes(r["size_bytes"]), r["opened_files"],
              format_bytes(r["opened_bytes"]), format_bytes(r["shadowed_bytes"]))
             for r in doc["layers"]]))
        parts.append("## What the image holds\n\n" + _md_table(
            ("category", "files", "size", "opened", "unused"),
            [(k, c["files"], format_bytes(c["size_bytes"]), format_bytes(c["opened_bytes"]),
              format_bytes(c["unused_bytes"])) for k, c in doc["categories"].items()]))
        if doc["os_packages"]:
            parts.append("## OS packages\n\n" + _md_table(
                ("package", "version", "status", "size", "files opened"),
                [(r["name"], r["version"], r["status"], format_bytes(r["size_bytes"]),
                  f"{r['used_files']}/{r['files']}") for r in doc["os_packages"]]))
    parts.append("## Python packages\n\n" + _md_table(
        ("package", "version", "status", "size", "never opened", "required by"),
        [(r["name"], r["version"], r["status"], format_bytes(r["size_bytes"]),
          format_bytes(r["unopened_bytes"]) if r["status"] == "used" else "",
          ", ".join(r["required_by"][:3])) for r in doc["packages"]]))
    if doc["file_bloat"]:
        parts.append("## Largest files never opened in used packages\n\n" + _md_table(
            ("package", "file", "kind", "size"),
            [(f["package"], f"`{f['path']}`", f["kind"], format_bytes(f["size_bytes"]))
             for f in doc["file_bloat"][:TOP]]))
    cost = _cost_lines(doc)
    if cost:
        parts.append("## Cost per provisioning\n\n" + "".join(f"- {c}\n" for c in cost))
    parts.append("## Caveats\n\n" + "".join(f"- {w}\n" for w in doc["warnings"]))
    parts.append("## Traced commands\n\n" + "".join(
        f"- `{' '.join(c)}`\n" for c in doc["trace"]["commands"]))
    return "\n".join(parts)


def _bars_html(rows: Sequence[Mapping[str, Any]]) -> str:
    biggest = max((r["size_bytes"] for r in rows), default=0) or 1
    items = []
    for r in rows:
        width = max(0.5, 100.0 * r["size_bytes"] / biggest)
        items.append(
            f'<div class="bar-row"><span class="bar-label">{escape(r["name"])}</span>'
            f'<span class="bar" style="width:{width:.1f}%;background:{_COLOURS[r["status"]]}">'
            f'</span><span class="bar-value">{escape(format_bytes(r["size_bytes"]))} '
            f'{escape(r["status"])}</span></div>')
    style = ("<style>.bar-row{display:flex;align-items:center;gap:.4rem;font-size:.8rem}"
             ".bar-label{width:12rem;text-align:right;overflow:hidden}"
             ".bar{display:inline-block;height:.8rem}.bar-value{white-space:nowrap}</style>")
    return style + "".join(items)


def _bars_svg(rows: Sequence[Mapping[str, Any]]) -> str | None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return None
    # the report package's figure and SVG helpers: same look, unique ids, text as paths
    from wattprint.report import plots

    fig = plots._figure(7.0, 0.9 + 0.25 * len(rows))
    ax = fig.add_subplot()
    names = [r["name"] for r in reversed(rows)]
    sizes_mb = [r["size_bytes"] / 1e6 for r in reversed(rows)]
    ax.barh(names, sizes_mb, color=[_COLOURS[r["status"]] for r in reversed(rows)])
    ax.set_xlabel("MB on disk (red unused, amber dependency, green used)", fontsize=8)
    plots._style(ax)
    return plots._svg(fig, "audit-bloat")


def render_html(doc: Mapping[str, Any], *, top: int = 30) -> str:
    """The audit as a self-contained HTML page with a bar plot of bytes by package."""
    from wattprint.report.render_html import html_table, page

    t = doc["totals"]
    rows = sorted(doc["packages"], key=lambda r: -r["size_bytes"])[:top]
    chart = _bars_svg(rows) if rows else None
    caption = f"The {len(rows)} largest Python packages by size and status"
    body = [f"<h1>Environment audit</h1>\n<p class=\"lead\">{escape(_title(doc))}: "
            f"<strong>{escape(format_bytes(t['unused_bytes']))} of "
            f"{escape(format_bytes(t['size_bytes']))} ({_pct(t['bloat_share'])})</strong> "
            "never used by the traced workload.</p>\n"]
    sentence = savings_sentence(doc)
    if sentence:
        body.append(f"<p>{escape(sentence[0].upper() + sentence[1:])}.</p>\n")
    if rows:
        figure = chart if chart is not None else _bars_html(rows)
        body.append(f'<figure role="img" aria-label="{escape(caption)}">{figure}'
                    f"<figcaption>{escape(caption)}</figcaption></figure>\n")
    if doc["kind"] == "image":
        body.append("<h2>Layers</h2>\n" + html_table(
            ("#", "created by", "compressed", "size", "files", "opened files", "hidden later"),
            [(r["index"] + 1, r["created_by"][:80], format_bytes(r["compressed_bytes"]),
              format_bytes(r["size_bytes"]), r["files"], r["opened_files"],
              format_bytes(r["shadowed_bytes"])) for r in doc["layers"]]))
        body.append("<h2>OS packages</h2>\n" + html_table(
            ("package", "version", "status", "size", "files opened"),
            [(r["name"], r["version"], r["status"], format_bytes(r["size_bytes"]),
              f"{r['used_files']}/{r['files']}") for r in doc["os_packages"]]))
    body.append("<h2>Python packages</h2>\n" + html_table(
        ("package", "version", "status", "size", "never opened", "required by"),
        [(r["name"], r["version"], r["status"], format_bytes(r["size_bytes"]),
          format_bytes(r["unopened_bytes"]) if r["status"] == "used" else "",
          ", ".join(r["required_by"][:3])) for r in doc["packages"]]))
    cost = _cost_lines(doc)
    if cost:
        body.append("<h2>Cost per provisioning</h2>\n<ul>"
                    + "".join(f"<li>{escape(c)}</li>" for c in cost) + "</ul>\n")
    body.append('<h2>Caveats</h2>\n<ul class="notes">'
                + "".join(f"<li>{escape(w)}</li>" for w in doc["warnings"]) + "</ul>\n")
    return page("wattprint environment audit", "".join(body), doc)


def render_json(doc: Mapping[str, Any]) -> str:
    """The document as JSON text (the ``wattprint.audit/1`` schema)."""
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render(doc: Mapping[str, Any], fmt: str) -> str:
    """Render in ``fmt``: ``text``, ``md``, ``html`` or ``json``."""
    renderers: dict[str, Callable[[Mapping[str, Any]], str]] = {
        "text": render_text, "md": render_markdown, "html": render_html, "json": render_json}
    return renderers[fmt](doc)


__all__ = ["TOP", "render", "render_html", "render_json", "render_markdown", "render_text",
           "savings_sentence"]
