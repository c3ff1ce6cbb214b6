-- Modify "request_items" table
ALTER TABLE "request_items" ADD COLUMN "sod_conflicts" jsonb NULL;
-- Create "sod_conflict_sets" table
CREATE TABLE "sod_conflict_sets" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "name" character varying NOT NULL, "description" character varying NOT NULL DEFAULT '', "mode" character varying NOT NULL, PRIMARY KEY ("id"));
-- Create index "sod_conflict_sets_name_key" to table: "sod_conflict_sets"
CREATE UNIQUE INDEX "sod_conflict_sets_name_key" ON "sod_conflict_sets" ("name");
-- Create "sod_acceptances" table
CREATE TABLE "sod_acceptances" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "reason" character varying NOT NULL, "until" timestamptz NULL, "user_id" character varying NOT NULL, "accepted_by_id" character varying NOT NULL, "conflict_set_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "sod_acceptances_sod_conflict_sets_acceptances" FOREIGN KEY ("conflict_set_id") REFERENCES "sod_conflict_sets" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, CONSTRAINT "sod_acceptances_users_accepted_by" FOREIGN KEY ("accepted_by_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, CONSTRAINT "sod_acceptances_users_user" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "sodacceptance_conflict_set_id_user_id" to table: "sod_acceptances"
CREATE UNIQUE INDEX "sodacceptance_conflict_set_id_user_id" ON "sod_acceptances" ("conflict_set_id", "user_id");
-- Create "sod_conflict_set_entitlements" table
CREATE TABLE "sod_conflict_set_entitlements" ("sod_conflict_set_id" character varying NOT NULL, "entitlement_id" character varying NOT NULL, PRIMARY KEY ("sod_conflict_set_id", "entitlement_id"), CONSTRAINT "sod_conflict_set_entitlements_entitlement_id" FOREIGN KEY ("entitlement_id") REFERENCES "entitlements" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "sod_conflict_set_entitlements_sod_conflict_set_id" FOREIGN KEY ("sod_conflict_set_id") REFERENCES "sod_conflict_sets" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
