-- Modify "grants" table
ALTER TABLE "grants" ADD COLUMN "end_warned_at" timestamptz NULL;
-- Modify "review_tasks" table
ALTER TABLE "review_tasks" ADD COLUMN "reminders" bigint NOT NULL DEFAULT 0, ADD COLUMN "reminded_at" timestamptz NULL, ADD COLUMN "escalations" bigint NOT NULL DEFAULT 0;
-- Modify "access_requests" table
ALTER TABLE "access_requests" ADD COLUMN "extends_grant_id" character varying NULL, ADD CONSTRAINT "access_requests_grants_extends_grant" FOREIGN KEY ("extends_grant_id") REFERENCES "grants" ("id") ON UPDATE NO ACTION ON DELETE SET NULL;
-- Create "lifecycle_policies" table
CREATE TABLE "lifecycle_policies" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "remind_every_hours" double precision NULL, "max_reminders" bigint NULL, "escalate_after_hours" double precision NULL, "expire_pending_days" bigint NULL, "warn_before_end_days" bigint NULL, "extension_review" character varying NULL, "application_id" character varying NULL, PRIMARY KEY ("id"), CONSTRAINT "lifecycle_policies_applications_application" FOREIGN KEY ("application_id") REFERENCES "applications" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "lifecyclepolicy_application_id" to table: "lifecycle_policies"
CREATE UNIQUE INDEX "lifecyclepolicy_application_id" ON "lifecycle_policies" ("application_id");
