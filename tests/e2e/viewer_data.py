"""Realistic, awkward data for the viewer's layout test: long names, long waits, big payloads, every status.

The instances are run in-process (durable.testing), so building the whole set takes about a second
and needs no worker. Names and texts are deliberately long and unbroken, as real projects' are:
reverse-DNS event types, dotted workflow names, URL-like subjects, UUID-like ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import durable
from durable.testing import run_until

ONBOARDING = "customer_onboarding.verify_identity_and_provision_accounts_for_enterprise_tenants"
REVIEW_DONE = "com.example.identity.verification.document_review_completed"
REVIEW_SUBJECT = "tenants/acme-industrial-holdings-international/customers/{}/reviews/passport-and-address"
STOCK = "com.example.inventory.warehouse_stock_level_recalculated_after_cycle_count"
SOURCE = "/services/identity-verification-gateway/eu-west-1/production/webhooks/document-review"


@durable.activity(name="identity.lookup_customer_record_in_the_regional_directory_service")
def lookup_customer(ctx: durable.ActivityContext, customer_id: str, region: str) -> dict:
    return {
        "customer_id": customer_id,
        "region": region,
        "legal_name": "ACME Industrial Holdings International Trading and Logistics Group",
        "addresses": [{"line": f"{n} Long Industrial Estate Road, Unit {n}", "country": "IE"} for n in range(1, 5)],
        "flags": ["enterprise", "requires_manual_review", "multi_region_data_residency"],
    }


@durable.activity(name="accounts.provision_workspace_and_single_sign_on_for_tenant")
def provision(ctx: durable.ActivityContext, customer_id: str, review: dict) -> dict:
    return {"workspace": f"ws-{customer_id}-primary-eu-west-1", "sso": "saml2", "seats": 250, "review": review}


@durable.workflow(name=ONBOARDING)
def onboarding(ctx: durable.WorkflowContext, customer_id: str, region: str = "eu-west-1", notes: str = "") -> dict:
    record = lookup_customer(ctx, customer_id, region)
    ctx.set_event("progress.identity_verification_state", {"state": "awaiting document review", "record": record})
    ctx.send_event("com.example.identity.verification.document_review_requested", "/onboarding", {"id": customer_id})
    review = ctx.wait_event(
        REVIEW_DONE,
        match={"customer.id": customer_id, "review.kind": "passport_and_proof_of_address"},
        subject=REVIEW_SUBJECT.format(customer_id),
        timeout=3 * 86400,
    )
    ctx.now()
    account = provision(ctx, customer_id, review.data)
    ctx.set_event("progress.identity_verification_state", {"state": "provisioned"})
    return {"customer_id": customer_id, "account": account, "token": str(ctx.uuid4())}


@durable.activity(
    name="billing.charge_the_first_invoice_through_the_payment_service_provider",
    retry=durable.RetryPolicy(max_attempts=2, initial_interval=0.01),
)
def charge_invoice(ctx: durable.ActivityContext, invoice: str, amount_cents: int) -> None:
    raise ValueError(
        f"The payment service provider declined invoice {invoice} for {amount_cents} cents: "
        "card_declined/insufficient_funds (issuer response 51, do not retry with the same card); "
        "see https://payments.example.com/dashboard/invoices/" + invoice + "/attempts/2?expand=issuer_response"
    )


@durable.workflow(name="billing.collect_first_invoice_and_activate_subscription_for_new_enterprise_tenant")
def collect_invoice(ctx: durable.WorkflowContext, invoice: str, amount_cents: int) -> None:
    charge_invoice(ctx, invoice, amount_cents)


@durable.activity(
    name="partners.register_tenant_with_the_partner_reseller_gateway",
    retry=durable.RetryPolicy(max_attempts=6, initial_interval=3600.0),
)
def register_partner(ctx: durable.ActivityContext, tenant: str) -> None:
    raise ConnectionError(f"partner-gateway.example.com:8443 refused the connection for {tenant}")


@durable.workflow(name="partners.register_with_reseller_gateway_and_sync_price_books")
def register_with_partner(ctx: durable.WorkflowContext, tenant: str) -> None:
    register_partner(ctx, tenant)


@durable.activity(
    name="search.push_changed_documents_to_the_search_cluster",
    retry=durable.RetryPolicy(max_attempts=10, initial_interval=0.01, backoff=1.0),
)
def push_documents(ctx: durable.ActivityContext, cluster: str) -> None:
    raise RuntimeError(f"search cluster {cluster} answered 503 Service Unavailable: shard allocation in progress")


@durable.workflow(name="search.sync_changed_documents", pause_after_errors=3)
def sync_documents(ctx: durable.WorkflowContext, cluster: str) -> None:
    push_documents(ctx, cluster)


@durable.workflow(name="maintenance.rebuild_search_index_for_all_tenant_documents_nightly")
def rebuild_index(ctx: durable.WorkflowContext, days: int = 2) -> str:
    ctx.sleep(days * 86400)
    return "rebuilt"


@durable.workflow(name="inventory.reconcile")
def reconcile(ctx: durable.WorkflowContext, warehouse: str) -> dict:
    counted = ctx.wait_event(STOCK)
    return {"warehouse": warehouse, "counted": counted.data}


@durable.activity(
    name="travel.release_the_reserved_inventory_with_the_supplier_booking_system",
    retry=durable.RetryPolicy(max_attempts=3, initial_interval=3600),
)
def release_inventory(ctx: durable.ActivityContext, supplier: str, reservation: str) -> None:
    if supplier == "hotels" and ctx.attempt == 1:
        raise ConnectionError("the supplier's booking system answered 503 Service Unavailable; retrying later")


@durable.activity(name="travel.reserve_inventory_with_the_supplier_booking_system", compensation=release_inventory)
def reserve_inventory(ctx: durable.ActivityContext, supplier: str, reservation: str) -> dict:
    return {"supplier": supplier, "reservation": reservation, "confirmation": f"CONF-{reservation}-" + "7" * 24}


@durable.workflow(name="travel.book_a_multi_leg_business_trip_with_flights_hotels_and_cars")
def book_trip(ctx: durable.WorkflowContext, trip: str) -> None:
    for supplier in ("flights", "hotels", "cars"):
        reserve_inventory(ctx, supplier, f"{trip}-{supplier}")
    raise RuntimeError(f"trip {trip}: the travel policy refused the total; every reservation is released")


@dataclass(frozen=True)
class ViewerData:
    """The ids of the instances built, by the kind of page each one shows."""

    completed: str
    waiting: str
    sleeping: str
    retrying: str
    failed: str
    paused: str
    paused_by_errors: str
    pending: str
    cancelled: str
    compensating: str
    fanned_out: tuple[str, ...]

    @property
    def instances(self) -> dict[str, str]:
        """One instance of each kind, by kind."""
        kinds = ("completed", "waiting", "sleeping", "retrying", "failed", "paused", "paused_by_errors", "pending")
        kinds += ("cancelled", "compensating")
        return {kind: getattr(self, kind) for kind in kinds}


PAUSE_REASON = "maintenance window for the search cluster upgrade (ticket OPS-4821), resume after 06:00 UTC"


def build() -> ViewerData:
    """Start, run and operate the instances; committed, so a live server sees them."""
    customer = "cust-7f3a9c2e-4b1d-4e8a-9f6b-2d7c1e5a8b90"
    completed = durable.start(onboarding, customer, notes="priority onboarding " * 8, instance_id=f"onb-{customer}")
    waiting = durable.start(onboarding, "cust-waiting-0001", instance_id="onboarding-cust-waiting-0001-eu-west-1")
    sleeping = durable.start(rebuild_index, 2, instance_id="nightly-index-rebuild-2026-12-01")
    retrying = durable.start(register_with_partner, "acme-industrial", instance_id="partner-acme-industrial")
    failed = durable.start(collect_invoice, "INV-2026-000481", 1_250_000, instance_id="invoice-INV-2026-000481")
    paused = durable.start(rebuild_index, 1, instance_id="nightly-index-rebuild-paused")
    paused_by_errors = durable.start(sync_documents, "search-eu-west-1-prod", instance_id="sync-documents-eu-west-1")
    cancelled = durable.start(rebuild_index, 3, instance_id="nightly-index-rebuild-cancelled")
    # Compensating: 1 of 3 done, the second waiting an hour to try again.
    compensating = durable.start(book_trip, "TRIP-2026-000173", instance_id="business-trip-TRIP-2026-000173")
    fanned = tuple(durable.start(reconcile, f"wh-{n}", instance_id=f"reconcile-wh-{n}").instance_id for n in range(5))
    run_until(None, timeout=30)

    review = {"customer": {"id": customer}, "review": {"kind": "passport_and_proof_of_address", "by": "agent-42"}}
    durable.send_event(REVIEW_DONE, SOURCE, review, subject=REVIEW_SUBJECT.format(customer), id="review-" + customer)
    durable.send_event(STOCK, "/warehouses/cycle-counts", {"sku": "SKU-" + "9" * 40, "counted": 1200})
    # Kept for the waiting instance: it does not wait for this type yet.
    durable.send_event(
        "com.example.identity.verification.customer_uploaded_additional_document",
        SOURCE,
        {"document": "proof-of-address-utility-bill-2026-11.pdf", "pages": 3},
        subject="tenants/acme-industrial-holdings-international/customers/cust-waiting-0001/documents/upload",
        instance_id=waiting.instance_id,
    )
    run_until(None, timeout=30)
    durable.pause(paused.instance_id, PAUSE_REASON)
    durable.cancel(cancelled.instance_id, "superseded by the 2026-12-02 rebuild, which also covers archived tenants")
    pending = durable.start(onboarding, "cust-pending-0002", instance_id="onboarding-cust-pending-0002-eu-west-1")
    return ViewerData(
        completed=completed.instance_id,
        waiting=waiting.instance_id,
        sleeping=sleeping.instance_id,
        retrying=retrying.instance_id,
        failed=failed.instance_id,
        paused=paused.instance_id,
        paused_by_errors=paused_by_errors.instance_id,
        pending=pending.instance_id,
        cancelled=cancelled.instance_id,
        compensating=compensating.instance_id,
        fanned_out=fanned,
    )
