-- Identity verification (`profile/verify`) and its review; the PostgreSQL twin of the SQLite
-- migration of the same number, which explains the columns. The id number and the documents are
-- sealed by the server with the master key before they reach the database.

CREATE TABLE verifications (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference        TEXT NOT NULL UNIQUE,
    customer_id      BIGINT NOT NULL REFERENCES customers (id),
    status           TEXT NOT NULL CHECK (status IN ('in_process', 'completed', 'rejected', 'cancelled')),
    verify_type      TEXT NOT NULL CHECK (verify_type IN ('passport', 'driving_license', 'nid')),
    first_name       TEXT NOT NULL,
    gender           SMALLINT NOT NULL CHECK (gender IN (1, 2)),
    id_number_sealed BYTEA NOT NULL,
    submitted_at     BIGINT NOT NULL,
    reviewed_at      BIGINT,
    reviewed_by      TEXT,
    review_reason    TEXT,
    updated_at       BIGINT NOT NULL,
    CHECK ((status = 'in_process') = (reviewed_at IS NULL))
);
-- At most one verification per customer that is not rejected, whatever the concurrency.
CREATE UNIQUE INDEX verifications_one_standing ON verifications (customer_id) WHERE status <> 'rejected';
CREATE INDEX verifications_by_customer ON verifications (customer_id, id);
CREATE INDEX verifications_by_status ON verifications (status, id);

CREATE TABLE verification_documents (
    verification_id BIGINT NOT NULL REFERENCES verifications (id),
    slot            SMALLINT NOT NULL CHECK (slot IN (1, 2)),
    content_type    TEXT NOT NULL CHECK (content_type IN ('jpg', 'png', 'pdf')),
    size            BIGINT NOT NULL CHECK (size > 0 AND size <= 10485760),
    sealed          BYTEA NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (verification_id, slot)
);

CREATE TABLE verification_audit (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    verification_id BIGINT NOT NULL REFERENCES verifications (id),
    customer_id     BIGINT NOT NULL REFERENCES customers (id),
    action          TEXT NOT NULL CHECK (action IN ('submit', 'approve', 'reject', 'cancel')),
    from_status     TEXT,
    to_status       TEXT NOT NULL,
    actor           TEXT NOT NULL CHECK (length(actor) > 0),
    reason          TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX verification_audit_by_verification ON verification_audit (verification_id, id);

-- Append-only, even from an operator's SQL shell.
CREATE FUNCTION kassa_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the verification audit trail is append-only';
END;
$$;
CREATE TRIGGER verification_audit_no_update BEFORE UPDATE OR DELETE ON verification_audit
    FOR EACH ROW EXECUTE FUNCTION kassa_audit_append_only();
