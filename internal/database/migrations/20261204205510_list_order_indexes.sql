-- Create index "accessrequest_completed_at_id" to table: "access_requests"
CREATE INDEX "accessrequest_completed_at_id" ON "access_requests" ("completed_at", "id");
-- Create index "accessrequest_created_at_id" to table: "access_requests"
CREATE INDEX "accessrequest_created_at_id" ON "access_requests" ("created_at", "id");
-- Create index "accessrequest_submitted_at_id" to table: "access_requests"
CREATE INDEX "accessrequest_submitted_at_id" ON "access_requests" ("submitted_at", "id");
-- Create index "accessrequest_updated_at_id" to table: "access_requests"
CREATE INDEX "accessrequest_updated_at_id" ON "access_requests" ("updated_at", "id");
-- Drop index "reviewtask_reviewer_id_status" from table: "review_tasks"
DROP INDEX "reviewtask_reviewer_id_status";
-- Create index "reviewtask_reviewer_id_status_created_at_id" to table: "review_tasks"
CREATE INDEX "reviewtask_reviewer_id_status_created_at_id" ON "review_tasks" ("reviewer_id", "status", "created_at", "id");
