"""Webhooks to the ERP: endpoints, the outbox, signing, the HTTP client and the relay."""
