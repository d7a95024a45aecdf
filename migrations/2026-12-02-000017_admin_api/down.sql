UPDATE audit_events SET actor = LEFT(actor, 100) WHERE CHAR_LENGTH(actor) > 100;
ALTER TABLE audit_events MODIFY actor VARCHAR(100) NOT NULL;
