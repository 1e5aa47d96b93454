"""SMS text encoding: GSM-7 or UCS-2, segment count, GSM-7-preserving rewrite of accents."""

from __future__ import annotations

import math
from dataclasses import dataclass

#: GSM 03.38 basic character set (one septet each)
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: GSM 03.38 extension table (escape + character: two septets each)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
_GSM7 = GSM7_BASIC | GSM7_EXTENSION

#: letters and signs outside GSM-7 that French text uses, and their GSM-7 stand-ins
#: (é, è, à, ù, É, Ç… are in GSM-7 and are kept)
_REWRITE = {
    "â": "a",
    "ê": "e",
    "ë": "e",
    "î": "i",
    "ï": "i",
    "ô": "o",
    "û": "u",
    "ÿ": "y",
    "ç": "c",
    "á": "a",
    "í": "i",
    "ó": "o",
    "ú": "u",
    "À": "A",
    "Â": "A",
    "È": "E",
    "Ê": "E",
    "Ë": "E",
    "Î": "I",
    "Ï": "I",
    "Ô": "O",
    "Ù": "U",
    "Û": "U",
    "Œ": "OE",
    "œ": "oe",
    "’": "'",
    "‘": "'",
    "«": '"',
    "»": '"',
    "“": '"',
    "”": '"',
    "–": "-",
    "—": "-",
    "…": "...",
    "\u00a0": " ",
    "\u202f": " ",
}
_TABLE = str.maketrans(_REWRITE)


@dataclass(frozen=True)
class SmsText:
    """An SMS ready to send: its text, encoding and number of segments."""

    text: str
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)


def is_gsm7(text: str) -> bool:
    return _GSM7.issuperset(text)


def rewrite_for_gsm7(text: str) -> str:
    """Replace the accented letters and typographic signs outside GSM-7 by close GSM-7 ones."""
    return text.translate(_TABLE)


def measure(text: str) -> SmsText:
    """Encoding and segments: GSM-7 160 per single SMS / 153 per part; UCS-2 70 / 67."""
    if is_gsm7(text):
        # one septet each, and one more for each character of the extension table (escape)
        units = len(text) + sum(text.count(ch) for ch in GSM7_EXTENSION.intersection(text))
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else math.ceil(units / part)
    return SmsText(text=text, encoding=encoding, segments=segments, units=units)


def prepare_sms(text: str, *, rewrite: bool = True) -> SmsText:
    """The text as it will be sent (rewritten for GSM-7 unless disabled) and its measure."""
    return measure(rewrite_for_gsm7(text) if rewrite else text)
