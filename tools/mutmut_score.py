"""Mutation score per module from mutmut's stored results (run after `mutmut run`).

Usage: python tools/mutmut_score.py [PATTERN ...]  (the mutant-name patterns `mutmut run` took)
A mutant counts as caught when a test failed on it (killed) or it never finished (timeout);
the score is caught / (caught + survived + no tests). Surviving mutants are listed by name:
`mutmut show NAME` prints the change.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

CAUGHT = {"killed", "timeout", "caught by type check"}
MISSED = {"survived", "no tests"}


def main(patterns: list[str]) -> int:
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    out = subprocess.run(
        [mutmut, "results", "--all", "true"], check=True, capture_output=True, text=True
    ).stdout
    by_module: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if not sep or (patterns and not any(fnmatch.fnmatch(name, p) for p in patterns)):
            continue
        module = re.split(r"\.x(?:_|ǁ)", name, maxsplit=1)[0]
        by_module[module][status].append(name)
    total_caught = total_counted = 0
    for module in sorted(by_module):
        statuses = by_module[module]
        caught = sum(len(statuses[s]) for s in CAUGHT)
        counted = caught + sum(len(statuses[s]) for s in MISSED)
        total_caught, total_counted = total_caught + caught, total_counted + counted
        score = f"{100 * caught / counted:.1f} %" if counted else "n/a"
        others = {s: len(v) for s, v in statuses.items() if s not in CAUGHT | MISSED}
        print(f"{module}: {caught}/{counted} caught ({score})" + (f" {others}" if others else ""))
        for status in sorted(MISSED):
            for name in statuses[status]:
                print(f"    {status}: {name}")
    if total_counted:
        print(f"all: {total_caught}/{total_counted} ({100 * total_caught / total_counted:.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
