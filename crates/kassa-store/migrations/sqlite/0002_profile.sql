-- Identity verification (`profile/verify`) and its review. The profile fields themselves are
-- columns of `customers` since 0001.
--
-- Personal data that identifies a person beyond their name is sealed by the server with the
-- master key before it reaches the database (XChaCha20-Poly1305; associated data names the
-- verification's random `reference` and the slot): the id number and the documents. The key is
-- never stored here.

CREATE TABLE verifications (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    reference        TEXT NOT NULL UNIQUE,
    customer_id      INTEGER NOT NULL REFERENCES customers (id),
    status           TEXT NOT NULL CHECK (status IN ('in_process', 'completed', 'rejected', 'cancelled')),
    verify_type      TEXT NOT NULL CHECK (verify_type IN ('passport', 'driving_license', 'nid')),
    first_name       TEXT NOT NULL,
    gender           INTEGER NOT NULL CHECK (gender IN (1, 2)),
    id_number_sealed BLOB NOT NULL,
    submitted_at     INTEGER NOT NULL,
    reviewed_at      INTEGER,
    reviewed_by      TEXT,
    review_reason    TEXT,
    updated_at       INTEGER NOT NULL,
    CHECK ((status = 'in_process') = (reviewed_at IS NULL))
) STRICT;
-- At most one verification per customer that is not rejected: in process, completed and cancelled
-- all refuse a new submission; a rejected customer may submit again. The store checks this first
-- (to answer with the seed's message); the index holds even against another process.
CREATE UNIQUE INDEX verifications_one_standing ON verifications (customer_id) WHERE status <> 'rejected';
CREATE INDEX verifications_by_customer ON verifications (customer_id, id);
CREATE INDEX verifications_by_status ON verifications (status, id);

-- Kept apart from `verifications` so that listing and reviewing never read the blobs.
CREATE TABLE verification_documents (
    verification_id INTEGER NOT NULL REFERENCES verifications (id),
    slot            INTEGER NOT NULL CHECK (slot IN (1, 2)),
    content_type    TEXT NOT NULL CHECK (content_type IN ('jpg', 'png', 'pdf')),
    size            INTEGER NOT NULL CHECK (size > 0 AND size <= 10485760),
    sealed          BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (verification_id, slot)
) STRICT;

-- Who did what to which verification, when and why. Append-only: the triggers refuse to rewrite
-- history, even from an operator's SQL shell.
CREATE TABLE verification_audit (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    verification_id INTEGER NOT NULL REFERENCES verifications (id),
    customer_id     INTEGER NOT NULL REFERENCES customers (id),
    action          TEXT NOT NULL CHECK (action IN ('submit', 'approve', 'reject', 'cancel')),
    from_status     TEXT,
    to_status       TEXT NOT NULL,
    actor           TEXT NOT NULL CHECK (length(actor) > 0),
    reason          TEXT,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX verification_audit_by_verification ON verification_audit (verification_id, id);

CREATE TRIGGER verification_audit_no_update BEFORE UPDATE ON verification_audit
BEGIN
    SELECT RAISE(ABORT, 'the verification audit trail is append-only');
END;
CREATE TRIGGER verification_audit_no_delete BEFORE DELETE ON verification_audit
BEGIN
    SELECT RAISE(ABORT, 'the verification audit trail is append-only');
END;
