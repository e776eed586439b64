"""AppTest of the Decode page's second input (compare two inputs)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from seqrev.charts.compare import differing_steps
from seqrev.checkpoints.store import load_checkpoint
from seqrev.decoding.search import greedy_trace
from seqrev.inspection.alignment import align_letters, describe, summarize
from tests.apptest_support import open_page


def compare_tables(at: AppTest) -> list:
    """The comparison tables (plain first), told apart by their "differs" column."""
    return [d.value for d in at.dataframe if "differs" in d.value.columns]


@pytest.fixture
def page() -> AppTest:
    return open_page("pages/decode.py")


def test_second_string_decodes_beside_the_first_with_differences_marked(page):
    page.text_input(key="decode_text").set_value("ABCDEFGHIJKLMNOPQRS").run()
    page.text_input(key="decode_second").set_value("abcdefghijklmnopqrz").run()
    assert not page.exception and not page.error
    assert any(c.value == "Inputs differ at position 18." for c in page.caption)
    tables = compare_tables(page)
    assert len(tables) == 3
    for kind, table in zip(("plain", "attention", "transformer"), tables, strict=True):
        model = load_checkpoint(kind).model
        first = greedy_trace(model, "ABCDEFGHIJKLMNOPQRS")
        second = greedy_trace(model, "ABCDEFGHIJKLMNOPQRZ")
        differ = differing_steps(first, second)
        assert table.loc[table["differs"], "step"].tolist() == differ
        if kind != "transformer":  # past its 16 positions the Transformer starts elsewhere
            assert table["second wrote"].iloc[0] == "Z"
        lined_up = summarize(align_letters(first.output, second.output))
        title = "Transformer" if kind == "transformer" else f"{kind.capitalize()} model"
        assert any(m.value == f"**{title}**: " + describe(lined_up)
                   for m in page.markdown)
        assert any(c.value.startswith(f"Step by step, {len(differ)} of ") for c in page.caption)


def test_outputs_one_letter_apart_read_as_one_letter_not_every_step(page):
    page.text_input(key="decode_text").set_value("HELLOWORLD").run()
    page.text_input(key="decode_second").set_value("HELLWORLD").run()
    assert not page.exception and not page.error
    model = load_checkpoint("attention").model
    first, second = greedy_trace(model, "HELLOWORLD"), greedy_trace(model, "HELLWORLD")
    assert first.correct and second.correct  # DLROWOLLEH and DLROWLLEH
    assert len(differing_steps(first, second)) > 2  # step by step most steps differ
    assert any(m.value == "**Attention model**: Lined up letter by letter: 1 letter(s) only in "
               "the first output; 9 letter(s) agree." for m in page.markdown)
    aligned = [h.proto.body for h in page.get("html") if "seqrev-aligned" in h.proto.body]
    assert len(aligned) == 3 and aligned[1].count('data-status="only first"') == 2


def test_a_forced_start_is_said_to_apply_to_both(page):
    page.text_input(key="decode_text").set_value("ABCDEFGH").run()
    page.text_input(key="decode_prefix").input("HG").run()
    page.text_input(key="decode_second").set_value("ABCDEFGX").run()
    assert not page.exception and not page.error
    assert any("applies to both strings and both models" in i.value for i in page.info)


@pytest.mark.parametrize("bad", ["AB3", "[x](http://a.b)", "A" * 65])
def test_bad_second_string_is_an_error_naming_it(page, bad):
    page.text_input(key="decode_second").set_value(bad).run()
    assert not page.exception
    assert len(page.error) == 1 and "second string" in page.error[0].value
    assert "](" not in page.error[0].value  # escaped, never a live link


def test_no_second_string_no_comparison(page):
    assert page.dataframe and compare_tables(page) == []


def test_the_second_string_comes_from_the_link_and_goes_back_into_it():

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"),
                           default_timeout=60)
    at.run()
    at.switch_page("pages/decode.py")
    at.query_params["text"] = "ABCDEFGHIJ"
    at.query_params["compare"] = "ABCDEFGHIK"
    at.run()
    assert not at.exception
    assert at.text_input(key="decode_second").value == "ABCDEFGHIK"
    at.text_input(key="decode_second").input("ABCDEFGHIL").run()
    assert at.query_params["compare"] == "ABCDEFGHIL"
