#!/usr/bin/env sh
# Tutorial 002 (/auth/register, /auth/token whose code reads query parameters, /secure-data). It tests
# with Postman: these are its three steps as curl. Host and port from LATCHKEY_HOST / LATCHKEY_PORT.
set -eu
API=http://${LATCHKEY_HOST:-localhost}:${LATCHKEY_PORT:-8000}

echo "== Let's create a user first"
curl -s -X POST $API/auth/register \
  -H 'Content-Type: application/json' \
  -d '{"username": "gzthss", "password": "fastapi-tutorial-pw", "email": "gzthss@example.com"}'
echo

# The tutorial answers a taken name with 400; Latchkey answers 409 with the same sentence.
echo '== the same user again (409)'
curl -s -X POST $API/auth/register \
  -H 'Content-Type: application/json' \
  -d '{"username": "gzthss", "password": "fastapi-tutorial-pw", "email": "gzthss@example.com"}'
echo

# Its `login_for_access_token(username: str, password: str)` takes query parameters, so Postman sends
# POST /auth/token?username=…&password=…. Latchkey refuses credentials in a URL (400 invalid_request).
echo '== log in as the tutorial does (400: not in the query string)'
curl -s -X POST "$API/auth/token?username=gzthss&password=fastapi-tutorial-pw"
echo

echo '== Use the user you just created to log in and get token (working: form fields)'
RESPONSE=$(curl -s -X POST $API/auth/token -d 'username=gzthss&password=fastapi-tutorial-pw')
echo "$RESPONSE"
TOKEN=$(printf '%s' "$RESPONSE" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')

echo '== Use the token to call the authorized API endpoint'
curl -s $API/secure-data -H "Authorization: Bearer $TOKEN"
echo
