-- Modify "review_stages" table
ALTER TABLE "review_stages" ADD COLUMN "resolution" text NULL, ADD COLUMN "fallback_reviewer_ids" jsonb NULL;
