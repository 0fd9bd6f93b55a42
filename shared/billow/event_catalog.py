"""``python -m billow.event_catalog``: the event catalog as the Markdown table of docs/events.md.

Without options it prints the table. ``--check FILE`` exits 1 when the block between FILE's
catalog markers is not the table of the code (tests/unit/test_event_catalog.py checks the same
for docs/events.md); ``--write FILE`` rewrites that block (``make catalog``).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from billow.domain.event_catalog import catalog_markdown

START = "<!-- catalog:start -->"
END = "<!-- catalog:end -->"
_BLOCK = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)


class MissingMarkers(ValueError):
    """The document has no catalog block to check or rewrite."""


def rendered_block() -> str:
    """The whole generated block, markers included. Blank lines set the table apart from the
    comments, so every Markdown renderer sees a table."""
    return f"{START}\n\n{catalog_markdown()}\n{END}"


def current_block(document: str) -> str:
    found = _BLOCK.findall(document)
    if len(found) != 1:
        raise MissingMarkers(f"expected one {START} … {END} block, found {len(found)}")
    return str(found[0])


def with_block(document: str) -> str:
    """The document with its catalog block replaced by the one generated from the code."""
    current_block(document)  # exactly one block, or the rewrite would be ambiguous
    block = rendered_block()
    return _BLOCK.sub(lambda _: block, document)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m billow.event_catalog", description=__doc__)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", metavar="FILE", type=Path, help="exit 1 if FILE's catalog block is stale")
    action.add_argument("--write", metavar="FILE", type=Path, help="rewrite FILE's catalog block")
    args = parser.parse_args(argv)
    path: Path | None = args.check or args.write
    if path is None:
        sys.stdout.write(catalog_markdown())
        return 0
    document = path.read_text(encoding="utf-8")
    try:
        updated = with_block(document)
    except MissingMarkers as missing:
        sys.stderr.write(f"{path}: {missing}\n")
        return 2
    if args.write:
        if updated != document:
            path.write_text(updated, encoding="utf-8")
        return 0
    if updated != document:
        sys.stderr.write(f"{path}: the event catalog differs from the code; run `make catalog`\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
