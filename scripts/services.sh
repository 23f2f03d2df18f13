#!/usr/bin/env bash
# services.sh -- starts the local services the tests may use (PostgreSQL,
# Redis, NATS with JetStream, Mosquitto) if they are installed but down.
# Services that are not installed are reported and left alone: the tests
# that need them install or skip them with a reason.
set -u
up() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

start() { # name port command...
  local name=$1 port=$2
  shift 2
  if up "$port"; then return 0; fi
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "services: $name not installed"
    return 0
  fi
  echo "services: starting $name"
  "$@" >/dev/null 2>&1 || echo "services: could not start $name"
  for _ in $(seq 1 50); do up "$port" && return 0; sleep 0.2; done
  echo "services: $name did not come up on port $port"
}

if [ -d /etc/postgresql ]; then
  start postgresql 5432 pg_ctlcluster --skip-systemctl-redirect \
    "$(ls /etc/postgresql | head -n1)" main start
fi
start redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 \
  --port 6379 --save "" --appendonly no --dir /var/lib/redis \
  --logfile /var/log/redis/ci.log
start nats 4222 start-stop-daemon --start --oknodo --background \
  --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js \
  -sd /var/lib/nats-server -l /var/log/nats-server.log
start mosquitto 1883 mosquitto -d -c /etc/mosquitto/mosquitto.conf
exit 0
