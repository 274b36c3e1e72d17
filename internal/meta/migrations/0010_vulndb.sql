-- The offline vulnerability database (OSV records, internal/scan/vulndb). Every import writes a
-- complete new generation of rows beside the current one; one transaction then points
-- vulndb_current at it, and the rows of the generation it replaced are deleted afterwards in
-- batches. Readers take the current generation once and read only its rows, so an import in
-- progress, failed or interrupted never shows.

-- One row per import; its id is the generation number its rows carry. status: 'running'
-- (updated_at is its heartbeat, advanced by every batch it writes), 'current', 'replaced' (a
-- later import took over), 'failed'. purged: the generation's rows are gone. report is the
-- import's JSON report (sources with sizes and sha256, records per ecosystem, skipped records).
CREATE TABLE vulndb_imports (
    id          {{ID}},
    status      TEXT NOT NULL,
    purged      BOOLEAN NOT NULL DEFAULT FALSE,
    vulns       BIGINT NOT NULL DEFAULT 0,
    affected    BIGINT NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    report      TEXT NOT NULL DEFAULT '{}',
    started_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX vulndb_imports_status ON vulndb_imports (status, purged);

-- The generation readers use: exactly one row; 0 until the first import succeeds.
CREATE TABLE vulndb_current (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO vulndb_current (id, generation, updated_at) VALUES (1, 0, 0);

-- One row per vulnerability (withdrawn records are not imported). aliases, upstream, refs
-- (reference URLs) and cwe_ids are JSON arrays of strings; cve is the CVE id shown for it (the
-- id itself, or the first CVE among aliases and upstream; '' if none). severity is computed at
-- import (CVSS v3, else v4, else the database's own rating); scores are CVSS base scores,
-- NULL without a vector of that version.
CREATE TABLE vulndb_vulns (
    generation   BIGINT NOT NULL,
    id           TEXT NOT NULL,
    modified     BIGINT NOT NULL,
    published    BIGINT NOT NULL,
    summary      TEXT NOT NULL,
    details      TEXT NOT NULL,
    aliases      TEXT NOT NULL,
    upstream     TEXT NOT NULL,
    cve          TEXT NOT NULL,
    severity     TEXT NOT NULL,
    cvss3_vector TEXT NOT NULL,
    cvss3_score  DOUBLE PRECISION,
    cvss2_vector TEXT NOT NULL,
    cvss2_score  DOUBLE PRECISION,
    cvss4_vector TEXT NOT NULL,
    cvss4_score  DOUBLE PRECISION,
    refs         TEXT NOT NULL,
    cwe_ids      TEXT NOT NULL,
    PRIMARY KEY (generation, id)
);

-- The packages a vulnerability affects: one row per OSV affected[] entry that names a package.
-- ecosystem is the base ecosystem ("Debian", "Alpine", "Go", "PyPI"); suffix what followed its
-- first ':', a release ("12", "v3.19", "22.04:LTS") or for Maven a repository URL, '' when the
-- entry applies to every release; name the package name normalised as the matcher looks it up
-- (PyPI per PEP 503). ranges is JSON: the entry's SEMVER and ECOSYSTEM ranges, and the listed
-- versions those ranges do not already cover. Purges delete a generation's rows by id range.
CREATE TABLE vulndb_affected (
    id         {{ID}},
    generation BIGINT NOT NULL,
    ecosystem  TEXT NOT NULL,
    suffix     TEXT NOT NULL,
    name       TEXT NOT NULL,
    vuln_id    TEXT NOT NULL,
    ranges     TEXT NOT NULL
);
CREATE INDEX vulndb_affected_package ON vulndb_affected (generation, ecosystem, name);
