-- Create index "reviewtask_status_updated_at" to table: "review_tasks"
CREATE INDEX "reviewtask_status_updated_at" ON "review_tasks" ("status", "updated_at");
