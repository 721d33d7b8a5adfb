"""What the gateway sends: queries to the PACS, status to the RIS over MLLP and webhooks,
both from the outbox (delivery.py)."""
