"""Lines more than one CLI command prints, in the current language."""

from __future__ import annotations

from seqrev.i18n import N_, _

WROTE = N_("wrote {path}")
COULD_NOT_WRITE = N_("could not write {path}: {problem}")


def scores_line(report) -> str:
    """Exact match, character accuracy and fine accuracy of an evaluation, on one line."""
    return _("exact match {exact}  char accuracy {char}  fine accuracy {fine}").format(
        exact=f"{report.exact_match:.2%}", char=f"{report.char_accuracy:.2%}",
        fine=f"{report.fine_accuracy:.2%}")
