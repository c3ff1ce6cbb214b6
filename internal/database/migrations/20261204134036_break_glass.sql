-- Modify "access_requests" table
ALTER TABLE "access_requests" ADD COLUMN "emergency_reason" character varying NULL;
-- Modify "request_items" table
ALTER TABLE "request_items" ADD COLUMN "emergency_review" character varying NULL;
-- Modify "request_policies" table
ALTER TABLE "request_policies" ADD COLUMN "break_glass_allowed" boolean NULL, ADD COLUMN "break_glass_max_duration" character varying NULL;
