-- A client's id_token_signed_response_alg (OpenID Connect Registration §2): the JWS algorithm
-- of its ID tokens; empty means the server's default.

ALTER TABLE clients ADD COLUMN id_token_signed_response_alg text NOT NULL DEFAULT '';
