-- The database's ceiling for a balance read: one point select by primary key.
\set uid random(1, 10000)
SELECT balance FROM balances WHERE user_id = :uid;
