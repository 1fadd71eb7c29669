"""Terminal tables that fit the window: ids and figures whole, text wrapped, long text as notes.

Every table the CLI prints goes through :func:`print_table`. Columns are of
three kinds:

* ``id`` -- run ids, device ids, region codes: never wrapped, never cut;
* ``num`` -- figures (already formatted by :mod:`wattprint.units`): right
  aligned, never wrapped, never cut;
* ``text`` -- names, reasons: wrapped (folded inside a long word) into the
  width left over.

Long explanations (a sensor's power model, a data source) do not belong in
a cell: a command puts them in :class:`Notes`, the cell shows a marker such
as ``[1]``, and the notes are printed under the table. ``--wide`` shows
everything inline instead, as wide as it needs to be (for logs and wide
terminals). ``--precision N`` sets the significant figures of the figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from wattprint.units import DEFAULT_PRECISION

if TYPE_CHECKING:
    from rich.console import Console

WideOpt = Annotated[bool, typer.Option(
    "--wide", help="Show every column and note inline, however wide the table gets.")]
PrecisionOpt = Annotated[int, typer.Option(
    "--precision", min=1, max=17,
    help=f"Significant figures of the figures shown (default {DEFAULT_PRECISION}); "
         "--json always gives full precision.")]

#: The narrowest a wrapped text column is made.
_MIN_TEXT = 6
#: Width between two columns (one space of padding and one of divider).
_GAP = 2


@dataclass(frozen=True)
class Column:
    """One column of a terminal table: its header and kind (``id``, ``num`` or ``text``)."""

    header: str
    kind: str = "text"


class Notes:
    """Numbered notes under a table; the same text gets the same number."""

    def __init__(self) -> None:
        """An empty list of notes."""
        self.texts: list[str] = []

    def mark(self, text: str) -> str:
        """The marker (``[1]``...) of ``text``, adding it as a note the first time."""
        if text not in self.texts:
            self.texts.append(text)
        return f"[{self.texts.index(text) + 1}]"

    def lines(self) -> list[str]:
        """The notes as ``[n] text`` lines."""
        return [f"[{n}] {text}" for n, text in enumerate(self.texts, start=1)]


def _cell_width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.split("\n")), default=0)


def print_table(console: Console, title: str, columns: Sequence[Column],
                rows: Sequence[Sequence[str]], *, notes: Notes | None = None,
                wide: bool = False, sections: Sequence[int] = ()) -> None:
    """Print a table that fits ``console``'s width without cutting an id or a figure.

    Args:
        console: where to print (its width is the limit unless ``wide``).
        title: the line above the table.
        columns: the columns, in order.
        rows: the cells, as text.
        notes: notes to print under the table.
        wide: no width limit: nothing wraps.
        sections: row indices before which a rule is drawn (e.g. the total).
    """
    from rich import box
    from rich.console import Console as RichConsole
    from rich.table import Table

    widths = [max([_cell_width(col.header)] + [_cell_width(r[i]) for r in rows])
              for i, col in enumerate(columns)]
    natural = sum(widths) + _GAP * (len(columns) - 1)
    limit = console.width
    text_cols = [i for i, col in enumerate(columns) if col.kind == "text"]
    share: dict[int, int] = {}
    if not wide and natural > limit and text_cols:
        fixed = sum(w for i, w in enumerate(widths) if i not in text_cols)
        room = limit - fixed - _GAP * (len(columns) - 1)
        # narrow columns keep their width; the rest share what is left evenly
        pending = sorted(text_cols, key=lambda i: widths[i])
        while pending:
            fair = max(_MIN_TEXT, room // len(pending))
            i = pending.pop(0)
            share[i] = min(widths[i], fair)
            room -= share[i]
    # the title is its own line: as the table's title it would wrap at the table's width
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for i, col in enumerate(columns):
        if col.kind == "text":
            table.add_column(col.header, overflow="fold", max_width=share.get(i),
                             no_wrap=wide)
        else:
            table.add_column(col.header, justify="right" if col.kind == "num" else "left",
                             no_wrap=True, min_width=widths[i])
    for n, row in enumerate(rows):
        if n in sections:
            table.add_section()
        table.add_row(*row)
    target = console
    if wide and natural > console.width:
        target = RichConsole(file=console.file, width=natural, highlight=False, markup=False,
                             color_system="auto" if console.color_system else None)
    if title:
        target.print(title, soft_wrap=wide, overflow="fold")
    target.print(table)
    if notes is not None:
        for line in notes.lines():
            target.print(line, soft_wrap=wide, overflow="fold")
