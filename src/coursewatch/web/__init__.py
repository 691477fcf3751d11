"""The HTTP face of race HQ: API, ingest endpoints, Server-Sent Events, OpenAPI, index page."""
