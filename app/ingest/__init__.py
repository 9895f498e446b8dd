"""Document ingestion: watched folders become searchable memory (DESIGN.md decision 8)."""
