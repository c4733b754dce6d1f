"""PDF primitives on fpdf2: headings, paragraphs, bullet lists, tables and images in one consistent style."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.fonts import FontFace

# DejaVu ships with matplotlib; a Unicode font lets names and units (°C, µs, –) print as they are.
FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FAMILY = "DejaVu"
HEAD_FILL = (226, 234, 244)
MUTED = (110, 118, 128)


class Document(FPDF):
    """An A4 report with a running header (title, period) and page numbers."""

    def __init__(self, title: str, subtitle: str) -> None:
        super().__init__(format="A4")
        self.report_title, self.report_subtitle = title, subtitle
        self.add_font(FAMILY, "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font(FAMILY, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(15, 15, 15)
        self.set_title(title)
        self.set_creator("iotpipe report")

    def header(self) -> None:
        """Title and period on every page but the first."""
        if self.page_no() == 1:
            return
        self.set_font(FAMILY, "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"{self.report_title} · {self.report_subtitle}", new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0)
        self.ln(2)

    def footer(self) -> None:
        """Page n of N."""
        self.set_y(-12)
        self.set_font(FAMILY, "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(0)

    def title_block(self, lines: Sequence[str]) -> None:
        """The first page's title, then smaller lines under it."""
        self.set_font(FAMILY, "B", 18)
        self.cell(0, 10, self.report_title, new_x="LMARGIN", new_y="NEXT")
        self.set_font(FAMILY, "", 10)
        for line in lines:
            self.cell(0, 5.5, line, new_x="LMARGIN", new_y="NEXT")
        self.ln(3)

    def heading(self, text: str, level: int = 1) -> None:
        """A section (level 1) or sub-section heading, kept with what follows it."""
        if self.will_page_break(75 if level == 1 else 30):  # a section heading keeps its first chart with it
            self.add_page()
        self.ln(3 if level == 1 else 1)
        self.set_font(FAMILY, "B", 13 if level == 1 else 10.5)
        self.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        if level == 1:
            self.start_section(text)

    def para(self, text: str, size: float = 9.5, muted: bool = False) -> None:
        """A paragraph of running text."""
        self.set_font(FAMILY, "", size)
        if muted:
            self.set_text_color(*MUTED)
        self.multi_cell(0, 4.8, text, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0)
        self.ln(1)

    def bullets(self, lines: Sequence[str]) -> None:
        """A bullet list."""
        self.set_font(FAMILY, "", 9.5)
        for line in lines:
            self.cell(5, 4.8, "•")
            self.multi_cell(0, 4.8, line, new_x="LMARGIN", new_y="NEXT")
            self.ln(0.8)

    def grid(self, headers: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float] | None = None,
             numeric_from: int = 1) -> None:
        """A table: a shaded heading row, then rows; columns from `numeric_from` on are right-aligned."""
        self.set_font(FAMILY, "", 8)
        align = ["LEFT"] * numeric_from + ["RIGHT"] * (len(headers) - numeric_from)
        with self.table(col_widths=widths, text_align=align, line_height=4.6, padding=0.8,
                        headings_style=FontFace(emphasis="BOLD", fill_color=HEAD_FILL),
                        borders_layout="HORIZONTAL_LINES", first_row_as_headings=True) as table:
            for row in [headers, *rows]:
                cells = table.row()
                for value in row:
                    cells.cell(str(value))
        self.ln(2)

    def picture(self, png: bytes, width: float = 180.0) -> None:
        """A chart, on a new page when it would not fit."""
        from PIL import Image

        with Image.open(io.BytesIO(png)) as img:
            height = width * img.height / img.width
        if self.will_page_break(height):
            self.add_page()
        self.image(io.BytesIO(png), w=width)
        self.ln(2)
