#!/bin/sh
# Installs the staff onion service's authorized clients (one NAME.auth file per editor, made by
# scripts/tor-staff-client) and starts Tor. Without any, the staff onion refuses everyone.
set -eu
clients=/var/lib/tor/staff/authorized_clients
mkdir -p /var/lib/tor/staff "$clients"
chmod 0700 /var/lib/tor/staff
rm -f "$clients"/*.auth
for file in /etc/tor/staff-clients/*.auth; do
  [ -e "$file" ] && cp "$file" "$clients/"
done
exec tor -f /etc/tor/torrc
