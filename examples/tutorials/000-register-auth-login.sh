#!/usr/bin/env sh
# Tutorial 000 (register, form login at /auth/login, /users/me, the admin list at /users/): its curl
# commands as it wrote them. Only the host and port come from the environment:
#   LATCHKEY_HOST (default localhost) and LATCHKEY_PORT (default 8000).
# Each step's answer is printed after a "== " line.
set -eu
API=http://${LATCHKEY_HOST:-localhost}:${LATCHKEY_PORT:-8000}

echo '== 1. Register'
# 1. Register
curl -X POST $API/auth/register \
-H "Content-Type: application/json" \
-d '{"username":"alderi","email":"alderi@example.com","password":"MyPassword123!"}'
echo

echo '== 2. Login'
# 2. Login → retrieve tokens
TOKEN=$(curl -s -X POST $API/auth/login \
-d "username=alderi@example.com&password=MyPassword123!")
echo "$TOKEN"

# The tutorial's TOKEN is the whole JSON answer ({"access_token":"…","token_type":"bearer",…}), so
# "Authorization: Bearer $TOKEN" does not carry a token: steps 3 and 4 as written answer
# 401 "Could not validate credentials".
echo '== 3. Access protected route (as written: 401)'
# 3. Access protected route
curl $API/users/me \
-H "Authorization: Bearer $TOKEN"
echo

echo '== 4. Test admin route (as written: 401)'
# 4. Test admin route (rejected)
curl $API/users/ \
-H "Authorization: Bearer $TOKEN"
echo

# The working line: keep only the access_token (no jq needed).
TOKEN=$(curl -s -X POST $API/auth/login \
-d "username=alderi@example.com&password=MyPassword123!" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')

echo '== 3. Access protected route (working)'
curl $API/users/me \
-H "Authorization: Bearer $TOKEN"
echo

echo '== 4. Test admin route (working: rejected with 403)'
curl $API/users/ \
-H "Authorization: Bearer $TOKEN"
echo
