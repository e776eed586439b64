"""The one exception the CLI turns into a single line on stderr and exit code 2, and that line."""


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit code 2."""


def one_line(text: object) -> str:
    """``text`` as one line: every run of whitespace, line breaks included, one space."""
    return " ".join(str(text).split())
