"""The typed HTTP contract: routes declared once, validated, and described as OpenAPI 3.1."""
