-- One index fewer to keep up on every delivery (issue 9: CPU and store bytes per delivery).
--
-- `deliveries_due` (pending and retrying deliveries by due time) had lost its readers: claims read
-- `deliveries_claimable` and `deliveries_leased`, and the queue's depth and oldest pending
-- delivery are counted over `deliveries_webhook_pending`, which covers exactly the same rows.
-- Yet every delivery still added its entry when stored and removed it when done.
DROP INDEX deliveries_due;
