-- Tiaki's first schema. Conventions, kept by every later migration:
--   times are timestamptz (microseconds), NULL for "not set" (the zero time.Time);
--   lists are text[], claims jsonb, byte strings (hashes, key sets, sealed keys) bytea,
--   NULL when empty; key columns use the "C" collation, so ORDER BY matches Go's byte order
--   whatever the database's locale.
-- The tiaki_schema_migrations table and its rows are written by the migration runner.

CREATE TABLE clients (
	id                  text COLLATE "C" PRIMARY KEY,
	name                text NOT NULL,
	auth_method         text NOT NULL,
	secret_hash         bytea,
	jwks                bytea,
	tls_subject         text NOT NULL,
	redirect_uris       text[] NOT NULL,
	grant_types         text[] NOT NULL,
	scopes              text[] NOT NULL,
	access_token_format text NOT NULL,
	source              text NOT NULL,
	created_at          timestamptz,
	updated_at          timestamptz
);

CREATE TABLE api_keys (
	id         text COLLATE "C" PRIMARY KEY,
	hash       bytea,
	api        text NOT NULL,
	name       text NOT NULL,
	consumer   text NOT NULL,
	source     text NOT NULL,
	created_at timestamptz,
	expires_at timestamptz,
	revoked_at timestamptz
);

-- Listing a route's keys, in the order APIKeys returns them.
CREATE INDEX api_keys_by_api ON api_keys (api, created_at NULLS FIRST, id);
-- The revocation feed every gateway node polls (APIKeysRevokedSince).
CREATE INDEX api_keys_by_revoked_at ON api_keys (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE users (
	username      text COLLATE "C" PRIMARY KEY,
	password_hash text NOT NULL,
	claims        jsonb NOT NULL,
	disabled      boolean NOT NULL,
	source        text NOT NULL,
	created_at    timestamptz,
	updated_at    timestamptz
);

CREATE TABLE signing_keys (
	id             text COLLATE "C" PRIMARY KEY,
	algorithm      text NOT NULL,
	public_jwk     bytea,
	sealed_private bytea,
	created_at     timestamptz,
	active_at      timestamptz,
	retired_at     timestamptz,
	expires_at     timestamptz
);
