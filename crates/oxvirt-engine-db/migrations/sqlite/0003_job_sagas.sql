-- Jobs run by the engine's executor (sagas): what the job was asked to do (its parameters,
-- with the ids of what it will create, written before it acts) and who runs it now (a lease,
-- renewed while the runner lives; an expired lease, or one held by an earlier run of the same
-- engine, lets the job be taken over and resumed or unwound).
ALTER TABLE jobs ADD COLUMN params TEXT;
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until INTEGER;
CREATE INDEX jobs_correlation_id ON jobs (correlation_id);
