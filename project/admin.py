"""The demo shop's orders and trip bookings in the admin, read-only: the workflows write them."""

from __future__ import annotations

import logging

from django.contrib import admin

from project.models import Booking, Order

logger = logging.getLogger(__name__)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["order_id", "status", "amount", "payment_id", "tracking", "instance_id", "created_at"]
    list_filter = ["status"]
    search_fields = ["order_id", "payment_id", "tracking", "instance_id"]
    readonly_fields = [f.name for f in Order._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ["trip_id", "kind", "detail", "status", "note", "instance_id", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["trip_id", "instance_id"]
    readonly_fields = [f.name for f in Booking._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
