-- Revocations of access tokens (tiaki.RevocationStore): one token by jti, every token of a
-- grant, or every token issued to a client up to a time. Every node polls them by revoked_at
-- and refuses what they name; a row is deleted once every token it names has expired.

CREATE TABLE token_revocations (
	kind       text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	revoked_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (kind, id)
);

CREATE INDEX token_revocations_by_revoked_at ON token_revocations (revoked_at);

CREATE INDEX token_revocations_by_expires_at ON token_revocations (expires_at);
