-- Scanner registrations (Harbor's /scanners) and the scanner each project picked.

-- One row per scanner adapter Berth can send scans to. uuid is the id the API shows; name and
-- url are unique, as in Harbor. auth is '', 'Basic', 'Bearer' or 'X-ScannerAdapter-API-Key' and
-- access_credential what goes with it, stored as given because Berth must present it to the
-- adapter (the API never shows it). immutable marks the built-in scanner (url builtin://berth),
-- which cannot be changed or deleted. At most one registration is the default, at most one is
-- the built-in.
CREATE TABLE scanner_registrations (
    id                {{ID}},
    uuid              TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL UNIQUE,
    description       TEXT NOT NULL DEFAULT '',
    url               TEXT NOT NULL UNIQUE,
    auth              TEXT NOT NULL DEFAULT '',
    access_credential TEXT NOT NULL DEFAULT '',
    skip_cert_verify  BOOLEAN NOT NULL DEFAULT FALSE,
    use_internal_addr BOOLEAN NOT NULL DEFAULT FALSE,
    disabled          BOOLEAN NOT NULL DEFAULT FALSE,
    is_default        BOOLEAN NOT NULL DEFAULT FALSE,
    immutable         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE UNIQUE INDEX scanner_registrations_default ON scanner_registrations (is_default) WHERE is_default;
CREATE UNIQUE INDEX scanner_registrations_builtin ON scanner_registrations (immutable) WHERE immutable;

-- The scanner a project picked (PUT /projects/{p}/scanner); a project without a row uses the
-- default registration. The choice goes with the project or the registration.
CREATE TABLE project_scanners (
    project_id        BIGINT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    registration_uuid TEXT NOT NULL REFERENCES scanner_registrations (uuid) ON DELETE CASCADE,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX project_scanners_registration ON project_scanners (registration_uuid);
