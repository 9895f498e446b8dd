"""External context in one DuckDB file: core blocks, recall, archival, documents, search index."""
