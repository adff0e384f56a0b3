#!/usr/bin/env bash
# Smoke checks (the seed deploy plan's phase 3) against a running backend.
#   scripts/smoke.sh BASE_URL ADMIN_KEY ORIGIN
# e.g. scripts/smoke.sh https://altcontext-marketing.fly.dev "$ADMIN_API_KEY" https://www.example.com
# Each check prints PASS or FAIL with the reason; the exit status is the
# number of failures (0: all passed). Needs curl. Sends about 200 events
# (the rate-limit check) and two lead captures to the target.
set -u
BASE=${1:?usage: smoke.sh BASE_URL ADMIN_KEY ORIGIN}
KEY=${2:?usage: smoke.sh BASE_URL ADMIN_KEY ORIGIN}
ORIGIN=${3:?usage: smoke.sh BASE_URL ADMIN_KEY ORIGIN}
BASE=${BASE%/}
UA='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 marketing-smoke'
STAMP=$(date +%s)-$$
failures=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

pass() { printf 'PASS  %s\n' "$1"; }
fail() { printf 'FAIL  %s: %s\n' "$1" "$2"; failures=$((failures + 1)); }

# req METHOD PATH [curl args…]: prints the status, leaves the body in $out.
req() {
  local method=$1 path=$2; shift 2
  curl -sS -o "$out" -w '%{http_code}' -X "$method" -A "$UA" --max-time 15 "$@" "$BASE$path" 2>/dev/null || echo 000
}

s=$(req GET /v1/healthz)
if [ "$s" = 200 ] && grep -q '"ok":true' "$out"; then pass "health: 200 ok"; else fail "health" "status $s, body $(head -c 200 "$out")"; fi

s=$(req POST /v1/events -H 'Content-Type: text/plain' -H "Origin: $ORIGIN" \
  --data "{\"anonId\":\"smoke-visitor-$STAMP\",\"eventType\":\"page_view\",\"path\":\"/smoke\"}")
if [ "$s" = 202 ] && grep -q '"eventId"' "$out"; then pass "event: 202 with ids"; else fail "event" "status $s, body $(head -c 200 "$out")"; fi

email="smoke+$STAMP@example.com"
s=$(req POST /v1/leads/capture -H 'Content-Type: application/json' -H "Origin: $ORIGIN" \
  --data "{\"email\":\"$email\",\"anonId\":\"smoke-visitor-$STAMP\",\"formName\":\"smoke\",\"consentStatus\":\"pending\"}")
if [ "$s" = 200 ] && grep -q '"leadId"' "$out"; then pass "lead capture: 200 with a leadId"; else fail "lead capture" "status $s, body $(head -c 200 "$out")"; fi

today=$(date -u +%F)
from=$(date -u -d '6 days ago' +%F 2>/dev/null || date -u -v-6d +%F)
s=$(req GET "/v1/metrics/summary?from=$from&to=$today" -H "x-admin-key: $KEY")
if [ "$s" = 200 ] && grep -q '"uniqueVisitors"' "$out"; then pass "metrics summary with the admin key: 200"; else fail "metrics summary" "status $s, body $(head -c 200 "$out")"; fi
s=$(req GET "/v1/metrics/summary?from=$from&to=$today")
if [ "$s" = 401 ]; then pass "metrics summary without the key: 401"; else fail "metrics summary without the key" "status $s"; fi

s=$(curl -sS -o /dev/null -D "$out" -w '%{http_code}' -X OPTIONS --max-time 15 -H "Origin: $ORIGIN" \
  -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type' "$BASE/v1/events" 2>/dev/null || echo 000)
if [ "$s" = 204 ] && grep -qi "^access-control-allow-origin: $ORIGIN" "$out"; then pass "CORS preflight from $ORIGIN: 204, origin echoed"
else fail "CORS preflight" "status $s, headers: $(tr -d '\r' < "$out" | grep -i '^access-control' | tr '\n' ' ')"; fi

# 250 events from one curl process, 16 at a time over reused connections:
# fast enough that the bucket cannot refill (3 tokens a second) meanwhile.
burst=$(mktemp)
for i in $(seq 1 250); do
  [ "$i" -gt 1 ] && echo next >> "$burst" # between transfers: a trailing one would be an empty, failing transfer
  printf 'url = "%s/v1/events"\nrequest = "POST"\nheader = "Content-Type: text/plain"\nheader = "Origin: %s"\nuser-agent = "%s"\ndata = "{\\"anonId\\":\\"smoke-visitor-%s\\",\\"eventType\\":\\"smoke_burst\\",\\"path\\":\\"/smoke/%s\\"}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
    "$BASE" "$ORIGIN" "$UA" "$STAMP" "$i" >> "$burst"
done
codes=$(curl -sS --parallel --parallel-max 16 --max-time 60 -K "$burst" 2>/dev/null)
rm -f "$burst"
[ -n "${SMOKE_DEBUG:-}" ] && printf '%s\n' "$codes" | sort | uniq -c
n202=$(printf '%s\n' "$codes" | grep -c '^202$')
n429=$(printf '%s\n' "$codes" | grep -c '^429$')
if [ "$n429" -gt 0 ]; then pass "rate limit: $n202 accepted then 429 ($n429 of 250 in a burst)"; else fail "rate limit" "250 events in a burst, no 429 ($n202 accepted)"; fi

hp="smoke-honeypot+$STAMP@example.com"
s=$(req POST /v1/leads/capture -H 'Content-Type: application/json' -H "Origin: $ORIGIN" \
  --data "{\"email\":\"$hp\",\"honeypot\":\"https://spam.example\"}")
if [ "$s" = 202 ]; then
  s2=$(req GET "/v1/admin/privacy/export?email=$(printf %s "$hp" | sed 's/+/%2B/g; s/@/%40/g')" -H "x-admin-key: $KEY")
  if [ "$s2" = 404 ]; then pass "honeypot capture: 202 and no lead stored"; else fail "honeypot capture" "a lead exists (export answered $s2)"; fi
else
  fail "honeypot capture" "status $s, want 202"
fi

if [ "$failures" -eq 0 ]; then echo "all smoke checks passed"; else echo "$failures smoke check(s) failed"; fi
exit "$failures"
