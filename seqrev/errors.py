"""The one exception the CLI turns into a single line on stderr and exit code 2."""


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit code 2."""
