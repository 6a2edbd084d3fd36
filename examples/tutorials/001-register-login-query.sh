#!/usr/bin/env sh
# Tutorial 001 (bcrypt via passlib, JWT basics, /register and /login taking query parameters). It shows
# Python, not curl: these are its requests as curl. Host and port from LATCHKEY_HOST / LATCHKEY_PORT.
#
# Its `def register(username: str, password: str)` and `def login(username: str, password: str)` read the
# password from the query string (POST /register?username=…&password=…). Latchkey serves neither path:
# a password in a URL ends up in proxy logs and shell history. Its token endpoint answers such a request
# with 400 invalid_request, saying to send form fields, and never logs the values.
set -eu
API=http://${LATCHKEY_HOST:-localhost}:${LATCHKEY_PORT:-8000}

echo '== register as the tutorial does (404: no such path)'
curl -s -X POST "$API/register?username=rahul&password=password123"
echo

echo '== login as the tutorial does, at the login alias (400: not in the query string)'
curl -s -X POST "$API/auth/login?username=rahul&password=password123"
echo

# The working lines. Registration is JSON and needs an email; "password123" is on every list of
# common passwords, so Latchkey refuses it (422) — the first line shows that, the second works.
echo '== register with password123 (422: too common)'
curl -s -X POST $API/auth/register \
  -H 'Content-Type: application/json' \
  -d '{"username": "rahul", "email": "rahul@example.com", "password": "password123"}'
echo

echo '== register (working)'
curl -s -X POST $API/auth/register \
  -H 'Content-Type: application/json' \
  -d '{"username": "rahul", "email": "rahul@example.com", "password": "rahul-learns-jwt"}'
echo

echo '== login (working: form fields)'
RESPONSE=$(curl -s -X POST $API/auth/login -d 'username=rahul&password=rahul-learns-jwt')
echo "$RESPONSE"
TOKEN=$(printf '%s' "$RESPONSE" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')

# The tutorial's /profile ("Protected profile data") is /users/me.
echo '== profile (working: /users/me)'
curl -s $API/users/me -H "Authorization: Bearer $TOKEN"
echo
