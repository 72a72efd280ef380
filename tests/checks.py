"""The tally every Python cross-check of layer 4 (tests/*_check.py) keeps: one line per check,
'   ok   name' or '   FAIL name: detail', and a closing 'tool: N passed, M failed' line, which
scripts/test.sh (count_script) reads. The scripts run as `python tests/x_check.py`, so this module
is found next to them.
"""


class Checks:
    def __init__(self, tool, prefix=""):
        self.tool, self.prefix = tool, prefix
        self.passed = self.failed = 0

    def __call__(self, name, ok, detail=""):
        """Records and prints one check; detail is printed only when it fails."""
        ok = bool(ok)
        print(f"   {'ok  ' if ok else 'FAIL'} {self.prefix}{name}{': ' + detail if detail and not ok else ''}")
        self.passed += ok
        self.failed += not ok
        return ok

    def done(self):
        """Prints the closing count; the exit status: 1 when a check failed."""
        print(f"{self.tool}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0
