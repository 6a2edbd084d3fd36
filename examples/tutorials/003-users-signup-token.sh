#!/usr/bin/env sh
# Tutorial 003 (email-only /users/signup, form /token, /users/me, per-user /tasks, common mistakes): its
# curl commands as it wrote them. Only the host and port come from LATCHKEY_HOST / LATCHKEY_PORT.
set -eu
API=http://${LATCHKEY_HOST:-localhost}:${LATCHKEY_PORT:-8000}

# "Test the login" logs in alice, whom the tutorial signed up in its previous lesson (L08), with the
# signup that step 7 shows for bob:
echo '== (L08) sign up alice'
curl -X POST $API/users/signup \
-H "Content-Type: application/json" \
-d '{"email": "alice@example.com", "password": "SecurePass123"}'
echo

echo '== Test the login'
curl -X POST $API/token \
-d "username=alice@example.com&password=SecurePass123"
echo

echo '== Without token - fails'
# Without token - fails
curl $API/users/me
echo

# "eyJhbGci..." stands for a real token: as written the call answers 401. The working line follows.
echo '== With token - succeeds (as written: 401, a placeholder token)'
# With token - succeeds
curl $API/users/me \
-H "Authorization: Bearer eyJhbGci..."
echo

TOKEN=$(curl -s -X POST $API/token -d "username=alice@example.com&password=SecurePass123" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
echo '== With token - succeeds (working)'
curl $API/users/me \
-H "Authorization: Bearer $TOKEN"
echo

echo '== Step 7: Create a user (from L08)'
# Create a user (from L08)
curl -X POST $API/users/signup \
-H "Content-Type: application/json" \
-d '{"email": "bob@example.com", "password": "SecurePass123"}'
echo

echo '== Step 7: Login to get token'
# Login to get token
curl -X POST $API/token \
-d "username=bob@example.com&password=SecurePass123"
echo

# "<your-token>" is a placeholder: as written the call answers 401. The working line follows.
echo '== Step 7: Use token to access protected route (as written: 401, a placeholder token)'
# Use token to access protected route
curl $API/users/me \
-H "Authorization: Bearer <your-token>"
echo

TOKEN=$(curl -s -X POST $API/token -d "username=bob@example.com&password=SecurePass123" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
echo '== Step 7: Use token to access protected route (working)'
curl $API/users/me \
-H "Authorization: Bearer $TOKEN"
echo

# The flow diagram's per-user tasks (its code, as curl).
echo '== POST /tasks'
curl -s -X POST $API/tasks -H "Authorization: Bearer $TOKEN" \
-H "Content-Type: application/json" -d '{"title": "Learn JWT"}'
echo
echo '== GET /tasks'
curl -s $API/tasks -H "Authorization: Bearer $TOKEN"
echo

echo '== Mistake 1: Using JSON for /token (wrong: 415)'
# Wrong - OAuth2 expects form data
curl -X POST $API/token \
-H "Content-Type: application/json" \
-d '{"username": "test", "password": "secret"}'
echo

echo '== Mistake 1: Correct - form data (no such user: 401)'
# Correct - form data
curl -X POST $API/token \
-d "username=test&password=secret"
echo
