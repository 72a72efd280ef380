"""Cross-check of segment.pseudonym() against Python's hmac (HMAC-SHA-256) on the same key and input.

Run by scripts/test.sh (layer 4) with any Python 3 (only the standard library). Reads the CSV file
written by psql: purpose, kind, customer_key, pseudonym (segment.pseudonym(customer_key, purpose)
under the key given as the second argument, for integer, text, Chinese and uuid customer keys).
The message is the customer key's UTF-8 bytes, preceded by the purpose and a NUL byte when there is
a purpose. Prints one line per check and ends with 'hmac: N passed, M failed'; exit status 1 on failure.
"""
import csv
import hashlib
import hmac
import sys
from collections import defaultdict

from checks import Checks


def expected(key, purpose, customer_key):
    message = (purpose + "\0" + customer_key if purpose else customer_key).encode("utf-8")
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def main(path, key):
    groups = defaultdict(lambda: [0, 0])
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            g = groups[(row["purpose"], row["kind"])]
            g[0] += 1
            if row["pseudonym"] == expected(key, row["purpose"], row["customer_key"]):
                g[1] += 1
            elif g[0] - g[1] <= 3:
                print(f"   differs: {row}", file=sys.stderr)
    checks = {f"purpose {p!r}, {kind} keys: {ok} of {n} equal": n > 0 and ok == n for (p, kind), (n, ok) in sorted(groups.items())}
    checks["every purpose and kind of key was exported"] = len(groups) == 12
    check = Checks("hmac", "pseudonym() vs Python hmac: ")
    for name, ok in checks.items():
        check(name, ok)
    return check.done()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
