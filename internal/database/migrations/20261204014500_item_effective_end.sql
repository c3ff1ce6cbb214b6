-- A duration item's end is known once it is provisioned; fulfilment now keeps
-- it on the item. Items fulfilled before take the end of the grant they made.
UPDATE "request_items" SET "ends_at" = "grants"."ends_at"
FROM "grants"
WHERE "grants"."source_item_id" = "request_items"."id"
  AND "request_items"."ends_at" IS NULL
  AND "request_items"."duration" IS NOT NULL
  AND "grants"."ends_at" IS NOT NULL;
