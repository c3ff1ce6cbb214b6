-- Modify "request_items" table
ALTER TABLE "request_items" ADD COLUMN "reason" character varying NOT NULL DEFAULT 'REQUESTED';
