"""``make run`` / ``python -m billow.local``: the whole system on one machine.

Starts the embedded AWS emulator with every resource of template.yaml, the ticker for the
template's schedules, a demo tenant with a sandbox API key, and the HTTP API on
``$BILLOW_PORT`` (default 3000). ``BILLOW_DEV_API_KEY`` fixes the key so scripts can drive it.
Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

DEMO_TENANT_ID = "00000000-0000-7000-8000-000000000001"


def _local_defaults() -> None:
    # Local-only behaviour; the template's Globals provide everything else.
    os.environ.setdefault("BILLOW_ENABLE_SWAGGER", "true")
    os.environ.setdefault("BILLOW_OUTBOX_SWEEP_MIN_AGE_SECONDS", "0")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_DEV", "false")


async def _serve(server: Any) -> None:
    # Powertools' ASGI resolver runs each sync middleware in the loop's default executor and
    # blocks it until the next one returns; asyncio's default pool (cores + 4 threads) would
    # deadlock under a handful of concurrent requests.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=128, thread_name_prefix="api")
    )
    await server.serve()


def main() -> int:
    started = time.perf_counter()
    _local_defaults()
    port = int(os.environ.get("BILLOW_PORT", "3000"))
    state_file = Path(os.environ.get("BILLOW_STATE_DIR", ".billow")) / "local.json"

    import uvicorn
    from aws_lambda_powertools.event_handler import HttpResolverLocal

    from billow.local.stack import LocalAws

    aws = LocalAws().start()
    try:
        from billow.adapters.aws import reset_clients
        from billow.api.app import build_api
        from billow.api.container import container, use_container
        from billow.api.idempotency import reset_idempotency

        reset_clients()
        reset_idempotency()
        use_container(None)
        tenancy = container().tenancy
        tenancy.create_tenant("Demo tenant", tenant_id=DEMO_TENANT_ID)
        issued = tenancy.issue_api_key(
            DEMO_TENANT_ID,
            livemode=False,
            name="local demo",
            secret=os.environ.get("BILLOW_DEV_API_KEY") or None,
        )
        app = build_api(HttpResolverLocal(enable_validation=True), with_ingest=True)

        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(
            json.dumps(
                {
                    "api_url": f"http://127.0.0.1:{port}",
                    "endpoint_url": aws.endpoint_url,
                    "env": aws.environment,
                },
                indent=2,
            )
        )
        base = f"http://127.0.0.1:{port}"
        print(
            "\n".join(
                [
                    "",
                    f"Billow is running (started in {time.perf_counter() - started:.1f} s).",
                    f"  API base URL   {base}/v1",
                    f"  API key        {issued.secret}   (sandbox, tenant {DEMO_TENANT_ID})",
                    f"  Swagger UI     {base}/swagger",
                    f"  OpenAPI 3.1    {base}/swagger?format=json",
                    f"  AWS emulator   {aws.endpoint_url}",
                    "",
                    "Try:",
                    f"  curl -s {base}/v1/customers -H 'Authorization: Bearer {issued.secret}' \\",
                    "       -H 'Idempotency-Key: first-customer' -H 'Content-Type: application/json' \\",
                    '       -d \'{"name": "Acme GmbH", "currency": "EUR"}\'',
                    "",
                    "Another tenant: python -m billow tenants create --name Other, then",
                    "                python -m billow api-keys create --tenant <id>",
                    "Press Ctrl-C to stop.",
                    "",
                ]
            ),
            flush=True,
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        # uvicorn shuts down gracefully, then re-raises Ctrl-C: that is a normal stop.
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(server))
    finally:
        aws.stop()
        state_file.unlink(missing_ok=True)
        print("Billow stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
