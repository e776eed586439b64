"""The alphabet: encode/decode round trips and the input rules users meet."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqrev.tasks.vocab import (
    EOS,
    FIRST_LETTER,
    LETTERS,
    MAX_INPUT_LEN,
    PAD,
    SOS,
    VOCAB_SIZE,
    InputError,
    decode,
    encode,
    normalize,
    token_label,
)

letters = st.text(alphabet=LETTERS, min_size=1, max_size=MAX_INPUT_LEN)


@given(letters)
def test_encode_decode_round_trip(text):
    ids = encode(text)
    assert all(FIRST_LETTER <= i < VOCAB_SIZE for i in ids)
    assert decode(ids) == text


@given(letters, letters)
def test_decode_stops_at_eos_and_skips_specials(head, tail):
    assert decode([SOS, *encode(head), PAD, EOS, *encode(tail)]) == head


@given(st.text(alphabet=LETTERS.lower() + LETTERS, min_size=1, max_size=MAX_INPUT_LEN))
def test_normalize_upper_cases_ascii_letters(text):
    assert normalize(text) == text.upper()


def test_labels():
    assert [token_label(i) for i in (PAD, SOS, EOS)] == ["<pad>", "<sos>", "<eos>"]
    assert token_label(FIRST_LETTER) == "A" and token_label(VOCAB_SIZE - 1) == "Z"


@pytest.mark.parametrize("text, named", [
    ("AB1", "'1'"), ("A B", "' '"), ("AB!?", "'!', '?'"), ("ÉCOLE", "'É'"),
    ("straße", "'ß'"), ("HI😀", "'😀'"), ("ΑΒΓ", "'Α'"),
])
def test_normalize_names_offending_characters(text, named):
    with pytest.raises(InputError) as error:
        normalize(text)
    assert named in str(error.value)


def test_normalize_empty_and_over_limit():
    with pytest.raises(InputError, match="empty"):
        normalize("")
    with pytest.raises(InputError, match=f"limit is {MAX_INPUT_LEN}"):
        normalize("A" * (MAX_INPUT_LEN + 1))
    assert normalize("A" * MAX_INPUT_LEN) == "A" * MAX_INPUT_LEN
