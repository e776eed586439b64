"""The README's accuracy-by-length table, from ``python -m seqrev eval --json`` on both models.

Run from the repository root: ``python -m bench.length_table [plain] [attention]``.
"""

from __future__ import annotations

import json
import subprocess
import sys

EVAL_ARGS = ["--n", "32000", "--min-len", "1", "--max-len", "32", "--seed", "0", "--json"]


def eval_json(checkpoint: str) -> dict:
    command = [sys.executable, "-m", "seqrev", "eval", "--checkpoint", checkpoint, *EVAL_ARGS]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def main(plain: str = "plain", attention: str = "attention") -> None:
    reports = {"plain": eval_json(plain), "attention": eval_json(attention)}
    print(f"`python -m seqrev eval --checkpoint NAME {' '.join(EVAL_ARGS)}`\n")
    print("| length | n | plain exact | plain char | attention exact | attention char |")
    print("|---|---|---|---|---|---|")
    for length in sorted(reports["plain"]["by_length"], key=int):
        p, a = reports["plain"]["by_length"][length], reports["attention"]["by_length"][length]
        print(f"| {length} | {p['n']} | {p['exact_match']:.1%} | {p['char_accuracy']:.1%} | "
              f"{a['exact_match']:.1%} | {a['char_accuracy']:.1%} |")
    for kind, report in reports.items():
        print(f"\n{kind}: all lengths exact {report['exact_match']:.1%}, "
              f"char {report['char_accuracy']:.1%}, fine {report['fine_accuracy']:.1%}")


if __name__ == "__main__":
    main(*sys.argv[1:])
