-- Up Migration

-- Search values are skewed per (resource_type, code): without multi-column statistics the
-- planner underestimates matches ~50-fold and picks nested loops over broad searches.
CREATE STATISTICS search_token_stats (dependencies, mcv) ON resource_type, code, value FROM search_token;
CREATE STATISTICS search_string_stats (dependencies, mcv) ON resource_type, code, norm FROM search_string;
CREATE STATISTICS search_date_stats (dependencies) ON resource_type, code FROM search_date;
CREATE STATISTICS search_number_stats (dependencies) ON resource_type, code FROM search_number;
CREATE STATISTICS search_quantity_stats (dependencies, mcv) ON resource_type, code, system, unit FROM search_quantity;
CREATE STATISTICS search_reference_stats (dependencies, mcv) ON resource_type, code, target_type FROM search_reference;
CREATE STATISTICS search_uri_stats (dependencies, mcv) ON resource_type, code, value FROM search_uri;

-- Down Migration
DROP STATISTICS search_uri_stats;
DROP STATISTICS search_reference_stats;
DROP STATISTICS search_quantity_stats;
DROP STATISTICS search_number_stats;
DROP STATISTICS search_date_stats;
DROP STATISTICS search_string_stats;
DROP STATISTICS search_token_stats;
