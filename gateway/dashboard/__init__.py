"""The imaging manager's dashboard: a page, its assets and a live feed, served by the gateway."""
