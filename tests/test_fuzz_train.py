"""Fuzz the Train page: hostile field values and links never raise or start bad settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

import seqrev.training.settings as seqrev_settings
from seqrev.runs.store import RunStore

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TYPED = [s for s in seqrev_settings.all_settings() if s.widget == "number"]
HOSTILE = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["1e999", "-0", "nan", "inf", "0x10", "1_000", "²", "٣", "1e-400",
                     "[x](http://evil.example)", "![x](http://evil.example/p.png)",
                     ":red[boom]", "<script>alert(1)</script>", "9" * 41, " 12 ", "1.5"]),
)
FUZZ = settings(max_examples=20, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREV_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


@FUZZ
@given(field=st.sampled_from(TYPED), value=HOSTILE)
def test_any_typed_value_renders_and_start_only_takes_valid_settings(runs_dir, field, value):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/train.py")
    at.run()
    at.text_input(key=f"train_{field.name}").input(value).run()
    assert not at.exception
    held = at.text_input(key=f"train_{field.name}").value  # the widget keeps 40 characters
    try:
        field.parse(held)
        valid = True
    except ValueError:
        valid = False
    if not valid:
        assert at.button(key="train_start").disabled
        assert at.error
    for element in at.error:
        assert "](http" not in element.value  # a link in the value is never live


@FUZZ
@given(params=st.dictionaries(
    st.sampled_from(["run", "token", "model", "steps", "hidden-dim", "lr", "seed", "score",
                     "batch-size", "grad-clip"]), HOSTILE, max_size=4))
def test_any_train_link_renders_without_a_traceback(runs_dir, params):
    RunStore(runs_dir)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/train.py")
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception
    for element in [*at.error, *at.warning]:
        assert "](http" not in element.value
