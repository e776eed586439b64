"""Words of chart builders that do not take them through ``_()`` yet, marked here so Babel
extracts them; :func:`seqrev.i18n.figures.translate_figure` translates them on a finished
figure. A placeholder ({kind}) matches any text, itself translated when the catalogue has it;
``%{x}`` is plotly's own hover field and stays as it is.

Remove an entry once its chart module (``seqrev/charts/attention.py``, ``training.py``,
``sweep.py``; the tasks' outline rules) marks its words itself.
"""

from seqrev.i18n.catalog import N_

# whole texts
WORDS = (
    # seqrev/charts/attention.py
    N_("forced"), N_("model's own"), N_("outside training"), N_("selected step"), N_("cells"),
    N_("weight"), N_("step: output"), N_("Probability of the right letter, step by step"),
    N_("decode step"), N_("p(expected token)"), N_("Exact match by input length"),
    N_("input length (letters)"), N_("strings fully right"),
    N_("Error rate by output position"), N_("output position (0 = first written)"),
    N_("letters wrong"), N_("the letters each step should read"),
    N_("output %{y}<br>reads input %{x}<br>weight %{z:.3f}<extra></extra>"),
    N_("output %{y}<br>reads input %{x}<br>weight %{customdata[2]:.3f}<extra></extra>"),
    # seqrev/charts/training.py
    N_("Training loss"), N_("Held-out accuracy"), N_("Speed"),
    N_("faint: each step · bold: smoothed"), N_("cross-entropy per symbol (log)"),
    N_("no steps yet"), N_("solid: exact match · dotted: characters"), N_("accuracy"),
    N_("no evaluation yet"), N_("step"), N_("steps per second"), N_("%{y:.1f} steps/s"),
    # seqrev/charts/__init__.py: the Home page's table (HEADLINE_COLUMNS)
    N_("model"), N_("kind"), N_("score"), N_("hidden"), N_("lengths"), N_("steps"), N_("time"),
    N_("exact (10)"), N_("chars (10)"), N_("exact (train)"), N_("The checkpoint's name."),
    N_("plain or attention"), N_("The attention score function."), N_("The GRU's hidden size."),
    N_("The string lengths it was trained on."), N_("Optimizer steps it was trained for."),
    N_("Wall time of its training."), N_("Exact match on fresh strings of length 10."),
    N_("Character accuracy on fresh strings of length 10."),
    N_("Exact match on fresh strings of its training lengths."),
    # seqrev/charts/sweep.py
    N_("no finished trials yet"), N_("training max"), N_("test length (letters)"),
    N_("hidden size"), N_("exact"), N_("length N (letters)"), N_("smallest hidden size"),
)

# texts with a part that varies; the part is matched by the placeholder
TEMPLATES = (
    N_("textbook outline: {rule}"),
    N_("the model's own diagonal: the outline shifted {offset}"),
    N_("{kind}: %{y:.1%} of %{customdata}<extra></extra>"),
    N_("{kind}: %{y:.1%} wrong of %{customdata}<extra></extra>"),
    N_("{run}: step %{x} wrote %{customdata}, p(right) %{y:.3f}<extra></extra>"),
    N_("{kind} raw"), N_("{kind} exact match"), N_("{kind} characters"),
    N_("{kind}: none reaches {threshold}"),
    N_("{kind}<br>length %{x}<br>smallest hidden %{y}<extra></extra>"),
    N_("{kind}<br>length %{x}<br>no hidden size in the sweep reaches {threshold}"
       "<extra></extra>"),
    N_("Smallest hidden size reaching {threshold} exact match at length N"),
    N_("{kind}: exact match by test length and hidden size"),
    N_("no hidden size in the sweep reaches {threshold} yet"),
)
