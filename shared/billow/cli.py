"""Operator CLI: tenants, API keys and data upgrades, against the running local stack or
against AWS.

    python -m billow tenants create --name "Acme"
    python -m billow api-keys create --tenant <id> [--live] [--name ci]
    python -m billow api-keys list --tenant <id>
    python -m billow api-keys revoke --tenant <id> --key <key id>
    python -m billow reindex-tax-days [--segments 4]

``reindex-tax-days`` gives every invoice and credit note of every tenant the entry of the
tax-day index (gsi3) that it should have: run it once after upgrading from a version without
that index (docs/operations.md). It is safe to repeat and to run while the system works.

Target: the local stack by default (it leaves its endpoints in .billow/local.json); `--stack
NAME` reads the table from a deployed CloudFormation stack's outputs, `--table NAME` names it.
AWS credentials and region come from the usual boto3 sources.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

LOCAL_STATE = Path(os.environ.get("BILLOW_STATE_DIR", ".billow")) / "local.json"


def _target(args: argparse.Namespace) -> None:
    """Point boto3 and the settings at the chosen deployment before anything is built."""
    if args.table:
        os.environ["BILLOW_TABLE"] = args.table
    elif args.stack:
        import boto3

        stack = boto3.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        os.environ["BILLOW_TABLE"] = outputs["TableName"]
    else:
        if not LOCAL_STATE.exists():
            raise SystemExit(
                f"no local stack found ({LOCAL_STATE} is missing): start it with `make run`, "
                "or pass --stack/--table to work against AWS"
            )
        state = json.loads(LOCAL_STATE.read_text())
        os.environ.update(state["env"])
    from billow.settings import reset_settings

    reset_settings()


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m billow", description="Billow operator commands")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stack", help="a deployed CloudFormation stack name")
    where.add_argument("--table", help="the Billow DynamoDB table name")
    commands = parser.add_subparsers(dest="resource", required=True)

    tenants = commands.add_parser("tenants").add_subparsers(dest="action", required=True)
    create_tenant = tenants.add_parser("create", help="create a tenant")
    create_tenant.add_argument("--name", required=True)
    create_tenant.add_argument("--timezone", default="UTC")
    create_tenant.add_argument("--currency", default=None)

    keys = commands.add_parser("api-keys").add_subparsers(dest="action", required=True)
    create_key = keys.add_parser("create", help="issue an API key (the secret is shown once)")
    create_key.add_argument("--tenant", required=True)
    create_key.add_argument("--live", action="store_true", help="a live key (default: sandbox)")
    create_key.add_argument("--name", default=None)
    list_keys = keys.add_parser("list", help="list a tenant's keys (prefixes only)")
    list_keys.add_argument("--tenant", required=True)
    revoke_key = keys.add_parser("revoke", help="revoke a key")
    revoke_key.add_argument("--tenant", required=True)
    revoke_key.add_argument("--key", required=True, help="the key's id")

    reindex = commands.add_parser(
        "reindex-tax-days",
        help="write the tax-day index entries (gsi3) of invoices and credit notes stored before it existed",
    )
    reindex.add_argument(
        "--segments", type=int, default=1, help="parallel parts of the table scan (default 1)"
    )

    args = parser.parse_args(argv)
    if args.resource == "reindex-tax-days" and args.segments < 1:
        parser.error("--segments must be at least 1")
    _target(args)

    from botocore.exceptions import BotoCoreError, ClientError

    from billow.api.container import container
    from billow.api.routers.api_keys import api_key_to_dict
    from billow.domain.errors import BillowError

    tenancy = container().tenancy
    try:
        if args.resource == "reindex-tax-days":
            from billow.adapters.dynamodb.invoices import reindex_tax_days

            _print(reindex_tax_days(container().table, segments=args.segments).__dict__)
        elif args.resource == "tenants":
            tenant = tenancy.create_tenant(args.name, args.timezone, args.currency)
            _print(tenant.__dict__)
        elif args.action == "create":
            issued = tenancy.issue_api_key(args.tenant, livemode=args.live, name=args.name)
            _print({**api_key_to_dict(issued.key), "secret": issued.secret})
        elif args.action == "list":
            _print([api_key_to_dict(k) for k in tenancy.list_api_keys(args.tenant)])
        else:
            _print(api_key_to_dict(tenancy.revoke_api_key(args.tenant, args.key)))
    except BillowError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"error: could not reach the Billow table ({error}); is `make run` running?", file=sys.stderr)
        return 2
    return 0
