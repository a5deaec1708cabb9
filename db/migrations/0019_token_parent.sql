-- +goose Up
-- The token a token was made with, if it was: revoking a token revokes
-- every token made with it, so a stolen token cannot leave a copy of
-- itself behind that outlives its revocation.
ALTER TABLE api_tokens ADD COLUMN parent_id INTEGER REFERENCES api_tokens (id) ON DELETE CASCADE;

-- +goose Down
ALTER TABLE api_tokens DROP COLUMN parent_id;
