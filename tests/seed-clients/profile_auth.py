import base64
import hashlib
import hmac
import time
import requests
from requests.auth import AuthBase
API_KEY = 'your_api_key'
API_SECRET = 'your_api_secret'
class shivexexchangeAuth(AuthBase):

    def __init__(self, api_key, secret_key):
        self.api_key = api_key
        self.secret_key = secret_key
    def __call__(self, request):
        timestamp = str(time.time())
        message = timestamp + request.method.lower() + request.path_url + (request.body or '')
        hmac_key = base64.b64decode(self.secret_key)
        signature = hmac.new(hmac_key, message.encode('utf-8'), hashlib.sha256)
        signature_b64 = base64.b64encode(signature.digest()).decode('ascii').rstrip('\n')
        request.headers.update({
            'BB-ACCESS-SIGN': signature_b64,
            'BB-ACCESS-TIMESTAMP': timestamp,
            'BB-ACCESS-KEY': self.api_key,
            'Content-Type': 'application/json'
        })
        return request
api_url = ''
auth = shivexexchangeAuth(API_KEY, API_SECRET)
# Get accounts
r = requests.get(api_url + 'profile/me', auth=auth)
print(r.json())
# kassa's additions: the same auth object on the seed's other two methods, with the seed's edit
# body and a small PNG document.
import json
r = requests.put(api_url + 'profile/edit', data=json.dumps({"first_name":"Test First Name","last_name":"Test Last Name","username":"Test Username"}), auth=auth)
print(r.json())
document1 = base64.b64encode(b'\x89PNG\r\n\x1a\n' + b'\x00\x00\x00\rIHDR' + b'\x00' * 17).decode('ascii')
r = requests.post(api_url + 'profile/verify', data=json.dumps({"verify_type": "passport", "first_name": "Test", "gender": 1, "id_number": "AB1234567", "document1": document1}), auth=auth)
print(r.json())
