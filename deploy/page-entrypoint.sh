#!/usr/local/bin/busybox sh
# The page container's two processes (run by busybox sh: the image has no
# other shell): busybox httpd serves the page from $WWW, and `vizfeed pull`
# keeps $DATA/vizceral.json an atomically replaced copy of the feeder's
# graph; $WWW/vizceral.json is a symbolic link to it, so that the root
# filesystem can be read-only with a tmpfs on $DATA. SIGTERM or SIGINT stops
# both and exits 0; if either dies on its own, the other is stopped and the
# container exits non-zero, so that its restart policy brings both back.
set -u
FEEDER_URL=${FEEDER_URL:-http://vizfeed:8080/vizceral.json}
PULL_INTERVAL=${PULL_INTERVAL:-10s}
WWW=${WWW:-/srv/www}
DATA=${DATA:-/run/page}
PORT=${PORT:-8080}
HTTPD_CONF=${HTTPD_CONF:-/etc/vizfeed-page/httpd.conf}

stopping=0
trap 'stopping=1' TERM INT

vizfeed pull "$FEEDER_URL" -o "$DATA/vizceral.json" --interval "$PULL_INTERVAL" &
pull=$!
busybox httpd -f -p "$PORT" -h "$WWW" -c "$HTTPD_CONF" &
httpd=$!

# Returns when a child exits or a trapped signal arrives.
wait -n "$pull" "$httpd"
status=$?
kill -TERM "$pull" "$httpd" 2>/dev/null
wait "$pull" "$httpd" 2>/dev/null
if [ "$stopping" = 1 ]; then
    exit 0
fi
echo "page-entrypoint: a process exited (status $status); stopping" >&2
exit 1
