-- Tiaki's first schema. Conventions, kept by every later migration:
--   times are INTEGER Unix microseconds in UTC, NULL for "not set" (the zero time.Time);
--   lists are TEXT holding a JSON array; claims are TEXT holding a JSON object;
--   byte strings (hashes, key sets, sealed keys) are BLOB, NULL when empty;
--   tables are STRICT, so a value of the wrong type is refused rather than kept.
-- The application_id and the schema_migrations row are written by the migration runner.

CREATE TABLE clients (
	id                  TEXT PRIMARY KEY NOT NULL,
	name                TEXT NOT NULL,
	auth_method         TEXT NOT NULL,
	secret_hash         BLOB,
	jwks                BLOB,
	tls_subject         TEXT NOT NULL,
	redirect_uris       TEXT NOT NULL,
	grant_types         TEXT NOT NULL,
	scopes              TEXT NOT NULL,
	access_token_format TEXT NOT NULL,
	source              TEXT NOT NULL,
	created_at          INTEGER,
	updated_at          INTEGER
) STRICT;

CREATE TABLE api_keys (
	id         TEXT PRIMARY KEY NOT NULL,
	hash       BLOB,
	api        TEXT NOT NULL,
	name       TEXT NOT NULL,
	consumer   TEXT NOT NULL,
	source     TEXT NOT NULL,
	created_at INTEGER,
	expires_at INTEGER,
	revoked_at INTEGER
) STRICT;

-- Listing a route's keys, in the order APIKeys returns them.
CREATE INDEX api_keys_by_api ON api_keys (api, created_at, id);
-- The revocation feed every gateway node polls (APIKeysRevokedSince).
CREATE INDEX api_keys_by_revoked_at ON api_keys (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE users (
	username      TEXT PRIMARY KEY NOT NULL,
	password_hash TEXT NOT NULL,
	claims        TEXT NOT NULL,
	disabled      INTEGER NOT NULL CHECK (disabled IN (0, 1)),
	source        TEXT NOT NULL,
	created_at    INTEGER,
	updated_at    INTEGER
) STRICT;

CREATE TABLE signing_keys (
	id             TEXT PRIMARY KEY NOT NULL,
	algorithm      TEXT NOT NULL,
	public_jwk     BLOB,
	sealed_private BLOB,
	created_at     INTEGER,
	active_at      INTEGER,
	retired_at     INTEGER,
	expires_at     INTEGER
) STRICT;
