"""One settings object for every function.

In AWS each function gets its environment from template.yaml (Globals). In the local stack all
functions share one process, so configuration is read here, once, from os.environ, and never
from module globals scattered around the code base.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    table_name: str
    idempotency_table_name: str
    event_bus_name: str
    documents_bucket: str
    cursor_secret: bytes
    stage: str
    max_body_bytes: int
    max_ingest_body_bytes: int
    api_key_cache_seconds: float
    enable_swagger: bool
    outbox_sweep_min_age_seconds: float
    emit_metrics: bool
    # The billing-cycle state machine; empty: runs execute in this process (tests).
    billing_cycle_state_machine: str
    clock_advance_wait_seconds: float
    # The KMS key that seals payment gateway credentials (ports/credentials.py).
    credentials_key: str
    # Where the Stripe and GoCardless SDKs send requests; empty: the providers' own APIs.
    # The tests and the local stack point them at local servers speaking those APIs.
    # The SQS FIFO queue of webhook deliveries (template: WebhookDeliveriesQueue).
    webhook_deliveries_queue_url: str
    # The queue the bus delivers events to for the webhook fan-out (WebhookEventsQueue).
    webhook_events_queue_url: str
    # Multiplies the waits between webhook delivery attempts (tests: small; deployments: 1).
    webhook_backoff_scale: float
    stripe_api_base: str
    gocardless_api_base: str
    # The documents function the API asks for PDFs and e-invoices; empty: render in this
    # process (tests and the local stack).
    documents_function: str
    # Public sources of reference data (docs/fx.md); tests point them at local servers.
    # The ECB's euro reference rates, the Commission's TEDB (VAT rates) and VIES (VAT numbers).
    ecb_base_url: str
    tedb_base_url: str
    vies_base_url: str


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value else default


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(
        table_name=_env("BILLOW_TABLE", "billow-local"),
        idempotency_table_name=_env("BILLOW_IDEMPOTENCY_TABLE", "billow-local-idempotency"),
        event_bus_name=_env("BILLOW_EVENT_BUS", "billow-local"),
        documents_bucket=_env("BILLOW_DOCUMENTS_BUCKET", "billow-local-documents"),
        cursor_secret=_env("BILLOW_CURSOR_SECRET", "local-development-cursor-secret").encode(),
        stage=_env("BILLOW_STAGE", "local"),
        max_body_bytes=int(_env("BILLOW_MAX_BODY_BYTES", str(256 * 1024))),
        # A batch of 1,000 usage events with their properties (Lambda takes 6 MB).
        max_ingest_body_bytes=int(_env("BILLOW_MAX_INGEST_BODY_BYTES", str(5 * 1024 * 1024))),
        api_key_cache_seconds=float(_env("BILLOW_API_KEY_CACHE_SECONDS", "60")),
        enable_swagger=_env("BILLOW_ENABLE_SWAGGER", "false").lower() == "true",
        outbox_sweep_min_age_seconds=float(_env("BILLOW_OUTBOX_SWEEP_MIN_AGE_SECONDS", "30")),
        # Powertools prints a full metric set to stdout even when "disabled": we add none then.
        emit_metrics=_env("POWERTOOLS_METRICS_DISABLED", "false").lower() != "true",
        billing_cycle_state_machine=_env("BILLOW_BILLING_CYCLE_STATE_MACHINE", ""),
        clock_advance_wait_seconds=float(_env("BILLOW_CLOCK_ADVANCE_WAIT_SECONDS", "20")),
        credentials_key=_env("BILLOW_CREDENTIALS_KEY", ""),
        webhook_deliveries_queue_url=_env("BILLOW_WEBHOOK_DELIVERIES_QUEUE_URL", ""),
        webhook_events_queue_url=_env("BILLOW_WEBHOOK_EVENTS_QUEUE_URL", ""),
        webhook_backoff_scale=float(_env("BILLOW_WEBHOOK_BACKOFF_SCALE", "1")),
        stripe_api_base=_env("BILLOW_STRIPE_API_BASE", ""),
        gocardless_api_base=_env("BILLOW_GOCARDLESS_API_BASE", ""),
        documents_function=_env("BILLOW_DOCUMENTS_FUNCTION", ""),
        ecb_base_url=_env("BILLOW_ECB_BASE_URL", "https://www.ecb.europa.eu/stats/eurofxref"),
        tedb_base_url=_env("BILLOW_TEDB_BASE_URL", "https://ec.europa.eu/taxation_customs/tedb/ws"),
        vies_base_url=_env("BILLOW_VIES_BASE_URL", "https://ec.europa.eu/taxation_customs/vies/rest-api"),
    )


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
