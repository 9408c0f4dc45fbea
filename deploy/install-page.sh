#!/bin/sh
# Run by `meson install` (meson.build): copies the built page, ui/dist, to
# its installed directory, the default ui_dir compiled into vizfeed. The
# page is built by node (./dev ui, or npm ci && npm run build in ui/), which
# meson does not run; installing without it would give a vizfeed whose /
# answers 404, so this fails and says what to do instead.
set -eu
src=$1
dest=${DESTDIR:-}$2
if [ ! -f "$src/index.html" ]; then
    echo "meson install: the page is not built ($src/index.html is missing): run ./dev ui, or npm ci && npm run build in ui/" >&2
    exit 1
fi
mkdir -p "$dest"
cp -R "$src"/. "$dest"/
chmod -R u=rwX,go=rX "$dest"
echo "Installing the page $src to $dest"
