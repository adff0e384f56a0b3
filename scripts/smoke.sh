#!/usr/bin/env bash
# Post-deploy smoke checks against a running backend.
#   scripts/smoke.sh BASE_URL ADMIN_KEY ORIGIN
# e.g. scripts/smoke.sh "https://$APP.fly.dev" "$ADMIN_API_KEY" https://www.example.com
#
# Each check prints PASS, FAIL or SKIP with the reason; a FAIL shows the
# request, its HTTP status and the start of its body. The exit status is the
# number of failures (0: all passed). Needs curl.
#
# Safe to run again at once: a 429 on a single check is waited out (its
# Retry-After) and retried. What it sends, and what it leaves behind:
#   - up to 251 events (one page view of /smoke, then a burst of 250
#     smoke_burst events for the rate-limit check, about 180 of them
#     accepted), from one random visitor, all with propertyId "smoke-test".
#     The summary for your site (?propertyId=YOUR-SITE) never sees them;
#     the all-properties summary (no propertyId) counts them: one visitor
#     and one page view a run.
#   - one test lead with a random address, smoke-<random>@example.com,
#     erased at the end with POST /v1/leads/delete (its lead_captured event
#     belongs to ORIGIN's property). Erasure keeps a suppression entry, an
#     HMAC of that address: random and at example.com, it blocks nobody.
#   - one honeypot capture, never stored.
set -u
usage='usage: smoke.sh BASE_URL ADMIN_KEY ORIGIN'
BASE=${1:?$usage}
KEY=${2:?$usage}
ORIGIN=${3:?$usage}
BASE=${BASE%/}
PROPERTY=smoke-test
UA='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 marketing-smoke'
RUN=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
VISITOR="smoke-visitor-$RUN"
failures=0
out=$(mktemp)
hdr=$(mktemp)
trap 'rm -f "$out" "$hdr"' EXIT

pass() { printf 'PASS  %s\n' "$1"; }
fail() { printf 'FAIL  %s: %s\n' "$1" "$2"; failures=$((failures + 1)); }
skip() { printf 'SKIP  %s: %s\n' "$1" "$2"; }
body() { tr -d '\r\n' < "$out" | head -c 300; }
# why: the last request as "METHOD PATH answered STATUS: BODY".
why() { printf '%s %s answered %s: %s' "$last_method" "$last_path" "$s" "$(body)"; }

# req METHOD PATH [curl args…]: sets $s to the status, leaves the body in
# $out and the headers in $hdr. A 429 is retried after its Retry-After (up
# to three times, at most 65 s each), so a second run right after a first
# one passes too.
req() {
  local method=$1 path=$2 tries=0 wait; shift 2
  last_method=$method last_path=${path%%\?*}
  while :; do
    s=$(curl -sS -o "$out" -D "$hdr" -w '%{http_code}' -X "$method" -A "$UA" --max-time 15 "$@" "$BASE$path" 2>/dev/null) || s=000
    [ "$s" = 429 ] && [ "$tries" -lt 3 ] || break
    wait=$(tr -d '\r' < "$hdr" | awk -F': *' 'tolower($1)=="retry-after"{print $2+0}')
    [ -n "$wait" ] && [ "$wait" -ge 1 ] || wait=1
    [ "$wait" -gt 65 ] && wait=65
    sleep "$wait"
    tries=$((tries + 1))
  done
}

req GET /v1/healthz
if [ "$s" = 200 ] && grep -q '"ok":true' "$out"; then pass "health: 200 ok"; else fail "health" "$(why)"; fi

req POST /v1/events -H 'Content-Type: text/plain' -H "Origin: $ORIGIN" \
  --data "{\"anonId\":\"$VISITOR\",\"propertyId\":\"$PROPERTY\",\"eventType\":\"page_view\",\"path\":\"/smoke\"}"
if [ "$s" = 202 ] && grep -q '"eventId"' "$out"; then pass "event: 202 with ids"; else fail "event" "$(why)"; fi

email="smoke-$RUN@example.com"
lead=no
req POST /v1/leads/capture -H 'Content-Type: application/json' -H "Origin: $ORIGIN" \
  --data "{\"email\":\"$email\",\"anonId\":\"$VISITOR\",\"formName\":\"smoke\",\"consentStatus\":\"pending\"}"
if [ "$s" = 200 ] && grep -q '"leadId"' "$out"; then pass "lead capture: 200 with a leadId ($email)"; lead=yes; else fail "lead capture" "$(why)"; fi

# The admin key: the checks after this one that need it are skipped (not
# blamed) when it is refused.
today=$(date -u +%F)
from=$(date -u -d '6 days ago' +%F 2>/dev/null || date -u -v-6d +%F)
admin=no
req GET "/v1/metrics/summary?from=$from&to=$today" -H "x-admin-key: $KEY"
if [ "$s" = 200 ] && grep -q '"uniqueVisitors"' "$out"; then pass "admin key: the metrics summary with x-admin-key answers 200"; admin=yes
elif [ "$s" = 401 ]; then fail "admin key" "$(why) — the ADMIN_KEY argument is not the server's ADMIN_API_KEY"
elif [ "$s" = 503 ] && grep -q admin_auth_not_configured "$out"; then fail "admin key" "$(why) — the server has no ADMIN_API_KEY set"
else fail "admin key" "$(why)"; fi
req GET "/v1/metrics/summary?from=$from&to=$today"
if [ "$s" = 401 ]; then pass "metrics summary without the key: 401"; else fail "metrics summary without the key" "$(why), want 401"; fi

s=$(curl -sS -o "$out" -D "$hdr" -w '%{http_code}' -X OPTIONS --max-time 15 -H "Origin: $ORIGIN" \
  -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type' "$BASE/v1/events" 2>/dev/null) || s=000
if [ "$s" = 204 ] && grep -qi "^access-control-allow-origin: $ORIGIN" "$hdr"; then pass "CORS preflight from $ORIGIN: 204, origin echoed"
else fail "CORS preflight" "OPTIONS /v1/events answered $s, headers: $(tr -d '\r' < "$hdr" | grep -i '^access-control' | tr '\n' ' ') (is $ORIGIN in CORS_ALLOWED_ORIGINS?)"; fi

# 250 events from one curl process, 16 at a time over reused connections:
# fast enough that the bucket cannot refill (3 tokens a second) meanwhile.
burst=$(mktemp)
for i in $(seq 1 250); do
  [ "$i" -gt 1 ] && echo next >> "$burst" # between transfers: a trailing one would be an empty, failing transfer
  printf 'url = "%s/v1/events"\nrequest = "POST"\nheader = "Content-Type: text/plain"\nheader = "Origin: %s"\nuser-agent = "%s"\ndata = "{\\"anonId\\":\\"%s\\",\\"propertyId\\":\\"%s\\",\\"eventType\\":\\"smoke_burst\\",\\"path\\":\\"/smoke/%s\\"}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
    "$BASE" "$ORIGIN" "$UA" "$VISITOR" "$PROPERTY" "$i" >> "$burst"
done
codes=$(curl -sS --parallel --parallel-max 16 --max-time 60 -K "$burst" 2>/dev/null)
rm -f "$burst"
[ -n "${SMOKE_DEBUG:-}" ] && printf '%s\n' "$codes" | sort | uniq -c
n202=$(printf '%s\n' "$codes" | grep -c '^202$')
n429=$(printf '%s\n' "$codes" | grep -c '^429$')
other=$(printf '%s\n' "$codes" | grep -v -e '^202$' -e '^429$' -e '^$' | sort | uniq -c | tr -s ' \n' ' ')
if [ "$n429" -gt 0 ]; then pass "rate limit: $n202 accepted then 429 ($n429 of 250 in a burst)"
else fail "rate limit" "250 POST /v1/events in a burst, no 429 ($n202 answered 202${other:+; other statuses:$other}); is RATE_LIMIT_EVENTS_PER_MINUTE 0?"; fi

hp="smoke-honeypot-$RUN@example.com"
req POST /v1/leads/capture -H 'Content-Type: application/json' -H "Origin: $ORIGIN" \
  --data "{\"email\":\"$hp\",\"honeypot\":\"https://spam.example\"}"
if [ "$s" != 202 ]; then
  fail "honeypot capture" "$(why), want 202"
elif [ "$admin" = no ]; then
  skip "honeypot capture: no lead stored" "answered 202, but checking needs the admin key (see the admin key check)"
else
  req GET "/v1/admin/privacy/export?email=$hp" -H "x-admin-key: $KEY"
  if [ "$s" = 404 ]; then pass "honeypot capture: 202 and no lead stored"; else fail "honeypot capture" "$(why), want 404 (no lead for the honeypot address)"; fi
fi

# Clean up: erase the test lead (a suppression of its random address stays).
if [ "$lead" = no ]; then
  :
elif [ "$admin" = no ]; then
  skip "erase the test lead" "needs the admin key; erase $email yourself with POST /v1/leads/delete"
else
  req POST /v1/leads/delete -H 'Content-Type: application/json' -H "x-admin-key: $KEY" --data "{\"email\":\"$email\"}"
  if [ "$s" = 200 ] && grep -q '"deleted":true' "$out"; then pass "erase the test lead: 200 deleted"; else fail "erase the test lead" "$(why)"; fi
fi

if [ "$failures" -eq 0 ]; then echo "all smoke checks passed"; else echo "$failures smoke check(s) failed"; fi
exit "$failures"
