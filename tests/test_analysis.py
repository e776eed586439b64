"""Attention numbers and the model comparison, against hand-made traces and decoding.evaluation."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqrev.checkpoints.store import load_checkpoint
from seqrev.decoding.evaluation import evaluate, evaluate_by_length
from seqrev.decoding.search import DecodeStep, DecodeTrace, greedy_trace
from seqrev.inspection.analysis import (
    attention_entropy,
    attention_frame,
    compare_models,
    correct_mass,
    exact_rows,
    length_sweep,
    letters_right,
    outline_at,
    step_summary,
    step_table,
    trace_numbers,
    wrong_steps,
)
from seqrev.models.seq2seq import ModelConfig, build_model
from seqrev.tasks.registry import make_task
from seqrev.tasks.vocab import EOS, encode, expected_tokens


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint("plain").model, load_checkpoint("attention").model


def fake_trace(source: str, tokens: list[int], rows: list[list[float]] | None = None):
    """A trace that emitted ``tokens``, with attention ``rows`` (or none, like a plain model)."""
    steps = []
    for t, token in enumerate(tokens):
        attention = None if rows is None else torch.tensor(rows[t])
        steps.append(DecodeStep(t, 0, torch.zeros(29), token, attention, torch.zeros(4)))
    return DecodeTrace(source, "", 0.0, steps)


def test_entropy_of_one_hot_and_uniform_rows():
    one_hot = torch.eye(5)  # (5, 5)
    assert attention_entropy(one_hot).tolist() == [0.0] * 5
    for width in (1, 2, 7, 64):
        uniform = torch.full((3, width), 1 / width)
        assert attention_entropy(uniform).tolist() == pytest.approx([math.log(width)] * 3)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-20, 20), min_size=1, max_size=30))
def test_entropy_lies_between_zero_and_log_width(scores):
    row = torch.softmax(torch.tensor(scores, dtype=torch.float64), 0).unsqueeze(0)
    value = float(attention_entropy(row)[0])
    assert -1e-9 <= value <= math.log(len(scores)) + 1e-9


def test_reversal_outline_is_the_anti_diagonal_then_none():
    alignment = make_task("reverse").alignment("ABCD")
    assert [outline_at(alignment, t) for t in range(6)] == [
        {3}, {2}, {1}, {0}, frozenset(), frozenset()]
    assert outline_at(None, 0) == frozenset()


def test_correct_mass_on_a_hand_made_matrix():
    matrix = torch.tensor([[0.1, 0.2, 0.7], [0.0, 0.9, 0.1], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    mass = correct_mass(matrix, make_task("reverse").alignment("ABC"))
    assert mass[:3] == pytest.approx([0.7, 0.9, 0.5]) and mass[3] is None
    assert correct_mass(matrix, make_task("copy").alignment("ABC"))[:3] == pytest.approx(
        [0.1, 0.9, 0.0])
    assert correct_mass(matrix, None) == [None] * 4


def test_correct_mass_sums_a_step_that_may_read_several_letters():
    matrix = torch.tensor([[0.3, 0.1, 0.6], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.4, 0.4, 0.2]])
    alignment = make_task("sort").alignment("BAB")  # AB B: step 0 reads 1, steps 1-2 read {0, 2}
    assert alignment[:3] == [{1}, {0, 2}, {0, 2}]
    assert correct_mass(matrix, alignment)[:3] == pytest.approx([0.1, 0.3, 0.9])


@pytest.mark.parametrize("spec", ["copy", "sort", "rotate:2"])
def test_trace_numbers_follow_the_traces_task(shipped, spec):
    task = make_task(spec)
    trace = greedy_trace(shipped[1], "QWERTY", task=task)
    matrix = trace.attention_matrix()  # (steps, S)
    alignment = task.alignment("QWERTY")
    numbers = trace_numbers(trace)
    for t, mass in enumerate(numbers.correct_mass):
        cells = sorted(alignment[t]) if t < len(alignment) else []
        assert mass == (pytest.approx(float(matrix[t, cells].sum())) if cells else None)
    assert trace.expected == task.target("QWERTY")


def test_trace_numbers_match_the_attention_matrix_anti_diagonal(shipped):
    trace = greedy_trace(shipped[1], "MISSISSIPPIAN")
    matrix = trace.attention_matrix()  # (steps, S)
    numbers = trace_numbers(trace)
    rows = min(matrix.shape[0], len(trace.source))
    anti_diagonal = torch.flip(matrix, dims=[1])[:rows].diagonal()  # (rows,)
    assert numbers.correct_mass[:rows] == pytest.approx(anti_diagonal.tolist())
    assert all(m is None for m in numbers.correct_mass[rows:])
    assert numbers.mean_correct_mass == pytest.approx(float(anti_diagonal.mean()))
    assert numbers.entropy == pytest.approx(attention_entropy(matrix).tolist())
    assert numbers.mean_entropy == pytest.approx(sum(numbers.entropy) / len(numbers.entropy))
    assert numbers.max_entropy == pytest.approx(math.log(13))
    assert trace_numbers(greedy_trace(shipped[0], "MISSISSIPPIAN")) is None


def test_diagonal_mass_and_best_offset_find_a_shifted_alignment():
    ideal = torch.eye(4).flip(1)  # step t reads source 3-t
    shifted = torch.zeros(5, 4)  # step t reads source 4-t (its previous output); step 0 reads 3
    shifted[0, 3] = 1.0
    for t in range(1, 5):
        shifted[t, 4 - t] = 1.0
    numbers = trace_numbers(fake_trace("ABCD", [*encode("DCBA"), EOS], shifted.tolist()))
    assert numbers.best_offset == 1 and numbers.offset_mass[1] == pytest.approx(1.0)
    assert numbers.mean_correct_mass == pytest.approx(0.25)  # only step 0 is on the ideal cell
    assert set(numbers.offset_mass) == {-2, -1, 0, 1, 2}
    rows = torch.cat([ideal, torch.full((1, 4), 0.25)]).tolist()
    numbers = trace_numbers(fake_trace("ABCD", [*encode("DCBA"), EOS], rows))
    assert numbers.best_offset == 0 and numbers.offset_mass[0] == pytest.approx(1.0)
    one = trace_numbers(fake_trace("A", [encode("A")[0], EOS], [[1.0], [1.0]]))
    assert one.offset_mass == {0: 1.0} and one.best_offset == 0


@pytest.mark.parametrize(("emitted", "wrong"), [
    ("CBA.", []),
    ("CXA.", [1]),
    ("C.", [1, 2, 3]),  # stopped early: the unreached letters and <eos> are wrong too
    ("CBAA.", [3, 4]),  # went on past the end
    ("ABC", [0, 2, 3]),
])
def test_wrong_steps(emitted, wrong):
    tokens = [EOS if ch == "." else encode(ch)[0] for ch in emitted]
    assert wrong_steps(fake_trace("ABC", tokens)) == wrong


def test_expected_tokens_and_letters_right():
    assert expected_tokens("AB") == [*encode("BA"), EOS]
    assert letters_right("CXA", "CBA") == 2
    assert letters_right("C", "CBA") == 1
    assert letters_right("", "CBA") == 0


def test_step_summary_and_table_on_a_hand_made_trace():
    rows = [[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.8, 0.1, 0.1], [0.2, 0.2, 0.6]]
    trace = fake_trace("ABC", [*encode("CAA"), EOS], rows)
    summary = step_summary(trace, 1)
    assert (summary.emitted, summary.expected, summary.correct_position) == ("A", "B", 1)
    assert summary.correct_weight == pytest.approx(0.3)
    assert (summary.top_position, summary.top_weight) == (0, pytest.approx(0.6))
    last = step_summary(trace, 3)
    assert (last.emitted, last.expected, last.correct_position) == ("<eos>", "<eos>", None)
    plain = fake_trace("ABC", [*encode("CB"), EOS])
    table = step_table(trace, plain)
    assert table["expected"].tolist() == ["C", "B", "A", "<eos>"]
    assert table["attention"].tolist() == ["C", "A", "A", "<eos>"]
    assert table["plain"].tolist() == ["C", "B", "<eos>", ""]
    assert table["weight on correct letter"].tolist()[:3] == pytest.approx([0.7, 0.3, 0.8])


def test_attention_frame_labels_and_values(shipped):
    trace = greedy_trace(shipped[1], "HELLO")
    frame = attention_frame(trace)
    assert list(frame.columns) == ["0: H", "1: E", "2: L", "3: L", "4: O"]
    assert frame.index[0].startswith("0: ")
    assert frame.to_numpy() == pytest.approx(trace.attention_matrix().double().numpy())
    with pytest.raises(ValueError):
        attention_frame(greedy_trace(shipped[0], "HELLO"))


def test_length_sweep_draws_the_strings_evaluate_by_length_uses():
    batch = length_sweep([2, 5], 7, seed=3)
    assert batch.lengths.tolist() == [2] * 7 + [5] * 7
    assert batch.source.shape == (14, 5)
    with pytest.raises(ValueError):
        length_sweep([], 5)


def test_comparison_agrees_with_seqrev_evaluation(shipped):
    plain, attention = shipped
    lengths, n = [2, 5, 9, 12], 40
    result = compare_models(plain, attention, lengths, n, seed=11)
    batch = length_sweep(lengths, n, seed=11)
    for name, model in (("plain", plain), ("attention", attention)):
        report = evaluate(model, batch)  # one padded batch, decoded together
        separate = evaluate_by_length(model, lengths, n_per_length=n, seed=11)  # one per length
        positions = result.per_position[result.per_position["model"] == name]
        assert positions["error_rate"].tolist() == pytest.approx(
            [1 - a for a in report.per_position], abs=1e-6)
        assert positions["n"].tolist() == [n * sum(p < length for length in lengths)
                                           for p in range(max(lengths))]
        rows = result.by_length[result.by_length["model"] == name].set_index("length")
        for length in lengths:
            assert rows.loc[length, "n"] == n
            assert rows.loc[length, "exact_match"] == pytest.approx(
                report.by_length[length]["exact_match"])
            assert rows.loc[length, "exact_match"] == pytest.approx(separate[length].exact_match)
            assert rows.loc[length, "char_accuracy"] == pytest.approx(
                separate[length].char_accuracy)
    total = len(lengths) * n
    assert sum(result.outcomes.values()) == total
    plain_right = result.outcomes["both right"] + result.outcomes["only plain right"]
    plain_rows = result.by_length[result.by_length["model"] == "plain"]
    assert plain_right == round(float((plain_rows["exact_match"] * plain_rows["n"]).sum()))
    assert result.n_plain_only == result.outcomes["only attention right"] == len(result.examples)


def test_examples_are_plain_wrong_and_attention_right(shipped):
    plain, attention = shipped
    result = compare_models(plain, attention, range(3, 13), 30, seed=5)
    assert len(result.examples) > 0, "the shipped models should disagree somewhere in 3..12"
    for example in result.examples.itertuples():
        assert example.expected == example.input[::-1] and example.length == len(example.input)
        assert example.attention == example.expected != example.plain
        assert greedy_trace(attention, example.input).correct
        plain_trace = greedy_trace(plain, example.input)
        assert not plain_trace.correct and plain_trace.output == example.plain
        assert example.first_error == wrong_steps(plain_trace)[0]


def test_examples_are_capped_but_counted(shipped):
    result = compare_models(*shipped, range(16, 24), 30, seed=1, max_examples=3)
    assert len(result.examples) == 3 < result.n_plain_only


def test_exact_rows_counts_eos_and_ignores_padding():
    batch = length_sweep([3], 2, seed=0)
    target = batch.target.clone()  # (2, 4): three letters then <eos>
    wrong_letter = target.clone()
    wrong_letter[1, 0] = (wrong_letter[1, 0] - 2) % 26 + 3
    assert exact_rows(batch, target).tolist() == [True, True]
    assert exact_rows(batch, wrong_letter).tolist() == [True, False]
    assert exact_rows(batch, target[:, :3]).tolist() == [False, False]  # no <eos>


def test_untrained_tiny_models_compare_without_error():
    torch.manual_seed(0)
    plain = build_model(ModelConfig(kind="plain", embedding_dim=4, hidden_dim=8)).eval()
    attention = build_model(ModelConfig(kind="attention", embedding_dim=4, hidden_dim=8)).eval()
    result = compare_models(plain, attention, [1, 3], 5)
    assert sorted(result.by_length["length"].unique()) == [1, 3]
    assert set(result.per_position["position"]) == {0, 1, 2}
    assert sum(result.outcomes.values()) == 10


def test_heatmap_reading_names_the_diagonal_that_holds_the_weight():
    from seqrev.inspection.analysis import TraceNumbers, heatmap_reading
    numbers = TraceNumbers([0.1], 0.1, 1.0, [0.05], 0.05, {0: 0.05, 1: 0.83}, 1)
    assert heatmap_reading(numbers, 21, 21) == (
        "Most weight sits on the model's own diagonal, +1 column(s) from the textbook outline "
        "(83% there, 5% on the outline), and all 21 letters come out right.")
    numbers = TraceNumbers([0.1], 0.1, 1.0, [0.9], 0.9, {0: 0.9, 1: 0.05}, 0)
    assert heatmap_reading(numbers, 3, 5) == (
        "Most weight sits on the textbook outline (90% on average), and 3 of 5 letters come "
        "out right.")


def test_training_length_warning_only_outside_the_lengths():
    from seqrev.inspection.analysis import training_length_warning
    both = {"plain": (1, 16), "attention": (1, 16)}
    assert training_length_warning(16, both) is None
    assert training_length_warning(1, both) is None
    assert training_length_warning(5, {"plain": None}) is None
    assert training_length_warning(20, both) == (
        "This input has 20 letters, outside the lengths the plain model and the attention "
        "model were trained on (1 to 16): expect more mistakes than the training scores "
        "suggest.")
    assert "the plain model was trained on (10 to 10)" in training_length_warning(
        12, {"plain": (10, 10), "attention": (1, 16)})
    mixed = training_length_warning(20, {"plain": (10, 10), "attention": (1, 16)})
    assert "the plain model on 10 to 10; the attention model on 1 to 16" in mixed
