#!/usr/bin/env sh
# The README's curl flow: register, log in (OAuth2 password grant), call a protected route, refresh, log out.
# Usage: sh examples/curl-flow.sh [BASE_URL]   (default http://127.0.0.1:8000)
set -eu
BASE=${1:-http://127.0.0.1:8000}
NAME=${LATCHKEY_DEMO_USER:-alice$$}

# 1. Register (JSON)
curl -sS -f -X POST "$BASE/auth/register" \
  -H 'Content-Type: application/json' \
  -d "{\"username\": \"$NAME\", \"email\": \"$NAME@example.com\", \"password\": \"correct horse battery staple\"}"
echo

# 2. Log in (form, like FastAPI's OAuth2PasswordRequestForm): username or email, and the password
TOKENS=$(curl -sS -f -X POST "$BASE/auth/token" \
  -d "username=$NAME" -d 'password=correct horse battery staple')
ACCESS=$(printf '%s' "$TOKENS" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
REFRESH=$(printf '%s' "$TOKENS" | sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p')

# 3. Who am I?
curl -sS -f "$BASE/users/me" -H "Authorization: Bearer $ACCESS"
echo

# 4. Refresh: the refresh token rotates, so keep the new one
TOKENS=$(curl -sS -f -X POST "$BASE/auth/refresh" \
  -H 'Content-Type: application/json' -d "{\"refresh_token\": \"$REFRESH\"}")
ACCESS=$(printf '%s' "$TOKENS" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
REFRESH=$(printf '%s' "$TOKENS" | sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p')

# 5. Log out: the session ends, and its access token stops working at once
curl -sS -f -X POST "$BASE/auth/logout" \
  -H 'Content-Type: application/json' -d "{\"refresh_token\": \"$REFRESH\"}"
curl -sS -o /dev/null -w 'after logout: %{http_code}\n' "$BASE/users/me" -H "Authorization: Bearer $ACCESS"
