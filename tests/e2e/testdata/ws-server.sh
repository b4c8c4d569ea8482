#!/bin/sh
# A WebSocket server in busybox sh, run per connection by `nc -ll -p PORT -e`:
# the handshake, a "hello" text frame, then "got-it" once the client sends
# anything. Enough to prove a preview relays upgrades both ways.
key=""
while IFS= read -r line; do
  line=$(printf '%s' "$line" | tr -d '\r')
  [ -z "$line" ] && break
  case "$line" in [Ss]ec-[Ww]eb[Ss]ocket-[Kk]ey:*) key="${line#*: }" ;; esac
done
acc=$(printf '%s' "${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11" | sha1sum | cut -c1-40 | sed 's/../\\x&/g')
accept=$(printf "$acc" | base64)
printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n' "$accept"
printf '\201\005hello'
head -c 1 >/dev/null
printf '\201\006got-it'
