"""Wiring: which adapter serves each port, built once per container and shared by requests.

Each service (and the adapters and domain modules behind it) is imported when a route first
asks for it, not at cold start: a GET of a customer never loads the pricing engine.
Tests swap the whole container (``use_container``) to run the same routes on other adapters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from billow.adapters.aws import dynamodb_client
from billow.adapters.dynamodb.table import DynamoTable
from billow.adapters.system import SystemClock, new_id
from billow.ports.clock import Clock
from billow.ports.ids import IdGenerator
from billow.settings import get_settings

if TYPE_CHECKING:
    from billow.adapters.documents.s3_store import S3DocumentStore
    from billow.adapters.dynamodb.credit_balances import DynamoCreditBalanceRepository
    from billow.adapters.dynamodb.event_log import DynamoEventLog
    from billow.adapters.dynamodb.invoices import DynamoInvoiceRepository
    from billow.adapters.dynamodb.tax_profiles import DynamoTaxProfileRepository
    from billow.adapters.dynamodb.tax_rules import DynamoTaxRuleRepository
    from billow.adapters.dynamodb.usage import DynamoUsageStore
    from billow.adapters.dynamodb.webhook_deliveries import DynamoWebhookDeliveryRepository
    from billow.adapters.webhooks.sqs_queue import SqsDeliveryQueue
    from billow.domain.eu_vat import EuVatRates
    from billow.domain.tenancy import InvoiceSettings, Scope
    from billow.ports.billing_cycle import BillingCycleRunner
    from billow.ports.documents import DocumentRendering
    from billow.services.billing_cycle import BillingCycleService
    from billow.services.credit_notes import CreditNoteService
    from billow.services.custom_fields import CustomFieldService
    from billow.services.customers import CustomerService
    from billow.services.documents import (
        DocumentAssembler,
        DocumentLinkService,
        DocumentRenderingService,
        DocumentSettings,
    )
    from billow.services.dunning import DunningService
    from billow.services.dunning_policies import DunningPolicyService
    from billow.services.eu_vat_rates import EuVatRateService, VatRatesSource
    from billow.services.fx import FxService, RatesSource
    from billow.services.gateway_webhooks import GatewayWebhookService
    from billow.services.gateways import GatewayService
    from billow.services.invoices import InvoiceService
    from billow.services.meters import MeterService
    from billow.services.payment_methods import PaymentMethodService
    from billow.services.payment_simulations import PaymentSimulationService
    from billow.services.payments import PaymentService
    from billow.services.plans import PlanService
    from billow.services.price_overrides import PriceOverrideService
    from billow.services.prices import PriceService
    from billow.services.products import ProductService
    from billow.services.refunds import RefundService
    from billow.services.settings import SettingsService
    from billow.services.subscriptions import SubscriptionService
    from billow.services.tax_calculation import TaxCalculation
    from billow.services.tax_exports import TaxExportService
    from billow.services.tax_profile import TaxProfileService
    from billow.services.tax_rules import TaxRuleService
    from billow.services.tenancy import TenancyService
    from billow.services.test_clocks import TestClockService
    from billow.services.usage import UsageService
    from billow.services.usage_alerts import UsageAlertService
    from billow.services.usage_ingest import UsageIngestService
    from billow.services.vat_ids import VatIdService
    from billow.services.webhook_delivery import WebhookDispatcher, WebhookFanout
    from billow.services.webhook_endpoints import WebhookEndpointService


EU_VAT_TABLE_SECONDS = 300.0


def document_settings_of(invoicing: InvoiceSettings) -> DocumentSettings:
    """The tenant's document settings as the renderers take them (the logo decoded once)."""
    import base64

    from billow.domain.billing_document import Branding
    from billow.services.documents import DocumentSettings

    branding = invoicing.branding
    return DocumentSettings(
        branding=Branding(
            primary_color=branding.primary_color,
            accent_color=branding.accent_color,
            footer_text=branding.footer_text,
            logo_png=base64.b64decode(branding.logo_png) if branding.logo_png else None,
        ),
        embed_einvoice_in_pdf=invoicing.embed_einvoice_in_pdf,
    )


@dataclass
class Container:
    clock: Clock
    new_id: IdGenerator
    _eu_vat_cache: tuple[float, EuVatRates] | None = None

    @cached_property
    def table(self) -> DynamoTable:
        return DynamoTable(dynamodb_client(), get_settings().table_name)

    @cached_property
    def customers(self) -> CustomerService:
        from billow.adapters.dynamodb.custom_fields import DynamoCustomFieldRepository
        from billow.adapters.dynamodb.customers import DynamoCustomerRepository
        from billow.adapters.dynamodb.test_clocks import DynamoTestClockRepository
        from billow.services.customers import CustomerService

        return CustomerService(
            DynamoCustomerRepository(self.table),
            DynamoCustomFieldRepository(self.table),
            self.clock,
            self.new_id,
            clocks=DynamoTestClockRepository(self.table),
            vat_ids=self.vat_ids,
        )

    @cached_property
    def custom_fields(self) -> CustomFieldService:
        from billow.adapters.dynamodb.custom_fields import DynamoCustomFieldRepository
        from billow.services.custom_fields import CustomFieldService

        return CustomFieldService(DynamoCustomFieldRepository(self.table), self.clock, self.new_id)

    @cached_property
    def products(self) -> ProductService:
        from billow.adapters.dynamodb.products import DynamoProductRepository
        from billow.services.products import ProductService

        return ProductService(DynamoProductRepository(self.table), self.clock, self.new_id)

    @cached_property
    def meters(self) -> MeterService:
        from billow.adapters.dynamodb.meters import DynamoMeterRepository
        from billow.services.meters import MeterService

        return MeterService(DynamoMeterRepository(self.table), self.clock, self.new_id)

    @cached_property
    def prices(self) -> PriceService:
        from billow.adapters.dynamodb.meters import DynamoMeterRepository
        from billow.adapters.dynamodb.prices import DynamoPriceRepository
        from billow.adapters.dynamodb.products import DynamoProductRepository
        from billow.services.prices import PriceService

        return PriceService(
            DynamoPriceRepository(self.table),
            DynamoProductRepository(self.table),
            self.clock,
            self.new_id,
            meters=DynamoMeterRepository(self.table),
        )

    @cached_property
    def price_overrides(self) -> PriceOverrideService:
        from billow.adapters.dynamodb.customers import DynamoCustomerRepository
        from billow.adapters.dynamodb.price_overrides import DynamoPriceOverrideRepository
        from billow.adapters.dynamodb.products import DynamoProductRepository
        from billow.services.price_overrides import PriceOverrideService

        return PriceOverrideService(
            DynamoPriceOverrideRepository(self.table),
            DynamoCustomerRepository(self.table),
            DynamoProductRepository(self.table),
            self.clock,
            self.new_id,
        )

    @cached_property
    def plans(self) -> PlanService:
        from billow.adapters.dynamodb.customers import DynamoCustomerRepository
        from billow.adapters.dynamodb.plans import DynamoPlanRepository
        from billow.adapters.dynamodb.price_overrides import DynamoPriceOverrideRepository
        from billow.adapters.dynamodb.prices import DynamoPriceRepository
        from billow.adapters.dynamodb.products import DynamoProductRepository
        from billow.services.plans import PlanService

        return PlanService(
            DynamoPlanRepository(self.table),
            DynamoPriceRepository(self.table),
            DynamoProductRepository(self.table),
            self.clock,
            self.new_id,
            overrides=DynamoPriceOverrideRepository(self.table),
            customers=DynamoCustomerRepository(self.table),
            subscriptions=self.subscriptions,
        )

    @cached_property
    def subscriptions(self) -> SubscriptionService:
        from billow.adapters.dynamodb.customers import DynamoCustomerRepository
        from billow.adapters.dynamodb.plans import DynamoPlanRepository
        from billow.adapters.dynamodb.price_overrides import DynamoPriceOverrideRepository
        from billow.adapters.dynamodb.prices import DynamoPriceRepository
        from billow.adapters.dynamodb.products import DynamoProductRepository
        from billow.adapters.dynamodb.subscriptions import DynamoSubscriptionRepository
        from billow.adapters.dynamodb.tenancy import DynamoTenantRepository
        from billow.adapters.dynamodb.test_clocks import DynamoTestClockRepository
        from billow.services.subscriptions import SubscriptionService

        return SubscriptionService(
            subscriptions=DynamoSubscriptionRepository(self.table),
            customers=DynamoCustomerRepository(self.table),
            plans=DynamoPlanRepository(self.table),
            prices=DynamoPriceRepository(self.table),
            products=DynamoProductRepository(self.table),
            overrides=DynamoPriceOverrideRepository(self.table),
            tenants=DynamoTenantRepository(self.table),
            clocks=DynamoTestClockRepository(self.table),
            clock=self.clock,
            new_id=self.new_id,
            usage=self.usage,
            invoicing=self.invoicing,
        )

    @cached_property
    def usage_store(self) -> DynamoUsageStore:
        from billow.adapters.dynamodb.usage import DynamoUsageStore

        return DynamoUsageStore(self.table)

    @cached_property
    def usage(self) -> UsageService:
        from billow.adapters.dynamodb.meters import DynamoMeterRepository
        from billow.services.usage import UsageService

        return UsageService(self.usage_store, DynamoMeterRepository(self.table))

    @cached_property
    def usage_ingest(self) -> UsageIngestService:
        # Built without the subscription service: the ingest function loads no billing code.
        from billow.adapters.dynamodb.customers import DynamoCustomerRepository
        from billow.adapters.dynamodb.meters import DynamoMeterRepository
        from billow.adapters.dynamodb.subscriptions import DynamoSubscriptionRepository
        from billow.adapters.dynamodb.test_clocks import DynamoTestClockRepository
        from billow.services.usage_ingest import UsageIngestService

        return UsageIngestService(
            meters=DynamoMeterRepository(self.table),
            customers=DynamoCustomerRepository(self.table),
            subscriptions=DynamoSubscriptionRepository(self.table),
            clocks=DynamoTestClockRepository(self.table),
            store=self.usage_store,
            clock=self.clock,
            new_id=self.new_id,
            blocks=self.usage_alerts,
        )

    @cached_property
    def usage_alerts(self) -> UsageAlertService:
        from billow.adapters.dynamodb.price_overrides import DynamoPriceOverrideRepository
        from billow.adapters.dynamodb.prices import DynamoPriceRepository
        from billow.adapters.dynamodb.products import DynamoProductRepository
        from billow.adapters.dynamodb.subscriptions import DynamoSubscriptionRepository
        from billow.adapters.dynamodb.usage_alerts import DynamoUsageAlertRepository
        from billow.services.usage_alerts import UsageAlertService

        return UsageAlertService(
            alerts=DynamoUsageAlertRepository(self.table),
            subscriptions=DynamoSubscriptionRepository(self.table),
            prices=DynamoPriceRepository(self.table),
            products=DynamoProductRepository(self.table),
            overrides=DynamoPriceOverrideRepository(self.table),
            usage=self.usage,
            clock=self.clock,
            new_id=self.new_id,
        )

    @cached_property
    def invoices(self) -> DynamoInvoiceRepository:
        from billow.adapters.dynamodb.invoices import DynamoInvoiceRepository

        return DynamoInvoiceRepository(self.table)

    @cached_property
    def invoicing(self) -> InvoiceService:
        from billow.adapters.dynamodb.customers import DynamoCustomerRepository
        from billow.adapters.dynamodb.tenancy import DynamoTenantRepository
        from billow.adapters.dynamodb.test_clocks import DynamoTestClockRepository
        from billow.adapters.payments import DeferredCollection
        from billow.services.invoices import InvoiceService
        from billow.services.tax_currency import TaxCurrencyStatement

        return InvoiceService(
            invoices=self.invoices,
            customers=DynamoCustomerRepository(self.table),
            tenants=DynamoTenantRepository(self.table),
            balances=self.credit_balances,
            clocks=DynamoTestClockRepository(self.table),
            tax=self.tax_calculation,
            tax_currency=TaxCurrencyStatement(self.fx),
            fx=self.fx,
            collection=DeferredCollection(lambda: self.payments),
            clock=self.clock,
            new_id=self.new_id,
        )

    @cached_property
    def credit_notes(self) -> CreditNoteService:
        from billow.services.credit_notes import CreditNoteService
        from billow.services.refunds import RefundService

        notes = CreditNoteService(self.invoicing)
        notes.refunds = RefundService(self.payments, notes)
        return notes

    @cached_property
    def refunds(self) -> RefundService:
        refunds = self.credit_notes.refunds
        assert refunds is not None
        return refunds

    @cached_property
    def payments(self) -> PaymentService:
        from billow.adapters.dynamodb.gateways import DynamoGatewayRepository
        from billow.adapters.dynamodb.payment_methods import DynamoPaymentMethodRepository
        from billow.adapters.dynamodb.payments import DynamoPaymentRepository
        from billow.adapters.gateways.directory import GatewayAdapters
        from billow.services.payments import PaymentService

        return PaymentService(
            invoicing=self.invoicing,
            payments=DynamoPaymentRepository(self.table),
            methods=DynamoPaymentMethodRepository(self.table),
            gateways=DynamoGatewayRepository(self.table),
            adapters=GatewayAdapters(self.table, self.gateways.credentials),
            policy_for=self._dunning_steps_for,
            standing=lambda scope, subscription_id, past_due: self.subscriptions.payment_standing(
                scope, subscription_id, past_due=past_due
            ),
        )

    def _dunning_steps_for(
        self, scope: Scope, customer_id: str, subscription_id: str | None
    ) -> tuple[str | None, list[tuple[int, str]]]:
        """The steps of the dunning policy for an invoice's customer and subscription's plan."""
        from billow.domain.dunning import BUILTIN_POLICY_ID

        plan_id = None
        if subscription_id is not None:
            plan_id = self.subscriptions.get(scope, subscription_id).plan_id
        policy = self.dunning_policies.policy_for(scope, customer_id, plan_id)
        steps = [(step.after_days, str(step.action)) for step in policy.steps]
        return (None if policy.id == BUILTIN_POLICY_ID else policy.id), steps

    @cached_property
    def payment_simulations(self) -> PaymentSimulationService:
        from billow.services.payment_simulations import PaymentSimulationService

        return PaymentSimulationService(self.payments)

    @cached_property
    def gateway_webhooks(self) -> GatewayWebhookService:
        from billow.services.gateway_webhooks import GatewayWebhookService

        return GatewayWebhookService(self.payments, self.refunds)

    @cached_property
    def dunning(self) -> DunningService:
        from billow.services.dunning import DunningService

        return DunningService(
            self.payments,
            cancel_subscription=self.subscriptions.cancel_at,
        )

    @cached_property
    def settings(self) -> SettingsService:
        from billow.adapters.dynamodb.tenancy import DynamoTenantRepository
        from billow.services.settings import SettingsService

        return SettingsService(DynamoTenantRepository(self.table), self.clock)

    @cached_property
    def gateways(self) -> GatewayService:
        from billow.adapters.aws import kms_client
        from billow.adapters.credentials import KmsCredentialVault
        from billow.adapters.dynamodb.gateways import DynamoGatewayRepository
        from billow.services.gateways import GatewayService

        vault = KmsCredentialVault(kms_client(), get_settings().credentials_key)
        return GatewayService(DynamoGatewayRepository(self.table), vault, self.clock, self.new_id)

    @cached_property
    def payment_methods(self) -> PaymentMethodService:
        from billow.adapters.dynamodb.customers import DynamoCustomerRepository
        from billow.adapters.dynamodb.gateways import DynamoGatewayRepository
        from billow.adapters.dynamodb.payment_methods import DynamoPaymentMethodRepository
        from billow.services.payment_methods import PaymentMethodService

        return PaymentMethodService(
            DynamoPaymentMethodRepository(self.table),
            DynamoCustomerRepository(self.table),
            DynamoGatewayRepository(self.table),
            self.clock,
            self.new_id,
        )

    @cached_property
    def dunning_policies(self) -> DunningPolicyService:
        from billow.adapters.dynamodb.customers import DynamoCustomerRepository
        from billow.adapters.dynamodb.dunning_policies import DynamoDunningPolicyRepository
        from billow.adapters.dynamodb.plans import DynamoPlanRepository
        from billow.services.dunning_policies import DunningPolicyService

        return DunningPolicyService(
            DynamoDunningPolicyRepository(self.table),
            DynamoCustomerRepository(self.table),
            DynamoPlanRepository(self.table),
            self.clock,
            self.new_id,
        )

    @cached_property
    def tax_rule_repository(self) -> DynamoTaxRuleRepository:
        from billow.adapters.dynamodb.tax_rules import DynamoTaxRuleRepository

        return DynamoTaxRuleRepository(self.table)

    @cached_property
    def tax_profile_repository(self) -> DynamoTaxProfileRepository:
        from billow.adapters.dynamodb.tax_profiles import DynamoTaxProfileRepository

        return DynamoTaxProfileRepository(self.table)

    @cached_property
    def tax_rules(self) -> TaxRuleService:
        from billow.adapters.dynamodb.tenancy import DynamoTenantRepository
        from billow.services.tax_rules import TaxRuleService

        return TaxRuleService(
            self.tax_rule_repository, DynamoTenantRepository(self.table), self.clock, self.new_id
        )

    @cached_property
    def tax_profiles(self) -> TaxProfileService:
        from billow.services.tax_profile import TaxProfileService

        return TaxProfileService(self.tax_profile_repository, self.clock, self.new_id)

    @cached_property
    def tax_exports(self) -> TaxExportService:
        from billow.adapters.dynamodb.tenancy import DynamoTenantRepository
        from billow.services.tax_exports import TaxExportService

        return TaxExportService(self.invoices, DynamoTenantRepository(self.table))

    @cached_property
    def fx(self) -> FxService:
        from billow.adapters.dynamodb.fx import (
            DynamoFxOverrideRepository,
            DynamoFxPolicyRepository,
            DynamoReferenceRateStore,
            DynamoRefreshLog,
        )
        from billow.services.fx import FxService

        def ecb() -> RatesSource:
            # lxml loads only when rates are fetched (the scheduled refresh), never for the API.
            from billow.adapters.fx.ecb import EcbRatesSource

            return EcbRatesSource(get_settings().ecb_base_url, timeout=20)

        return FxService(
            rates_store=DynamoReferenceRateStore(self.table),
            policies=DynamoFxPolicyRepository(self.table),
            overrides=DynamoFxOverrideRepository(self.table),
            refresh_log=DynamoRefreshLog(self.table),
            clock=self.clock,
            new_id=self.new_id,
            source=ecb,
        )

    @cached_property
    def eu_vat_rates(self) -> EuVatRateService:
        from billow.adapters.dynamodb.fx import DynamoEuVatRateStore, DynamoRefreshLog
        from billow.adapters.vat.bundled_rates import load_bundled_eu_vat_rates
        from billow.services.eu_vat_rates import EuVatRateService

        def tedb() -> VatRatesSource:
            from billow.adapters.vat.tedb import TedbRatesSource

            return TedbRatesSource(get_settings().tedb_base_url, timeout=30)

        return EuVatRateService(
            store=DynamoEuVatRateStore(self.table),
            refresh_log=DynamoRefreshLog(self.table),
            clock=self.clock,
            source=tedb,
            bundled=load_bundled_eu_vat_rates,
        )

    @cached_property
    def vat_ids(self) -> VatIdService:
        from billow.adapters.dynamodb.vat_checks import DynamoVatCheckCache
        from billow.adapters.vat.vies import ViesClient
        from billow.services.vat_ids import VatIdService

        def requester(scope: Scope) -> str | None:
            profile = self.tax_profile_repository.get(scope)
            return profile.vat_id if profile is not None and profile.vat_id_type == "eu_vat" else None

        return VatIdService(
            registry=ViesClient(get_settings().vies_base_url, timeout=5),
            cache=DynamoVatCheckCache(self.table),
            clock=self.clock,
            requester_for=requester,
        )

    @cached_property
    def tax_calculation(self) -> TaxCalculation:
        from billow.adapters.dynamodb.customers import DynamoCustomerRepository
        from billow.adapters.dynamodb.products import DynamoProductRepository
        from billow.services.tax_calculation import TaxCalculation

        return TaxCalculation(
            profiles=self.tax_profile_repository,
            rules=self.tax_rule_repository,
            customers=DynamoCustomerRepository(self.table),
            products=DynamoProductRepository(self.table),
            eu_rates=self._eu_vat_table,
            vat_ids=self.vat_ids,
        )

    def _eu_vat_table(self) -> EuVatRates:
        """The EU VAT rate table, read at most every 5 minutes (it changes once a day at most)."""
        now = time.monotonic()
        if self._eu_vat_cache is None or now - self._eu_vat_cache[0] > EU_VAT_TABLE_SECONDS:
            self._eu_vat_cache = (now, self.eu_vat_rates.current())
        return self._eu_vat_cache[1]

    @cached_property
    def document_assembler(self) -> DocumentAssembler:
        from billow.adapters.dynamodb.customers import DynamoCustomerRepository
        from billow.services.documents import DocumentAssembler

        def document_settings(scope: Scope) -> DocumentSettings:
            return document_settings_of(self.settings.get(scope).invoicing)

        return DocumentAssembler(
            sources=self.invoices,
            customers=DynamoCustomerRepository(self.table),
            profiles=self.tax_profile_repository,
            settings=document_settings,
        )

    @cached_property
    def document_store(self) -> S3DocumentStore:
        from billow.adapters.aws import s3_client
        from billow.adapters.documents.s3_store import S3DocumentStore

        return S3DocumentStore(s3_client(), get_settings().documents_bucket)

    @cached_property
    def document_rendering(self) -> DocumentRenderingService:
        """The documents function's use case; fpdf2 and lxml load here, never for the API."""
        from billow.adapters.documents.cii import render_cii
        from billow.adapters.documents.pdf import render_pdf
        from billow.adapters.documents.ubl import render_ubl
        from billow.services.documents import DocumentRenderingService

        return DocumentRenderingService(
            assembler=self.document_assembler,
            store=self.document_store,
            renderers={"pdf": render_pdf, "ubl": render_ubl, "cii": render_cii},
            pdf_with_xml=lambda document, xml: render_pdf(document, embedded_xml=xml),
        )

    @cached_property
    def documents(self) -> DocumentLinkService:
        from billow.adapters.documents.rendering import InProcessDocumentRendering, LambdaDocumentRendering
        from billow.services.documents import DocumentLinkService

        function = get_settings().documents_function
        rendering: DocumentRendering
        if function:
            from billow.adapters.aws import lambda_client

            rendering = LambdaDocumentRendering(lambda_client(), function)
        else:
            rendering = InProcessDocumentRendering(lambda request: self.document_rendering.render(request))
        return DocumentLinkService(
            assembler=self.document_assembler,
            store=self.document_store,
            rendering=rendering,
            clock=SystemClock(),
        )

    @cached_property
    def webhook_endpoints(self) -> WebhookEndpointService:
        from billow.adapters.aws import kms_client
        from billow.adapters.credentials import KmsCredentialVault
        from billow.adapters.dynamodb.webhook_endpoints import DynamoWebhookEndpointRepository
        from billow.services.webhook_endpoints import WebhookEndpointService

        vault = KmsCredentialVault(kms_client(), get_settings().credentials_key)
        return WebhookEndpointService(
            DynamoWebhookEndpointRepository(self.table), vault, self.clock, self.new_id
        )

    @cached_property
    def webhook_deliveries(self) -> DynamoWebhookDeliveryRepository:
        from billow.adapters.dynamodb.webhook_deliveries import DynamoWebhookDeliveryRepository

        return DynamoWebhookDeliveryRepository(self.table)

    @cached_property
    def webhook_queue(self) -> SqsDeliveryQueue:
        from billow.adapters.aws import sqs_client
        from billow.adapters.webhooks.sqs_queue import SqsDeliveryQueue

        return SqsDeliveryQueue(sqs_client(), get_settings().webhook_deliveries_queue_url)

    @cached_property
    def webhook_fanout(self) -> WebhookFanout:
        from billow.services.webhook_delivery import WebhookFanout

        return WebhookFanout(
            self.webhook_endpoints, self.webhook_deliveries, self.webhook_queue, self.clock, self.new_id
        )

    @cached_property
    def webhook_dispatcher(self) -> WebhookDispatcher:
        from billow.adapters.webhooks.http_sender import deliver
        from billow.services.webhook_delivery import WebhookDispatcher

        return WebhookDispatcher(
            self.webhook_endpoints,
            self.webhook_deliveries,
            deliver,
            self.clock,
            queue=self.webhook_queue,
            backoff_scale=get_settings().webhook_backoff_scale,
        )

    @cached_property
    def billing_cycle(self) -> BillingCycleService:
        from billow.adapters.dynamodb.subscriptions import DynamoSubscriptionRepository
        from billow.services.billing_cycle import BillingCycleService

        return BillingCycleService(
            DynamoSubscriptionRepository(self.table),
            self.subscriptions,
            self.invoices,
            self.invoicing,
            finish_clock=lambda scope, clock_id, target: self.test_clocks.finish_advance(
                scope, clock_id, target
            ),
            runner=lambda: self.billing_cycle_runner,
            dunning=self.dunning,
        )

    @cached_property
    def billing_cycle_runner(self) -> BillingCycleRunner:
        arn = get_settings().billing_cycle_state_machine
        if arn:
            from billow.adapters.aws import stepfunctions_client
            from billow.adapters.billing_cycle import StepFunctionsBillingCycle

            return StepFunctionsBillingCycle(stepfunctions_client(), arn)
        from billow.adapters.billing_cycle import InlineBillingCycle

        return InlineBillingCycle(lambda: self.billing_cycle)

    @cached_property
    def test_clocks(self) -> TestClockService:
        from billow.adapters.dynamodb.test_clocks import DynamoTestClockRepository
        from billow.services.test_clocks import TestClockService

        return TestClockService(
            DynamoTestClockRepository(self.table),
            self.billing_cycle_runner,
            self.clock,
            self.new_id,
            wait_seconds=get_settings().clock_advance_wait_seconds,
        )

    @cached_property
    def event_log(self) -> DynamoEventLog:
        from billow.adapters.dynamodb.event_log import DynamoEventLog

        return DynamoEventLog(self.table)

    @cached_property
    def credit_balances(self) -> DynamoCreditBalanceRepository:
        from billow.adapters.dynamodb.credit_balances import DynamoCreditBalanceRepository

        return DynamoCreditBalanceRepository(self.table)

    @cached_property
    def tenancy(self) -> TenancyService:
        from billow.adapters.dynamodb.tenancy import DynamoApiKeyRepository, DynamoTenantRepository
        from billow.services.tenancy import TenancyService

        return TenancyService(
            DynamoTenantRepository(self.table), DynamoApiKeyRepository(self.table), self.clock, self.new_id
        )


_container: Container | None = None


def container() -> Container:
    global _container
    if _container is None:
        _container = Container(clock=SystemClock(), new_id=new_id)
    return _container


def use_container(replacement: Container | None) -> None:
    """Install another container (or None to rebuild from settings on next use)."""
    global _container
    _container = replacement
