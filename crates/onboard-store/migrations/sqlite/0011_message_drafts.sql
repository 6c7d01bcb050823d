-- Drafted texts: an autopilot email may be rewritten by a language model before its first
-- delivery. The text sent replaces `subject` and `body` (the sign-in placeholder still in
-- it, so every retry sends the same text); `drafted_by` says who wrote it: the model's
-- name, or `template: <why the draft was not used>`. Both NULL when no draft was tried.
ALTER TABLE messages ADD COLUMN drafted_by TEXT;
-- When the text was recorded (epoch ms, the engine's clock).
ALTER TABLE messages ADD COLUMN drafted_at INTEGER;
