# cURL example: check wallet balance
curl -X GET "https://auto.buyshazam.com/api/v1/balance" \
-H "X-API-Key: bs_live_xxx" \
-H "X-Timestamp: 1710000000" \
-H "X-Signature: sha256=<hmac_sha256>"
# cURL example: list services
curl -X GET "https://auto.buyshazam.com/api/v1/services" \
-H "X-API-Key: bs_live_xxx" \
-H "X-Timestamp: 1710000000" \
-H "X-Signature: sha256=<hmac_sha256>"
# cURL example: check order status
curl -X GET "https://auto.buyshazam.com/api/v1/orders/BSAPI-ABC123DEF456" \
-H "X-API-Key: bs_live_xxx" \
-H "X-Timestamp: 1710000000" \
-H "X-Signature: sha256=<hmac_sha256>"
