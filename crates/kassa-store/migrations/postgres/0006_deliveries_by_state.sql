-- `kassa admin webhooks deliveries --state failed` reads the failed deliveries from here instead of
-- walking every delivery since the last failure.
CREATE INDEX webhook_deliveries_by_state ON webhook_deliveries (state, id);
