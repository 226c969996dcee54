"""The demo shop's models: orders and trip bookings, written by the example workflows' transactional activities."""

from __future__ import annotations

import logging

from django.db import models

logger = logging.getLogger(__name__)


class Order(models.Model):
    class Status(models.TextChoices):
        AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"

    order_id = models.CharField(max_length=100, unique=True)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.AWAITING_PAYMENT)
    payment_id = models.CharField(max_length=100, blank=True, default="")
    tracking = models.CharField(max_length=100, blank=True, default="")
    note = models.CharField(max_length=200, blank=True, default="")
    # The workflow instance that created the order, to find it in the durable admin.
    instance_id = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "-created_at"], name="project_order_status")]

    def __str__(self) -> str:
        return f"{self.order_id} ({self.status})"


class Booking(models.Model):
    """One part of a trip (a flight, a hotel, a car), booked and maybe cancelled by the trip saga."""

    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        CANCELLED = "cancelled", "Cancelled"

    trip_id = models.CharField(max_length=100)
    kind = models.CharField(max_length=20)
    detail = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.BOOKED)
    note = models.CharField(max_length=200, blank=True, default="")
    instance_id = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["trip_id", "kind"], name="project_booking_one_per_kind")]

    def __str__(self) -> str:
        return f"{self.trip_id} {self.kind} ({self.status})"
