"""Numbered schema migrations. Each runs once, in order, inside a transaction, and is recorded.

Never edit a migration that has shipped: add the next number instead.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "core blocks, recall, archival, documents, search index, summaries",
        """
        CREATE TABLE core_blocks (
            label VARCHAR PRIMARY KEY,
            value VARCHAR NOT NULL,
            char_limit INTEGER NOT NULL,
            version INTEGER NOT NULL,
            updated_at TIMESTAMP NOT NULL
        );
        CREATE TABLE core_history (
            label VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            value VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            PRIMARY KEY (label, version)
        );
        CREATE SEQUENCE message_ids START 1;
        CREATE TABLE messages (
            id BIGINT PRIMARY KEY DEFAULT nextval('message_ids'),
            conversation VARCHAR NOT NULL,
            role VARCHAR NOT NULL,
            content VARCHAR NOT NULL,
            tool_name VARCHAR,
            tool_args VARCHAR,
            created_at TIMESTAMP NOT NULL,
            n_tokens INTEGER,
            in_context BOOLEAN NOT NULL DEFAULT TRUE
        );
        CREATE SEQUENCE passage_ids START 1;
        CREATE TABLE passages (
            id BIGINT PRIMARY KEY DEFAULT nextval('passage_ids'),
            content VARCHAR NOT NULL,
            tags VARCHAR[] NOT NULL DEFAULT [],
            created_at TIMESTAMP NOT NULL
        );
        CREATE SEQUENCE document_ids START 1;
        CREATE TABLE documents (
            id BIGINT PRIMARY KEY DEFAULT nextval('document_ids'),
            path VARCHAR NOT NULL UNIQUE,
            size BIGINT NOT NULL,
            mtime DOUBLE NOT NULL,
            content_hash VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            error VARCHAR,
            indexed_at TIMESTAMP
        );
        CREATE SEQUENCE chunk_ids START 1;
        CREATE TABLE chunks (
            id BIGINT PRIMARY KEY DEFAULT nextval('chunk_ids'),
            document_id BIGINT NOT NULL,
            seq INTEGER NOT NULL,
            content VARCHAR NOT NULL,
            start_char INTEGER NOT NULL,
            end_char INTEGER NOT NULL
        );
        CREATE TABLE postings (
            corpus VARCHAR NOT NULL,
            item_id BIGINT NOT NULL,
            term VARCHAR NOT NULL,
            tf INTEGER NOT NULL
        );
        CREATE TABLE doc_lengths (
            corpus VARCHAR NOT NULL,
            item_id BIGINT NOT NULL,
            length INTEGER NOT NULL,
            PRIMARY KEY (corpus, item_id)
        );
        CREATE TABLE vectors (
            corpus VARCHAR NOT NULL,
            item_id BIGINT NOT NULL,
            model VARCHAR NOT NULL,
            vec FLOAT[] NOT NULL,
            PRIMARY KEY (corpus, item_id, model)
        );
        CREATE SEQUENCE summary_ids START 1;
        CREATE TABLE summaries (
            id BIGINT PRIMARY KEY DEFAULT nextval('summary_ids'),
            conversation VARCHAR NOT NULL,
            content VARCHAR NOT NULL,
            through_message BIGINT NOT NULL,
            created_at TIMESTAMP NOT NULL
        );
        """,
    ),
    (
        2,
        "the action journal",
        """
        CREATE SEQUENCE journal_ids START 1;
        CREATE TABLE journal (
            id BIGINT PRIMARY KEY DEFAULT nextval('journal_ids'),
            tool VARCHAR NOT NULL,
            args VARCHAR NOT NULL,
            risk VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            result VARCHAR,
            undo VARCHAR,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            undone_at TIMESTAMP
        );
        """,
    ),
    (
        3,
        "document manifest and the persisted ingest queue",
        """
        ALTER TABLE documents ADD COLUMN root VARCHAR NOT NULL DEFAULT '';
        ALTER TABLE documents ADD COLUMN kind VARCHAR NOT NULL DEFAULT '';
        ALTER TABLE documents ADD COLUMN title VARCHAR NOT NULL DEFAULT '';
        ALTER TABLE documents ADD COLUMN n_chunks INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE chunks ADD COLUMN content_hash VARCHAR NOT NULL DEFAULT '';
        CREATE TABLE ingest_queue (
            path VARCHAR PRIMARY KEY,
            root VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            queued_at TIMESTAMP NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0
        );
        """,
    ),
    (
        4,
        "where untrusted text came from: messages and passages remember their source",
        """
        ALTER TABLE messages ADD COLUMN source VARCHAR;
        ALTER TABLE passages ADD COLUMN source VARCHAR;
        """,
    ),
]
