#!/bin/sh
# demo.sh API_PORT SITE_PORT DB: the backend (bin/marketing) and the example
# site (bin/demo) for make demo, both stopped by Ctrl-C (or TERM), quietly.
# The trap stops the children, never this shell itself.
api_port=$1 site_port=$2 db=$3
trap 'kill $api $site 2>/dev/null; wait; exit 0' INT TERM
DATABASE_URL="sqlite:$db" CORS_ALLOWED_ORIGINS="http://127.0.0.1:$site_port,http://localhost:$site_port" \
  HOST=127.0.0.1 PORT="$api_port" METRICS_ADDR=off ./bin/marketing serve &
api=$!
./bin/demo -addr "127.0.0.1:$site_port" -api "http://127.0.0.1:$api_port" &
site=$!
wait $api
code=$?
kill $site 2>/dev/null
wait
exit $code
