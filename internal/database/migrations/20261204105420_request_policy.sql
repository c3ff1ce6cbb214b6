-- Create "request_policies" table
CREATE TABLE "request_policies" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "justification_required" boolean NULL, "justification_min_length" bigint NULL, "request_for_others" character varying NULL, "max_duration" character varying NULL, "default_duration" character varying NULL, "permanent_allowed" boolean NULL, "application_id" character varying NULL, "entitlement_id" character varying NULL, PRIMARY KEY ("id"), CONSTRAINT "request_policies_applications_application" FOREIGN KEY ("application_id") REFERENCES "applications" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "request_policies_entitlements_entitlement" FOREIGN KEY ("entitlement_id") REFERENCES "entitlements" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "requestpolicy_application_id" to table: "request_policies"
CREATE UNIQUE INDEX "requestpolicy_application_id" ON "request_policies" ("application_id");
-- Create index "requestpolicy_entitlement_id" to table: "request_policies"
CREATE UNIQUE INDEX "requestpolicy_entitlement_id" ON "request_policies" ("entitlement_id");
