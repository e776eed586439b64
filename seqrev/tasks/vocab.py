"""The alphabet: three special tokens, then the letters A–Z.

Index layout (29 symbols): ``<pad>`` 0, ``<sos>`` 1, ``<eos>`` 2, ``A`` 3 … ``Z`` 28.
The lab's 27-symbol vocabulary (``<EOS>`` 0, ``A``..``Z`` 1..26) maps onto this one by
``lab_index -> lab_index + 2`` for letters; its ``<EOS>`` plays our ``<sos>`` as the
decoder's first input.
"""

from __future__ import annotations

import string

from seqrev.i18n import _

PAD, SOS, EOS = 0, 1, 2
SPECIAL_TOKENS = ("<pad>", "<sos>", "<eos>")
LETTERS = string.ascii_uppercase
FIRST_LETTER = len(SPECIAL_TOKENS)
VOCAB_SIZE = FIRST_LETTER + len(LETTERS)
MAX_INPUT_LEN = 64  # longest string a user may type; models decode it whatever they trained on

_LETTER_SET = frozenset(LETTERS)


class InputError(ValueError):
    """A user's string that is not a non-empty run of at most MAX_INPUT_LEN letters A–Z."""


def normalize(text: str, max_len: int = MAX_INPUT_LEN) -> str:
    """Upper-case ASCII a–z and return the string, or raise InputError naming what is wrong."""
    if not isinstance(text, str):
        raise InputError(_("expected text, got {type}").format(type=type(text).__name__))
    upper = "".join(ch.upper() if "a" <= ch <= "z" else ch for ch in text)
    bad = sorted({ch for ch in upper if ch not in _LETTER_SET}, key=upper.index)
    if bad:
        shown = ", ".join(repr(ch) for ch in bad)
        raise InputError(_("only the letters A-Z are allowed; found {letters}").format(
            letters=shown))
    if not upper:
        raise InputError(_("the input is empty; type at least one letter A-Z"))
    if len(upper) > max_len:
        raise InputError(_("the input has {n} letters; the limit is {limit}").format(
            n=len(upper), limit=max_len))
    return upper


def encode(text: str) -> list[int]:
    """Token ids of an already-normalized string of A–Z (no special tokens added)."""
    return [FIRST_LETTER + ord(ch) - ord("A") for ch in text]


def decode(ids) -> str:
    """Letters of a token sequence, stopping at the first ``<eos>``; other specials are skipped."""
    letters = []
    for token in ids:
        token = int(token)
        if token == EOS:
            break
        if token >= FIRST_LETTER:
            letters.append(LETTERS[token - FIRST_LETTER])
    return "".join(letters)


def token_label(token: int) -> str:
    """Display label of one token id: a letter or the name of a special token."""
    token = int(token)
    return SPECIAL_TOKENS[token] if token < FIRST_LETTER else LETTERS[token - FIRST_LETTER]


def reverse_target(text: str) -> str:
    """What the task expects for ``text``."""
    return text[::-1]


def expected_tokens(source: str) -> list[int]:
    """The token ids a perfect decoder emits for ``source``: the reversed letters, then <eos>."""
    return encode(reverse_target(source)) + [EOS]


def expected_token(expected: str, position: int) -> int | None:
    """The token due at output ``position`` given the ``expected`` (already reversed) letters:
    a letter, then ``<eos>``, then none."""
    tokens = encode(expected) + [EOS]
    return tokens[position] if position < len(tokens) else None
