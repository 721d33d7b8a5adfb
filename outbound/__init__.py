"""What the gateway sends: queries to the PACS, and (later) status to the RIS and webhooks."""
