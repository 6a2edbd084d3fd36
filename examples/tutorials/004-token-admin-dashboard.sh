#!/usr/bin/env sh
# Tutorial 004 (/token with the email, /users/me, the /admin/dashboard role check, iss/aud). It shows
# Python, not curl: these are its requests as curl. Host and port from LATCHKEY_HOST / LATCHKEY_PORT;
# set LATCHKEY_ADMIN_USER and LATCHKEY_ADMIN_PASSWORD (an admin made with `latchkey user create
# --role admin`) to see the dashboard as an admin too.
set -eu
API=http://${LATCHKEY_HOST:-localhost}:${LATCHKEY_PORT:-8000}

# "when a user registers": the tutorial leaves the route to the reader; the email-only signup fits.
echo '== register'
curl -s -X POST $API/users/signup \
  -H 'Content-Type: application/json' \
  -d '{"email": "carol@example.com", "password": "super-long-passphrase"}'
echo

# "assuming form_data.username is email"
echo '== POST /token'
RESPONSE=$(curl -s -X POST $API/token -d 'username=carol@example.com&password=super-long-passphrase')
echo "$RESPONSE"
TOKEN=$(printf '%s' "$RESPONSE" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')

echo '== wrong password'
curl -s -X POST $API/token -d 'username=carol@example.com&password=not-the-password'
echo

echo '== GET /users/me'
curl -s $API/users/me -H "Authorization: Bearer $TOKEN"
echo

echo '== GET /admin/dashboard as a user (403)'
curl -s $API/admin/dashboard -H "Authorization: Bearer $TOKEN"
echo

if [ -n "${LATCHKEY_ADMIN_USER:-}" ]; then
  ADMIN_TOKEN=$(curl -s -X POST $API/token --data-urlencode "username=$LATCHKEY_ADMIN_USER" \
    --data-urlencode "password=${LATCHKEY_ADMIN_PASSWORD:-}" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  echo '== GET /admin/dashboard as an admin'
  curl -s $API/admin/dashboard -H "Authorization: Bearer $ADMIN_TOKEN"
  echo
fi
