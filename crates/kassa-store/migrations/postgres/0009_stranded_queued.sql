-- Earlier builds could leave an order `queued` with its provider's order id: a late acceptance of
-- an order requeued after review was only noted on it (the id kept), and the order waited to be
-- sent a second time. The provider has such an order, so this build never claims it for sending,
-- and nothing checks its status either. Review is where it belongs: `kassa admin order attach`
-- with the id it holds resumes its status checks.
UPDATE orders
   SET upstream = 'needs_review',
       claimed_until = NULL,
       last_error = 'found queued although provider order ' || provider_order_id
                    || ' holds it (an older build only noted that acceptance): attach it to that order',
       updated_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint
 WHERE upstream = 'queued' AND provider_order_id IS NOT NULL;
