-- A webhook's optional description (issue 27): a label for people, and the key by which a tool
-- such as `cxhooks sync` finds the webhook it owns. A nullable column rewrites no row.
ALTER TABLE webhooks ADD COLUMN description TEXT;
