-- 009: an Idempotency-Key record keeps the answer's bytes as they were sent. The event writer
-- renders answers in C++ (src/store/exec_result.cpp) after chirp_exec_rows has stored the
-- record with the answer as data (body); in the same transaction it fills `answer`, and a
-- retry gets exactly these bytes. NULL for records stored before (their body is answered).
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS answer text;
