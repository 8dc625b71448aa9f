-- API keys carry scopes (tiaki.APIKey.Scopes), like clients.scopes. Keys stored before this
-- migration get none, so they are refused on every method that requires a scope: secure by
-- default. Reissue them with `tiaki apikey create --scope`.
ALTER TABLE api_keys ADD COLUMN scopes text[] NOT NULL DEFAULT '{}';
