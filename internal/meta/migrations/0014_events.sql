-- The event stream (internal/events): domain events are written by the transaction that makes
-- the change (a transactional outbox), so an event exists exactly when its change committed.
--
-- stream names what must be delivered in commit order (one repository, one project, the
-- system). pos is the delivery order: NULL when written, then set by the sequencer (one at a
-- time, under the event_sequence row's lock) in id order among the events it can see. On
-- PostgreSQL ids are drawn in commit order within a stream (see the trigger below), so pos
-- follows commit order within every stream; SQLite's single writer draws them in commit order
-- anyway. Subscribers read by pos, which only grows: nothing they skipped can appear behind
-- them later. Ids are never given twice (events are deleted once handled, and what subscribers
-- wrote names its event by id).
CREATE TABLE events (
    id         {{SERIAL}},
    pos        BIGINT,
    type       TEXT NOT NULL,
    stream     TEXT NOT NULL,
    project_id BIGINT NOT NULL DEFAULT 0,
    repository TEXT NOT NULL DEFAULT '',
    resource   TEXT NOT NULL DEFAULT '',
    actor      TEXT NOT NULL DEFAULT '',
    payload    TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX events_pos ON events (pos);
CREATE INDEX events_unsequenced ON events (id) WHERE pos IS NULL;
CREATE INDEX events_created ON events (created_at);

-- The last pos given out.
CREATE TABLE event_sequence (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    pos BIGINT NOT NULL
);
INSERT INTO event_sequence (id, pos) VALUES (1, 0);

-- One row per subscriber: how far it has handled the stream, and which process holds it (a
-- lease renewed while it works), so that each event is handled once per subscriber whichever
-- replicas run.
CREATE TABLE event_subscribers (
    name        TEXT PRIMARY KEY,
    pos         BIGINT NOT NULL,
    owner       TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    updated_at  BIGINT NOT NULL
);

-- Audit entries written from events name their event (and which of the entries of an event
-- standing for several pulls they are), so an event delivered twice (after a crash between
-- handling and recording progress) is written once.
ALTER TABLE audit_log ADD COLUMN event_id BIGINT;
ALTER TABLE audit_log ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX audit_log_event ON audit_log (event_id, event_seq);

{{PG}}
-- Transactions that write events of the same stream take their ids one after the other: the
-- lock is held to the commit, so within a stream a lower id always committed first. Ids are
-- drawn after the lock, not by the column default, which is evaluated before this trigger runs.
CREATE FUNCTION berth_event_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('berth_event_stream:' || NEW.stream, 0));
    NEW.id := nextval(pg_get_serial_sequence('events', 'id'));
    RETURN NEW;
END
$$;
CREATE TRIGGER events_ordered BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION berth_event_order();
-- No NOTIFY announces new events: PostgreSQL serialises the commits of all transactions that
-- notify (to queue notifications in commit order), which would put every push in one line.
-- Other replicas find new events by polling.
{{/PG}}
