-- Up Migration

-- The triggers of committed writes, waiting to be matched against Subscriptions. Every write
-- of a resource that belongs to a project inserts one row in the same statement as the write
-- (repository/write-resource.ts), so a committed write always has its row and a rolled-back one
-- never does. The relay (subscriptions/relay.ts) deletes rows once their jobs are queued.
-- Narrow on purpose, with the primary key as its only index: it costs every write one small row.
CREATE TABLE subscription_outbox (
  id bigserial PRIMARY KEY,
  resource_type text NOT NULL,
  resource_id text NOT NULL,
  version_id uuid NOT NULL,
  -- The version this write replaced (NULL for a create or a re-create after a delete).
  previous_version_id uuid,
  project_id uuid NOT NULL,
  -- create | update | delete
  interaction text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE subscription_outbox;
