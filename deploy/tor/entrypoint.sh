#!/bin/sh
# Installs the staff onion service's authorized clients (one NAME.auth file per editor, made by
# scripts/tor-staff-client) and starts Tor. Tor turns client authorization off when there is no
# client file at all, which would open the staff onion to anyone who learns its address: with
# no editor key yet, a throwaway key that nobody holds is installed instead.
set -eu
clients=/var/lib/tor/staff/authorized_clients
mkdir -p /var/lib/tor/staff "$clients"
chmod 0700 /var/lib/tor/staff
rm -f "$clients"/*.auth
for file in /etc/tor/staff-clients/*.auth; do
  [ -e "$file" ] && cp "$file" "$clients/"
done
if ! ls "$clients"/*.auth >/dev/null 2>&1; then
  nobody=$(head -c 32 /dev/urandom | base32 | tr -d '=' | head -c 52)
  printf 'descriptor:x25519:%s\n' "$nobody" > "$clients/nobody.auth"
  echo "tor: no editor key in secrets/tor-staff-clients: the staff onion refuses everyone"
fi
exec tor -f /etc/tor/torrc
