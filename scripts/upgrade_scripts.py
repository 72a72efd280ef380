"""The upgrade script of the release under way, assembled from its template.

    python3 scripts/upgrade_scripts.py OUT_DIR          writes OUT_DIR/pg_segment--A--B.sql for
                                                        every template sql/upgrade/A--B.sql
    python3 scripts/upgrade_scripts.py --check          assembles into memory only (exit 1 on error)

A template holds the hand-written steps of an update (ALTER TABLE, ALTER TYPE, DROP of changed
signatures, policies, grants) and, in their place among them, lines that stand for statements of
the family files, so that an object is written once, in its family file, and the upgrade script
cannot drift from the install script:

    \\ir ../browsing.sql                      the whole file (every object of it is new)
    \\ir ../views.sql segment.a segment.b     the statements of those objects, in the family
                                             file's order: every CREATE and COMMENT ON of a
                                             function or aggregate of that name (all its
                                             overloads); type:NAME for a new type (its CREATE
                                             TYPE and COMMENT ON TYPE), cast:SOURCE:TARGET for
                                             a new cast

A selected CREATE FUNCTION or CREATE AGGREGATE is written as CREATE OR REPLACE, which creates a
new object and replaces one of 0.1.0 alike (a changed signature or return type needs its DROP in
the template first). `make freeze` writes the assembled script into sql/ and records it; from
then on it is a released script, never edited. Fails (exit 1) when a file is missing or a named
object has no statement in it. Statements are split the way the family files are written: one
ends at a line ending in ';' outside a dollar-quoted body (with BEGIN ATOMIC, at its END;).
"""
import glob
import os
import re
import sys

DOLLAR = re.compile(r"\$[A-Za-z_]*\$")
KEY = re.compile(r"^(?:CREATE(?: OR REPLACE)?|COMMENT ON) (FUNCTION|AGGREGATE|TYPE) ([A-Za-z_][A-Za-z0-9_.]*)")
CAST = re.compile(r"^(?:CREATE|COMMENT ON) CAST \(([^ ]+) AS ([^ )]+)\)")


def statements(text):
    """The top-level statements of a family file, each a list of lines (comments between them dropped)."""
    out, cur, tag = [], [], None
    for line in text.splitlines():
        if not cur and (not line.strip() or line.startswith("--")):
            continue
        cur.append(line)
        for m in DOLLAR.finditer(line):
            if tag is None:
                tag = m.group(0)
            elif m.group(0) == tag:
                tag = None
        # a SQL-standard body (BEGIN ATOMIC ... END) holds statements of its own
        atomic = any("BEGIN ATOMIC" in l for l in cur)
        if tag is None and (line.strip() == "END;" if atomic else line.rstrip().endswith(";")):
            out.append(cur)
            cur = []
    if cur:
        raise ValueError("a statement does not end: " + cur[0])
    return out


def key(first_line):
    m = CAST.match(first_line)
    if m:
        return f"cast:{m.group(1)}:{m.group(2)}"
    m = KEY.match(first_line)
    if not m:
        return None
    return ("type:" if m.group(1) == "TYPE" else "") + m.group(2)


def selected(path, names):
    chosen = [s for s in statements(open(path, encoding="utf-8").read()) if key(s[0]) in names]
    missing = set(names) - {key(s[0]) for s in chosen}
    if missing:
        raise ValueError(f"{path} has no statement of {', '.join(sorted(missing))}")
    lines = []
    for s in chosen:
        s = list(s)
        s[0] = re.sub(r"^CREATE (FUNCTION|AGGREGATE) ", r"CREATE OR REPLACE \1 ", s[0])
        lines.extend(s)
    return lines


def assemble(template):
    out = []
    for line in open(template, encoding="utf-8").read().splitlines():
        if not line.startswith("\\ir "):
            out.append(line)
            continue
        words = line.split()
        path = os.path.normpath(os.path.join(os.path.dirname(template), words[1]))
        if len(words) == 2:
            text = open(path, encoding="utf-8").read()
            if any(l.startswith("\\ir ") for l in text.splitlines()):
                raise ValueError(f"{path}: an included file may not include")
            out.extend(text.splitlines())
        else:
            out.extend(selected(path, words[2:]))
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: upgrade_scripts.py OUT_DIR | --check")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    for template in sorted(glob.glob(os.path.join(root, "sql", "upgrade", "*--*.sql"))):
        try:
            text = assemble(template)
        except (OSError, ValueError) as e:
            sys.exit(f"[upgrade] {os.path.relpath(template, root)}: {e}")
        if sys.argv[1] != "--check":
            target = os.path.join(sys.argv[1], "pg_segment--" + os.path.basename(template))
            with open(target + ".tmp", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(target + ".tmp", target)


if __name__ == "__main__":
    main()
