-- Tag immutability rules (Harbor's /projects/{project}/immutabletagrules).

-- rule is the rule's JSON as internal/retention reads it (action, template, params,
-- tag_selectors, scope_selectors); priority and disabled are columns for listings.
-- selectors_key identifies what the selectors pick, so that a project cannot hold the same rule
-- twice: the unique index decides, whichever replica creates the rules.
CREATE TABLE immutable_rules (
    id            {{ID}},
    project_id    BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    priority      INTEGER NOT NULL DEFAULT 0,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    rule          TEXT NOT NULL,
    selectors_key TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (project_id, selectors_key)
);
