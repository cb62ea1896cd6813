import hashlib
import hmac
import json
import time
import uuid
import requests
BASE_URL = "https://auto.buyshazam.com"
API_KEY = "bs_live_xxx"
API_SECRET = "your_api_secret"
method = "POST"
path = "/api/v1/orders"
body = json.dumps({
"service_id": 123,
"quantity": 1000,
"link": "https://www.tiktok.com/@username/video/123",
"client_order_ref": "your-order-10001",
}, separators=(",", ":"))
timestamp = str(int(time.time()))
body_hash = hashlib.sha256(body.encode("utf-8")).hexdigest()
message = "\n".join([method, path, timestamp, body_hash])
signature = hmac.new(
API_SECRET.encode("utf-8"),
message.encode("utf-8"),
hashlib.sha256,
).hexdigest()
response = requests.post(
BASE_URL + path,
data=body,
headers={
"Content-Type": "application/json",
"X-API-Key": API_KEY,
"X-Timestamp": timestamp,
"X-Signature": "sha256=" + signature,
"X-Idempotency-Key": "order-" + str(uuid.uuid4()),
},
timeout=30,
)
print(response.status_code)
print(response.json())
