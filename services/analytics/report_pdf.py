"""The monthly report drawn as a PDF (fpdf2, fonts from Debian's ``fonts-dejavu-core``): A4
pages of tables and bar charts drawn as vectors, so the server renders the charts itself.
The content is ``services.analytics.domain.report.Report``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, time
from pathlib import Path

from fpdf import FPDF

from services.analytics.domain.report import Chart, Report

#: where Debian's fonts-dejavu-core puts its fonts
DEFAULT_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT = "DejaVu"
COLORS = ((21, 128, 61), (29, 78, 216), (180, 83, 9), (126, 34, 206))
GREEN = (20, 83, 45)


class FontsMissing(RuntimeError):
    """The report's fonts are not where the settings say."""


def _check_fonts(font_dir: Path) -> tuple[Path, Path]:
    regular, bold = font_dir / "DejaVuSans.ttf", font_dir / "DejaVuSans-Bold.ttf"
    missing = [str(p) for p in (regular, bold) if not p.is_file()]
    if missing:
        raise FontsMissing(f"report fonts not found: {', '.join(missing)} (Debian package fonts-dejavu-core)")
    return regular, bold


class _Pdf(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.report_title = title

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 6, f"{self.report_title} — page {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0, 0, 0)


def render_pdf(report: Report, font_dir: Path = DEFAULT_FONT_DIR) -> bytes:
    """The report as PDF bytes."""
    regular, bold = _check_fonts(font_dir)
    pdf = _Pdf(report.title)
    pdf.set_title(report.title)
    pdf.set_author("Canopée Esprit Client")
    pdf.set_creator("Canopée analytics")
    # the report's month as its date: the same figures give the same bytes
    pdf.set_creation_date(datetime.combine(report.month, time(0), UTC))
    pdf.add_font(FONT, "", str(regular))
    pdf.add_font(FONT, "B", str(bold))
    pdf.set_auto_page_break(True, margin=16)
    pdf.alias_nb_pages()

    pdf.add_page()
    _title(pdf, report.title)
    _text(pdf, "Indicateurs du mois, comparés au mois précédent et au même mois de l'année précédente.")
    _table(
        pdf, ["Indicateur", *report.columns], [[label, *values] for label, values in report.headline], [70, 40, 40, 40]
    )
    pdf.add_page()
    _heading(pdf, "Graphiques")
    for chart in report.charts:
        _chart(pdf, chart)
    pdf.add_page()
    _heading(pdf, "Les quatre axes de la charte")
    for title, rows in report.axes:
        _subheading(pdf, title)
        _table(pdf, ["Indicateur", *report.columns], [[label, *values] for label, values in rows], [70, 40, 40, 40])
    if report.campaign_axes:
        _subheading(pdf, "Enquêtes de relation : note moyenne par axe (1–5)")
        _table(pdf, ["Enquête", "Axe", "Note moyenne"], [list(r) for r in report.campaign_axes], [60, 80, 50])
    if report.offices:
        _subheading(pdf, "Les offices comparés (pour 1 000 logements)")
        _table(
            pdf,
            ["Office", "Demandes", "Dem./1 000", "Dépass./1 000", "Réclam./1 000", "Détract./1 000", "Satisfaits %"],
            [list(r) for r in report.offices],
            [46, 22, 24, 26, 26, 26, 20],
        )
    pdf.add_page()
    _heading(pdf, "Les entreprises")
    _text(
        pdf,
        f"Réparations faites dans le mois, par entreprise ; rang donné à partir de {report.min_repairs} réparations "
        "(— : trop peu de réparations pour classer).",
    )
    if report.contractors:
        _table(
            pdf,
            [
                "Rang",
                "Entreprise",
                "Répar.",
                "Délais %",
                "Méd. h",
                "P90 h",
                "1er pass. %",
                "RDV manq.",
                "Reprises %",
                "Satisf. %",
                "Notes",
            ],
            [list(r) for r in report.contractors],
            [10, 40, 12, 15, 15, 16, 17, 17, 16, 15, 12],
            size=7,
        )
    else:
        _text(pdf, "Aucune réparation d'entreprise ce mois.")
    _heading(pdf, "Paroles de locataires")
    _text(pdf, report.words)
    for excerpt in report.word_excerpts:
        _text(pdf, f"• {excerpt}")
    _heading(pdf, "Alertes en retard")
    if report.alerts:
        _table(pdf, ["Alertes détracteurs du mois", "Nombre"], [list(a) for a in report.alerts], [120, 50])
    else:
        _text(pdf, "Aucune alerte ce mois.")
    return bytes(pdf.output())


def _title(pdf: FPDF, text: str) -> None:
    pdf.set_font(FONT, "B", 16)
    pdf.set_text_color(*GREEN)
    pdf.multi_cell(0, 8, text)
    pdf.set_text_color(0, 0, 0)
    pdf.ln(2)


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(2)
    pdf.set_font(FONT, "B", 13)
    pdf.set_text_color(*GREEN)
    pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


def _subheading(pdf: FPDF, text: str) -> None:
    pdf.ln(1)
    pdf.set_font(FONT, "B", 10.5)
    pdf.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")


def _text(pdf: FPDF, text: str) -> None:
    pdf.set_font(FONT, "", 9.5)
    pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _table(
    pdf: FPDF, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float], size: float = 9
) -> None:
    pdf.set_font(FONT, "B", size)
    pdf.set_fill_color(230, 240, 233)
    for text, width in zip(header, widths, strict=True):
        pdf.cell(width, 6, text, border=1, fill=True, align="C")
    pdf.ln()
    pdf.set_font(FONT, "", size)
    for row in rows:
        for i, (text, width) in enumerate(zip(row, widths, strict=True)):
            pdf.cell(width, 5.5, text, border=1, align="L" if i == 0 or (i == 1 and len(widths) > 8) else "R")
        pdf.ln()
    pdf.ln(2)


def _chart(pdf: FPDF, chart: Chart, height: float = 55) -> None:
    """A bar chart drawn with rectangles, with its legend and axis labels."""
    if pdf.get_y() + height + 22 > pdf.h - 16:
        pdf.add_page()
    _subheading(pdf, chart.title)
    values = [v for _, series in chart.series for v in series if v is not None]
    top = max(values) if values else 0.0
    if chart.unit == "%":
        top = 100.0
    elif top > 4:
        top = float(math.ceil(top / 4) * 4)  # whole-number grid lines
    top = top or 1.0
    x0, y0 = pdf.l_margin + 12, pdf.get_y() + 2
    width = pdf.w - pdf.l_margin - pdf.r_margin - 14
    pdf.set_draw_color(150, 150, 150)
    pdf.set_font(FONT, "", 6.5)
    for i in range(5):  # horizontal grid and its labels
        y = y0 + height - height * i / 4
        pdf.line(x0, y, x0 + width, y)
        pdf.set_xy(x0 - 12, y - 2)
        pdf.cell(11, 4, _tick(top * i / 4), align="R")
    n = max(1, len(chart.categories))
    slot = width / n
    bar = slot * 0.8 / max(1, len(chart.series))
    for s, (_, series) in enumerate(chart.series):
        pdf.set_fill_color(*COLORS[s % len(COLORS)])
        for i, value in enumerate(series):
            if value is None or value <= 0:
                continue
            h = height * min(value, top) / top
            pdf.rect(x0 + i * slot + slot * 0.1 + s * bar, y0 + height - h, bar, h, style="F")
    step = max(1, n // 16)
    for i, category in enumerate(chart.categories):
        if i % step == 0:
            pdf.set_xy(x0 + i * slot, y0 + height + 0.5)
            pdf.cell(slot * step, 4, category, align="C" if step == 1 else "L")
    pdf.set_xy(x0, y0 + height + 5)
    for s, (label, _) in enumerate(chart.series):
        pdf.set_fill_color(*COLORS[s % len(COLORS)])
        pdf.rect(pdf.get_x(), pdf.get_y() + 1, 3, 3, style="F")
        pdf.set_x(pdf.get_x() + 4)
        pdf.cell(pdf.get_string_width(label) + 6, 5, label)
    pdf.set_y(y0 + height + 12)


def _tick(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}".replace(".", ",")
