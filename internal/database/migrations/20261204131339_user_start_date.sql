-- Modify "users" table
ALTER TABLE "users" ADD COLUMN "start_date" timestamptz NULL;
