"""``python -m billow``: the operator CLI (see billow.cli)."""

from billow.cli import main

raise SystemExit(main())
