"""The command line: `python -m seqrev`."""
