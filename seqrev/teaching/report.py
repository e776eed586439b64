"""A lab report: one self-contained HTML file a student hands in beside their code.

It holds the model's settings, its training curves, exact match by length, one attention
heatmap (attention models) and ten lines in the lab's printout format on fresh random strings.
plotly.js is embedded once, so the file opens offline. Every piece of text that a user chose
(a checkpoint's name, a run's id) is HTML-escaped.

Its headings, prose and figures are in the current language (``seqrev.i18n``); the lab's
printout lines are the same in every language.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import plotly.graph_objects as go

import seqrev.training.settings as settings
from seqrev.charts.attention import exact_match_figure, trace_heatmap
from seqrev.charts.training import accuracy_figure, loss_figure
from seqrev.decoding.evaluation import evaluate_by_length, greedy_batch
from seqrev.decoding.search import decode_text
from seqrev.i18n import N_, _, current_language
from seqrev.i18n.figures import translate_figure
from seqrev.models.seq2seq import ModelConfig, Seq2Seq
from seqrev.runs.history import HistoryView
from seqrev.runs.smoothing import ema
from seqrev.tasks.data import lab_line
from seqrev.tasks.registry import DEFAULT_TASK, make_task
from seqrev.tasks.vocab import decode
from seqrev.training.trainer import TrainConfig

SAMPLE_LINES = 10
LAB_LENGTH = 10  # the lab's test printout uses strings of this length
BY_LENGTH_STRINGS = 100  # fresh strings per length when the report measures by length itself


@dataclass(frozen=True)
class ReportInput:
    """What a report is made of; ``from_checkpoint`` and ``from_run`` fill it."""

    title: str  # "checkpoint attention", "run r2x7k9q4mz": user text, escaped when written
    model: Seq2Seq
    model_config: ModelConfig
    train_config: TrainConfig | None
    history: HistoryView | None  # the training curves, when known
    by_length: pd.DataFrame | None  # columns length, n, exact_match, char_accuracy
    steps_done: int | None = None
    training_seconds: float | None = None


def sample_lengths(train_config: TrainConfig | None) -> tuple[int, int]:
    """The lab's length 10 when the model trained on it, else its own training range."""
    if train_config is None or train_config.min_len <= LAB_LENGTH <= train_config.max_len:
        return LAB_LENGTH, LAB_LENGTH
    return train_config.min_len, train_config.max_len


def sample_lines(model: Seq2Seq, lengths: tuple[int, int], seed: int,
                 n: int = SAMPLE_LINES, task: str = DEFAULT_TASK) -> list[str]:
    """``n`` lines in the lab's format, on fresh random strings of ``task`` drawn from
    ``seed``."""
    strings = make_task(task, *lengths)
    batch = strings.eval_set(n, seed)
    outputs = greedy_batch(model, batch)  # (n, steps)
    sources = [decode(batch.source[row]) for row in range(n)]
    return [lab_line(source, decode(outputs[row]), strings.target(source))
            for row, source in enumerate(sources)]


def measure_by_length(model: Seq2Seq, max_len: int, seed: int,
                      n_per_length: int = BY_LENGTH_STRINGS, task: str = DEFAULT_TASK
                      ) -> pd.DataFrame:
    """Exact match and character accuracy at every length 1 to ``max_len``, fresh strings."""
    reports = evaluate_by_length(model, list(range(1, max_len + 1)), n_per_length, seed, task)
    return pd.DataFrame([{"length": length, "n": r.n, "exact_match": r.exact_match,
                          "char_accuracy": r.char_accuracy} for length, r in reports.items()])


def history_from_sidecar(record: Mapping) -> HistoryView | None:
    """Chart series from a checkpoint's stored history (losses thinned by ``loss_stride``)."""
    history = record.get("history") or {}
    losses = [float(v) for v in history.get("loss") or []]
    evals = history.get("eval") or []
    if not losses and not evals:
        return None
    stride = int(history.get("loss_stride") or 1)
    return HistoryView(
        steps=[1 + i * stride for i in range(len(losses))], loss=losses,
        smoothed_loss=ema(losses), steps_per_second=[], wall_seconds=[],
        eval_steps=[int(e["step"]) for e in evals],
        eval_wall_seconds=[float(e.get("elapsed") or 0.0) for e in evals],
        exact_match=[float(e["exact_match"]) for e in evals],
        char_accuracy=[float(e["char_accuracy"]) for e in evals])


def by_length_from_sidecar(record: Mapping) -> pd.DataFrame | None:
    """The by-length evaluation a checkpoint stored when it was saved, if any."""
    stored = (record.get("evaluation") or {}).get("by_length") or {}
    rows = [{"length": int(length), "n": numbers.get("n"),
             "exact_match": numbers.get("exact_match"),
             "char_accuracy": numbers.get("char_accuracy")}
            for length, numbers in stored.items()]
    return pd.DataFrame(rows).sort_values("length", ignore_index=True) if rows else None


def from_checkpoint(checkpoint) -> ReportInput:
    """A report's material from a loaded ``seqrev.checkpoints.store.Checkpoint``."""
    meta = checkpoint.meta or {}
    return ReportInput(
        title=_("checkpoint {name}").format(name=checkpoint.name), model=checkpoint.model,
        model_config=checkpoint.model_config, train_config=checkpoint.train_config,
        history=history_from_sidecar(meta), by_length=by_length_from_sidecar(meta),
        steps_done=meta.get("steps_done"), training_seconds=meta.get("training_seconds"))


def from_run(run, model: Seq2Seq, history: HistoryView | None, seed: int) -> ReportInput:
    """A report's material from a run record, its trained model and its history.

    Accuracy by length is measured here, on fresh strings of every length up to twice the
    run's longest training string.
    """
    return ReportInput(
        title=_("run {run}").format(run=run.id), model=model, model_config=run.model_config,
        train_config=run.train_config, history=history,
        by_length=measure_by_length(model, 2 * run.train_config.max_len, seed,
                                    task=run.train_config.task),
        steps_done=run.steps_done, training_seconds=run.wall_seconds)


def run_report(store, run, seed: int | None = None) -> str:
    """The report of a run with a saved state in ``store`` (a ``seqrev.runs.store.RunStore``).

    Raises ``seqrev.runs.state.StateError`` when the run has no usable saved state.
    """
    from seqrev.runs.history import CHART_POINTS, history_view
    from seqrev.runs.worker import trainer_from_run

    seed = secrets.randbelow(2**31) if seed is None else seed
    trainer = trainer_from_run(store, run)
    history = history_view(store.history(run.id, CHART_POINTS))
    return build_report(from_run(run, trainer.model.eval(), history, seed), seed)


def unavailable_report(run_id: str, error: Exception) -> str:
    """A one-paragraph HTML page saying why a run's report could not be made."""
    return ("<!DOCTYPE html>\n<html lang='{lang}'><head><meta charset='utf-8'><title>seqrev"
            "</title></head><body><p>{text}</p></body></html>\n").format(
                lang=_html_lang(), text=html.escape(_(UNAVAILABLE).format(
                    run=run_id, problem=str(error).splitlines()[0][:300])))


UNAVAILABLE = N_("The lab report of run {run} could not be made: {problem}.")


def _html_lang() -> str:
    """The document's ``lang``: "en" or "zh-CN"."""
    return current_language().replace("_", "-")


def has_report(store, run) -> bool:
    """Whether ``run`` has trained and stopped with a saved state a report can be made of."""
    from seqrev.runs.state import saved_step

    return (run.status not in ("queued", "running") and bool(run.steps_done)
            and saved_step(store.run_folder(run.id)) is not None)


def _figure_html(figure: go.Figure, first: bool) -> str:
    figure.update_layout(width=None, autosize=True)
    return figure.to_html(full_html=False, include_plotlyjs=bool(first),
                          config={"displaylogo": False})


def _settings_rows(material: ReportInput) -> str:
    values = settings.values_of(material.model_config, material.train_config or TrainConfig())
    rows = []
    for item in settings.all_settings():
        if item.owner == "train" and material.train_config is None:
            continue
        rows.append(f"<tr><th>{html.escape(_(item.label))}</th>"
                    f"<td>{html.escape(item.format(values[item.name]))}</td></tr>")
    return "\n".join(rows)


def _by_length_table(frame: pd.DataFrame) -> str:
    cells = "".join(f"<tr><td>{int(r.length)}</td><td>{r.exact_match:.1%}</td>"
                    f"<td>{r.char_accuracy:.1%}</td><td>{int(r.n)}</td></tr>"
                    for r in frame.itertuples())
    headers = "".join(f"<th>{html.escape(_(word))}</th>" for word in BY_LENGTH_HEADERS)
    return f"<table><tr>{headers}</tr>{cells}</table>"


BY_LENGTH_HEADERS = (N_("length"), N_("exact match"), N_("characters"), N_("strings"))
REPORT_TITLE = N_("seqrev lab report: {title}")
MADE = N_("{when} · model kind {kind}")
TRAINED_STEPS = N_("Trained for {steps} steps.")
TRAINED_STEPS_TIME = N_("Trained for {steps} steps in {seconds} s of wall time.")
TRAINED_ON = N_("It was trained on strings of {low} to {high} letters.")
SAMPLES_ONE_LENGTH = N_("{n} fresh random strings of {low} letters (seed {seed}): {right} of {n} "
                        "{done}.")
SAMPLES_RANGE = N_("{n} fresh random strings of {low} to {high} letters (seed {seed}): {right} "
                   "of {n} {done}.")
REVERSED_EXACTLY = N_("reversed exactly")
EXACTLY_RIGHT = N_("exactly right ({task})")
SETTINGS = N_("Settings")
SAME_COMMAND = N_("The same training from the command line:")
PRINTOUT = N_("The lab's printout")
CURVES = N_("Training curves")
BY_LENGTH = N_("Exact match by length")
HEATMAP = N_("One attention heatmap")
HEATMAP_TITLE = N_("Where each output letter looks, for {text}")
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: left; }
pre { background: #f5f5f5; padding: 0.8rem; white-space: pre-wrap; }
.note { color: #555; }
"""


def build_report(material: ReportInput, seed: int | None = None) -> str:
    """The whole report as one HTML document; ``seed`` draws the sample strings (random)."""
    seed = secrets.randbelow(2**31) if seed is None else seed
    model_config, train_config = material.model_config, material.train_config
    heading = _(REPORT_TITLE).format(title=html.escape(material.title))
    parts = [f"<h1>{heading}</h1>",
             "<p class='note'>{text}</p>".format(text=_(MADE).format(
                 when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                 kind=html.escape(model_config.kind)))]
    if material.steps_done is not None:
        steps = f"{int(material.steps_done):,}"
        parts.append(_paragraph(
            _(TRAINED_STEPS).format(steps=steps) if material.training_seconds is None else
            _(TRAINED_STEPS_TIME).format(steps=steps,
                                         seconds=f"{material.training_seconds:.0f}")))
    if train_config is not None:
        parts.append(_paragraph(_(TRAINED_ON).format(low=train_config.min_len,
                                                     high=train_config.max_len)))
    parts += [_heading(SETTINGS), f"<table>{_settings_rows(material)}</table>"]
    if train_config is not None:
        command = settings.command_line(model_config, train_config, "my-model")
        parts += [_paragraph(_(SAME_COMMAND)), f"<pre>{html.escape(command)}</pre>"]

    task = train_config.task if train_config is not None else DEFAULT_TASK
    low, high = sample_lengths(train_config)
    lines = sample_lines(material.model, (low, high), seed, task=task)
    right = sum(line.endswith("True") for line in lines)
    done = _(REVERSED_EXACTLY) if task == DEFAULT_TASK else _(EXACTLY_RIGHT).format(task=task)
    parts += [_heading(PRINTOUT),
              _paragraph(_(SAMPLES_ONE_LENGTH if low == high else SAMPLES_RANGE).format(
                  n=len(lines), low=low, high=high, seed=seed, right=right, done=done)),
              "<pre>\n" + "\n".join(html.escape(line, quote=False) for line in lines)
              + "\n</pre>"]

    figures: list[tuple[str, go.Figure]] = []
    if material.history is not None:
        view = {model_config.kind: material.history}
        figures += [(CURVES, loss_figure(view)), ("", accuracy_figure(view))]
    if material.by_length is not None and len(material.by_length):
        frame = material.by_length.assign(model=model_config.kind)
        trained = (train_config.min_len, train_config.max_len) if train_config else None
        figures.append((BY_LENGTH, exact_match_figure(frame, trained)))
    if model_config.kind == "attention":
        text = decode(make_task(task, high, high).eval_set(1, seed + 1).source[0])
        trace = decode_text(material.model, text, task=make_task(task))
        figures.append((HEATMAP, trace_heatmap(
            trace, title=_(HEATMAP_TITLE).format(text=text))))
    for index, (key, figure) in enumerate(figures):
        if key:
            parts.append(_heading(key))
        parts.append(_figure_html(translate_figure(figure), first=index == 0))
        if key == BY_LENGTH:
            parts.append(_by_length_table(material.by_length))
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang='{_html_lang()}'><head><meta charset='utf-8'>"
            f"<title>{heading}</title><style>{STYLE}</style></head>"
            f"<body>\n{body}\n</body></html>\n")


def _paragraph(text: str) -> str:
    """``text`` (ours, with user text inside it) as an escaped paragraph."""
    return f"<p>{html.escape(text, quote=False)}</p>"


def _heading(message: str) -> str:
    """``message`` in the current language as a section heading."""
    return f"<h2>{html.escape(_(message), quote=False)}</h2>"
