"""The web application (server-rendered pages with htmx): see docs/ui.md."""
