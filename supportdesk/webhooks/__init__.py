"""Webhooks: admins register URLs; the worker POSTs signed events to them."""
