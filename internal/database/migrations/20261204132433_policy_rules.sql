-- Modify "entitlements" table
ALTER TABLE "entitlements" ADD COLUMN "labels" jsonb NULL;
-- Modify "request_items" table
ALTER TABLE "request_items" ADD COLUMN "policy_rule_id" character varying NULL, ADD COLUMN "policy_rule_name" character varying NULL, ADD COLUMN "policy_rule_version" bigint NULL;
-- Modify "request_policies" table
ALTER TABLE "request_policies" ADD COLUMN "review_policy_id" character varying NULL;
-- Create "review_policies" table
CREATE TABLE "review_policies" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "description" character varying NOT NULL DEFAULT '', "stages" jsonb NOT NULL, PRIMARY KEY ("id"));
-- Create index "review_policies_name_key" to table: "review_policies"
CREATE UNIQUE INDEX "review_policies_name_key" ON "review_policies" ("name");
-- Create "policy_rules" table
CREATE TABLE "policy_rules" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "position" bigint NOT NULL, "version" bigint NOT NULL DEFAULT 1, "enabled" boolean NOT NULL DEFAULT true, "conditions" jsonb NOT NULL, "outcome" character varying NOT NULL, "message" character varying NOT NULL DEFAULT '', "allow_privileged_auto_approve" boolean NOT NULL DEFAULT false, "review_policy_id" character varying NULL, PRIMARY KEY ("id"), CONSTRAINT "policy_rules_review_policies_review_policy" FOREIGN KEY ("review_policy_id") REFERENCES "review_policies" ("id") ON UPDATE NO ACTION ON DELETE SET NULL);
-- Create index "policy_rules_name_key" to table: "policy_rules"
CREATE UNIQUE INDEX "policy_rules_name_key" ON "policy_rules" ("name");
