-- The database's ceiling for a single write: update one balance and append one ledger row, committed.
\set uid random(1, 10000)
BEGIN;
UPDATE balances SET balance = balance + 1 WHERE user_id = :uid;
INSERT INTO ledger (user_id, amount) VALUES (:uid, 1);
END;
