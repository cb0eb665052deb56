-- Up Migration

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The current version of every resource. Deleted resources keep a row (deleted = true,
-- content NULL) so that a read answers 410 Gone and a re-create keeps the history.
-- `sid` is a surrogate key, increasing in creation order and kept for the life of the
-- resource (across versions and deletes): the search tables refer to it, so their per-resource
-- indexes grow at the right edge instead of at random places (ids are random UUIDs).
CREATE TABLE resource (
  sid bigint GENERATED ALWAYS AS IDENTITY,
  resource_type text NOT NULL,
  id text NOT NULL,
  version_id uuid NOT NULL,
  last_updated timestamptz NOT NULL,
  project_id uuid,
  deleted boolean NOT NULL DEFAULT false,
  content text,
  PRIMARY KEY (resource_type, id),
  UNIQUE (sid)
);
CREATE INDEX resource_last_updated_idx ON resource (resource_type, last_updated);

-- Every version ever written, including deletions (content NULL). `method` is the HTTP verb
-- of the interaction that wrote it (POST, PUT, PATCH, DELETE), for history bundles.
CREATE TABLE resource_history (
  version_id uuid PRIMARY KEY,
  resource_type text NOT NULL,
  id text NOT NULL,
  last_updated timestamptz NOT NULL,
  project_id uuid,
  method text NOT NULL,
  content text
);
CREATE INDEX resource_history_instance_idx ON resource_history (resource_type, id, last_updated DESC);
CREATE INDEX resource_history_type_idx ON resource_history (resource_type, last_updated DESC);
CREATE INDEX resource_history_system_idx ON resource_history (last_updated DESC);

-- Search values, computed at write time from the SearchParameter expressions. One table per
-- search value kind; rows belong to the current version of the resource `resource_sid`
-- (resource.sid) and are replaced on every write. `code` is the SearchParameter code (e.g.
-- 'identifier'); `resource_type` leads the value indexes, so a search reads one type's rows.

CREATE TABLE search_token (
  resource_type text NOT NULL,
  resource_sid bigint NOT NULL,
  code text NOT NULL,
  system text,
  value text,
  text text
);
CREATE INDEX search_token_value_idx ON search_token (resource_type, code, value, system);
CREATE INDEX search_token_resource_idx ON search_token (resource_sid);
-- No index on `text`: `:text` is rare and scans the rows of its type and code.

CREATE TABLE search_string (
  resource_type text NOT NULL,
  resource_sid bigint NOT NULL,
  code text NOT NULL,
  value text NOT NULL,
  norm text NOT NULL,
  -- false for one part of a name or address (kept for prefix search): the row of the whole
  -- name or address contains it, so `:contains` needs the trigram index of whole values only.
  whole boolean NOT NULL,
  -- the element a part came from ('family', 'city'): `family` and `address-city` search the
  -- rows of `name` and `address` instead of storing the same values again.
  part text
);
CREATE INDEX search_string_prefix_idx ON search_string (resource_type, code, norm text_pattern_ops);
CREATE INDEX search_string_resource_idx ON search_string (resource_sid);
CREATE INDEX search_string_trgm_idx ON search_string USING gin (norm gin_trgm_ops) WHERE whole;

CREATE TABLE search_date (
  resource_type text NOT NULL,
  resource_sid bigint NOT NULL,
  code text NOT NULL,
  start_at timestamptz NOT NULL,
  end_at timestamptz NOT NULL
);
CREATE INDEX search_date_start_idx ON search_date (resource_type, code, start_at);
CREATE INDEX search_date_end_idx ON search_date (resource_type, code, end_at);
CREATE INDEX search_date_resource_idx ON search_date (resource_sid);

CREATE TABLE search_number (
  resource_type text NOT NULL,
  resource_sid bigint NOT NULL,
  code text NOT NULL,
  value numeric NOT NULL,
  low numeric NOT NULL,
  high numeric NOT NULL
);
CREATE INDEX search_number_value_idx ON search_number (resource_type, code, value);
CREATE INDEX search_number_resource_idx ON search_number (resource_sid);

CREATE TABLE search_quantity (
  resource_type text NOT NULL,
  resource_sid bigint NOT NULL,
  code text NOT NULL,
  value numeric NOT NULL,
  low numeric NOT NULL,
  high numeric NOT NULL,
  system text,
  unit text
);
CREATE INDEX search_quantity_value_idx ON search_quantity (resource_type, code, value);
CREATE INDEX search_quantity_resource_idx ON search_quantity (resource_sid);

CREATE TABLE search_reference (
  resource_type text NOT NULL,
  resource_sid bigint NOT NULL,
  code text NOT NULL,
  target_type text,
  target_id text,
  reference text NOT NULL
);
-- Serves `subject=Patient/1`, `_has` and `_revinclude` (all know the referring type and code).
CREATE INDEX search_reference_target_idx ON search_reference (resource_type, code, target_id, target_type);
-- The reference as written matters only when it is not plain `Type/id` (absolute URLs of other
-- servers, URNs, canonicals, conditional references); plain ones are found by target. The
-- predicate is repeated by filters/reference.ts so that the planner can use this index.
CREATE INDEX search_reference_ref_idx ON search_reference (resource_type, code, reference)
  WHERE target_id IS NULL OR reference <> target_type || '/' || target_id;
CREATE INDEX search_reference_resource_idx ON search_reference (resource_sid);

CREATE TABLE search_uri (
  resource_type text NOT NULL,
  resource_sid bigint NOT NULL,
  code text NOT NULL,
  value text NOT NULL
);
CREATE INDEX search_uri_value_idx ON search_uri (resource_type, code, value text_pattern_ops);
CREATE INDEX search_uri_resource_idx ON search_uri (resource_sid);

-- Signing keys for access tokens; the newest active key signs, every active key verifies.
CREATE TABLE jwt_key (
  kid text PRIMARY KEY,
  alg text NOT NULL,
  private_jwk jsonb NOT NULL,
  public_jwk jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  active boolean NOT NULL DEFAULT true
);

-- Down Migration
DROP TABLE jwt_key;
DROP TABLE search_uri;
DROP TABLE search_reference;
DROP TABLE search_quantity;
DROP TABLE search_number;
DROP TABLE search_date;
DROP TABLE search_string;
DROP TABLE search_token;
DROP TABLE resource_history;
DROP TABLE resource;
