"""Summaries of a log file: counts by level, the busiest minutes."""

import collections
import re
import sys

LINE = re.compile(r"^(?P<time>\d\d:\d\d):\d\d (?P<level>[A-Z]+) (?P<msg>.*)$")


class Summary:
    """Counts of log lines by level and by minute."""

    def __init__(self):
        self.levels = collections.Counter()
        self.minutes = collections.Counter()
        self.bad = 0

    def add(self, line):
        m = LINE.match(line)
        if not m:
            self.bad += 1
            return
        self.levels[m.group("level")] += 1
        self.minutes[m.group("time")] += 1

    def busiest(self, n=3):
        """The n minutes with the most lines, busiest first."""
        return self.minutes.most_common(n)


def summarize(lines):
    s = Summary()
    for line in lines:
        s.add(line.rstrip("\n"))
    return s


def main(argv):
    with open(argv[1], encoding="utf-8") as f:
        s = summarize(f)
    for level, n in sorted(s.levels.items()):
        print(f"{level:8} {n}")
    for minute, n in s.busiest():
        print(f"{minute} {n} lines")
    if s.bad:
        print(f"{s.bad} lines not understood", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
