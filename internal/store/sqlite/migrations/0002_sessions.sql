-- The authorization server's protocol state (tiaki.SessionStore): authorization requests,
-- grants behind codes and refresh tokens, pushed requests, device and CIBA sessions. Data is
-- the authorization server's own encoding, opaque here. Updates are compare-and-set on
-- version, so of two requests redeeming one code exactly one wins.

CREATE TABLE sessions (
	kind       TEXT NOT NULL,
	id         TEXT NOT NULL,
	version    INTEGER NOT NULL CHECK (version >= 1),
	data       BLOB,
	expires_at INTEGER,
	PRIMARY KEY (kind, id)
) STRICT;

-- DeleteExpiredSessions walks this; records that never expire are not in it.
CREATE INDEX sessions_by_expires_at ON sessions (expires_at) WHERE expires_at IS NOT NULL;

-- Secondary lookup keys (a code's or refresh token's hash, a user code): the primary key is
-- the uniqueness of a value per kind and index name, which is what makes a code or token
-- resolve to one record. Deleting a record deletes its index values.
CREATE TABLE session_indexes (
	kind       TEXT NOT NULL,
	name       TEXT NOT NULL,
	value      TEXT NOT NULL,
	session_id TEXT NOT NULL,
	PRIMARY KEY (kind, name, value),
	FOREIGN KEY (kind, session_id) REFERENCES sessions (kind, id) ON DELETE CASCADE
) STRICT;

-- A record's own index values: reading them with the record, replacing them on update, and
-- the cascade on delete.
CREATE INDEX session_indexes_by_session ON session_indexes (kind, session_id);
