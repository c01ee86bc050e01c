-- Idempotency records (issue 10): request hashes are now keyed (an HMAC under a key derived
-- from the server secret, src/http/handler_support.hpp), and records are purged after 24 h.
-- The rows written before held an unkeyed SHA-256 of the request body, which for a
-- registration (the only records of user 0) includes the plaintext password: delete those.
-- Other old rows simply stop matching (a retry with their key gets 409, never a second write)
-- and go with the purge.
DELETE FROM idempotency_keys WHERE user_id = 0;
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
