"""The task gallery: its chart's outlines, its data, the shipped task checkpoints and the pages
that show it (AppTest)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

import seqrev.checkpoints.store as checkpoints
import seqrev.teaching.task_gallery as task_gallery
from seqrev.charts.task_gallery import (
    OUTLINE_NAME,
    GalleryPanel,
    outline_cells,
    task_gallery_figure,
)
from seqrev.decoding.evaluation import evaluate_fresh
from seqrev.models.seq2seq import ModelConfig, build_model
from seqrev.tasks.registry import describe, make_task
from tests.apptest_support import open_page

SIZE_LIMIT = 600_000  # bytes of the safetensors file
# (checkpoint, task, exact match measured on EVAL_N fresh strings of its training lengths with
# EVAL_SEED when it was trained); the test allows MARGIN below it
SHIPPED_TASKS = (("attention-copy", "copy", 1.0), ("attention-sort", "sort", 1.0),
                 ("attention-rotate3", "rotate:3", 1.0))
EVAL_N, EVAL_SEED, MARGIN = 200, 31337, 0.03


def uniform_panel(spec: str, source: str, n_rows: int, alignment) -> GalleryPanel:
    width = len(source)
    return GalleryPanel(task=spec, description=describe(spec), source=source,
                        matrix=[[1.0 / width] * width for _ in range(n_rows)],
                        row_labels=[f"{t}: x" for t in range(n_rows)], alignment=list(alignment))


def outlines(figure) -> dict[str, list[tuple[float, float]]]:
    """Each subplot's outlined cells, as (column, row) centres, by the subplot's x axis."""
    found: dict[str, list[tuple[float, float]]] = {}
    for shape in figure.layout.shapes:
        assert shape.name == OUTLINE_NAME
        found.setdefault(shape.xref, []).append(((shape.x0 + shape.x1) / 2,
                                                 (shape.y0 + shape.y1) / 2))
    return found


# ---- the chart ---------------------------------------------------------------------------
def test_the_chart_draws_one_heatmap_per_task_with_each_tasks_outline():
    source = "CAB"
    panels = [uniform_panel(spec, source, 4, make_task(spec).alignment(source))
              for spec in ("copy", "reverse", "sort")]
    figure = task_gallery_figure(panels)
    assert [trace.type for trace in figure.data] == ["heatmap"] * 3
    cells = outlines(figure)
    assert cells == {"x": [(0, 0), (1, 1), (2, 2)],  # copy: the diagonal
                     "x2": [(2, 0), (1, 1), (0, 2)],  # reverse: the anti-diagonal
                     "x3": [(1, 0), (2, 1), (0, 2)]}  # sort: A is at 1, B at 2, C at 0
    assert [shape.yref for shape in figure.layout.shapes] == ["y"] * 3 + ["y2"] * 3 + ["y3"] * 3
    assert sum(bool(shape.showlegend) for shape in figure.layout.shapes) == 1
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert all(f"<b>{spec}</b>" in title for spec, title in zip(
        ("copy", "reverse", "sort"), titles, strict=True))
    assert "alphabetical" in titles[2]


def test_a_repeated_letter_outlines_every_copy_and_the_eos_step_outlines_none():
    source = "BAB"
    alignment = make_task("sort").alignment(source)  # [{1}, {0, 2}, {0, 2}, {}]
    figure = task_gallery_figure([uniform_panel("sort", source, 4, alignment)])
    assert outlines(figure) == {"x": [(1, 0), (0, 1), (2, 1), (0, 2), (2, 2)]}
    assert list(figure.data[0].x) == [0, 1, 2]  # one column per position, repeats kept
    assert list(figure.layout.xaxis.ticktext) == ["B", "A", "B"]


def test_outlines_only_fall_on_rows_and_columns_the_matrix_has():
    alignment = [frozenset({0}), frozenset({5}), frozenset(), frozenset({1})]
    assert outline_cells(alignment, n_rows=4, width=2) == [(0, 0), (3, 1)]
    assert outline_cells(alignment, n_rows=1, width=2) == [(0, 0)]  # a model that stopped early


def test_the_chart_refuses_panels_whose_sizes_disagree():
    panel = uniform_panel("copy", "AB", 3, [])
    with pytest.raises(ValueError, match="disagree"):
        task_gallery_figure([replace(panel, row_labels=["0: A"])])
    with pytest.raises(ValueError):
        task_gallery_figure([])


# ---- the data ----------------------------------------------------------------------------
def test_a_panel_holds_one_softmax_row_per_output_step():
    model = build_model(ModelConfig(kind="attention", embedding_dim=4, hidden_dim=6))
    panel = task_gallery.panel(model, "sort", "DCAB")
    assert len(panel.matrix) == len(panel.row_labels) and len(panel.matrix) >= 1
    assert all(len(row) == 4 and sum(row) == pytest.approx(1.0) for row in panel.matrix)
    assert panel.alignment == make_task("sort").alignment("DCAB")
    with pytest.raises(ValueError, match="plain"):
        task_gallery.panel(build_model(ModelConfig(kind="plain", embedding_dim=4, hidden_dim=6)),
                           "copy", "AB")


def test_the_shipped_gallery_decodes_its_string_right_with_rows_that_sum_to_one():
    gallery = task_gallery.gather(directory=checkpoints.SHIPPED_DIR)
    assert gallery.problems == []
    assert [p.task for p in gallery.panels] == [spec for spec, _ in task_gallery.GALLERY]
    text = task_gallery.GALLERY_TEXT
    assert len(set(text)) == len(text)  # no repeated letter: one outlined cell per sort step
    for panel in gallery.panels:
        expected = make_task(panel.task).target(text)
        assert [label.split(": ")[1] for label in panel.row_labels] == [*expected, "<eos>"]
        assert len(panel.matrix) == len(expected) + 1  # the output's letters and <eos>
        assert all(len(row) == len(text) and sum(row) == pytest.approx(1.0, abs=1e-5)
                   for row in panel.matrix)
        assert panel.alignment == make_task(panel.task).alignment(text)
        assert panel.description == describe(panel.task)


def test_a_missing_or_mistrained_gallery_checkpoint_is_a_problem_line_not_an_exception(
        tmp_path):
    for name in (checkpoints.SHIPPED_ATTENTION, "attention-sort"):
        for suffix in (".safetensors", ".json"):
            shutil.copy(checkpoints.SHIPPED_DIR / f"{name}{suffix}", tmp_path)
    (tmp_path / "attention-sort.safetensors").write_bytes(b"not a checkpoint")
    gallery = task_gallery.gather(directory=tmp_path)
    assert [p.task for p in gallery.panels] == ["reverse"]
    assert len(gallery.problems) == 2
    assert gallery.problems[0].startswith("The copy panel is not shown: checkpoint "
                                          "'attention-copy'")
    assert gallery.problems[1].startswith("The sort panel is not shown:")
    assert all("\n" not in p and str(tmp_path) not in p for p in gallery.problems)
    keys = task_gallery.identities(tmp_path)
    assert keys[0] == "attention-copy@missing" and keys[1].startswith("attention@")
    wrong = task_gallery.gather(directory=checkpoints.SHIPPED_DIR,
                                gallery=[("copy", checkpoints.SHIPPED_ATTENTION)])
    assert wrong.panels == [] and "trained on reverse, not copy" in wrong.problems[0]


# ---- the shipped checkpoints -------------------------------------------------------------
@pytest.mark.parametrize(("name", "spec", "measured"), SHIPPED_TASKS)
def test_each_shipped_task_checkpoint_is_small_and_exact_on_fresh_strings(name, spec, measured):
    assert (checkpoints.SHIPPED_DIR / f"{name}.safetensors").stat().st_size < SIZE_LIMIT
    loaded = checkpoints.load_checkpoint(name, checkpoints.SHIPPED_DIR)
    assert loaded.model_config.kind == "attention"
    config = loaded.train_config
    assert config.task == spec
    report = evaluate_fresh(loaded.model, EVAL_N, config.min_len, config.max_len,
                            seed=EVAL_SEED, max_failures=0, task=spec)
    assert report.n == EVAL_N
    assert report.exact_match >= measured - MARGIN


def test_the_shipped_task_checkpoints_are_listed_and_healthy():
    names = checkpoints.list_checkpoints(checkpoints.SHIPPED_DIR)
    assert {name for name, _, _ in SHIPPED_TASKS} <= set(names)
    assert checkpoints.list_checkpoint_problems(checkpoints.SHIPPED_DIR) == []


# ---- the pages (AppTest) -----------------------------------------------------------------
def gallery_spec(at) -> dict:
    [spec] = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")
              if OUTLINE_NAME in chart.proto.spec]
    return spec


def test_the_lesson_shows_the_gallery_where_attention_is_introduced():
    at = open_page("pages/lesson.py", {"chapter": "3"})
    assert not at.exception and not at.error and not at.info
    assert [s.value for s in at.subheader] == [task_gallery.HEADING]
    spec = gallery_spec(at)
    assert [trace["type"] for trace in spec["data"]] == ["heatmap"] * 3
    assert len(spec["layout"]["shapes"]) == 3 * len(task_gallery.GALLERY_TEXT)
    assert any("anti-diagonal" in m.value for m in at.markdown)


def test_home_shows_the_gallery():
    at = open_page("pages/home.py")
    assert not at.exception and not at.error and not at.info
    assert [trace["name"] for trace in gallery_spec(at)["data"]] == ["copy", "reverse", "sort"]


def test_a_missing_gallery_checkpoint_is_an_info_on_both_pages(checkpoint_dir):
    # the fixture's folder holds only the shipped plain and attention models
    for page, query in (("pages/home.py", None), ("pages/lesson.py", {"chapter": "3"})):
        at = open_page(page, query)
        assert not at.exception and not at.error
        assert [i.value.startswith(("The copy panel", "The sort panel")) for i in at.info] == [
            True, True]
        assert [t["name"] for t in gallery_spec(at)["data"]] == ["reverse"]
