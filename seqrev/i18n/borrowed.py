"""Words of chart builders that do not take them through ``_()`` themselves, marked here so
Babel extracts them; :func:`seqrev.i18n.figures.translate_figure` translates them on a finished
figure. A placeholder ({kind}) matches any text, itself translated when the catalogue has it;
``%{x}`` is plotly's own hover field and stays as it is.

Empty now: every chart module (``seqrev/charts/*``) and the tasks' outline rules mark their
words themselves. Add an entry only for a builder that cannot, and remove it once it does.
"""

# whole texts
WORDS: tuple[str, ...] = ()

# texts with a part that varies; the part is matched by the placeholder
TEMPLATES: tuple[str, ...] = ()
