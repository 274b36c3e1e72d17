-- Vulnerability scanning: package inventories and scan reports.

-- The packages found in an image, by manifest digest: content-addressed like the image, so an
-- image in several repositories is read once, and a new vulnerability database re-matches it
-- without reading its layers again. extractor names the extractor version that produced it.
CREATE TABLE scan_inventories (
    digest     TEXT PRIMARY KEY,
    inventory  TEXT NOT NULL,
    extractor  TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One report per artifact digest, scanner registration and report MIME type, as Harbor keys
-- them. report is the raw report (JSON); summary holds what listings and the pull gate need
-- without parsing it: {"severity", "total", "fixable", "summary": {"High": n, …},
-- "ids": [[id, severity, alias…], …]}. generation is the vulnerability database generation a
-- built-in report was matched against.
CREATE TABLE scan_reports (
    id                TEXT PRIMARY KEY,
    digest            TEXT NOT NULL,
    registration_uuid TEXT NOT NULL,
    mime_type         TEXT NOT NULL,
    repository        TEXT NOT NULL,
    status            TEXT NOT NULL,
    status_text       TEXT NOT NULL DEFAULT '',
    severity          TEXT NOT NULL DEFAULT '',
    summary           TEXT NOT NULL DEFAULT '{}',
    report            TEXT,
    scanner           TEXT NOT NULL DEFAULT '{}',
    log               TEXT NOT NULL DEFAULT '',
    generation        BIGINT NOT NULL DEFAULT 0,
    stop_requested    BOOLEAN NOT NULL DEFAULT FALSE,
    start_time        BIGINT,
    end_time          BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (digest, registration_uuid, mime_type)
);
CREATE INDEX scan_reports_status ON scan_reports (status, updated_at);
CREATE INDEX scan_reports_generation ON scan_reports (registration_uuid, generation);
