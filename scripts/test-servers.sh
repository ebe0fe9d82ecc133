#!/usr/bin/env bash
# Starts and stops the real servers strata's tests use, from Debian's packages, on loopback,
# on free ports, in a temporary directory:
#   - a standalone redis-server (no persistence)
#   - a standalone redis-server that requires AUTH (a password, and an ACL user)
#   - two TLS redis-servers (certificates made here with openssl: a CA, a server certificate
#     for localhost/127.0.0.1, a client certificate, and for the failure tests a second CA and an
#     expired server certificate): one where a client certificate is optional (with a plaintext
#     port too, for `strata bench redis --tls`), one (mutual TLS, TLS only) where it is required
#   - a Redis Cluster of three masters, each with one replica (cluster_state:ok before we return)
#   - a TLS-only Redis Cluster of three masters (tls-cluster yes: the bus is TLS too, and
#     CLUSTER SLOTS gives the TLS ports)
#   - a Sentinel setup: a master, one replica, three sentinels (quorum 2) watching it as
#     `strata-master`, with a 1 s down-after-milliseconds so that a failover takes seconds;
#     and a second one, the same over TLS only (sentinels and data nodes)
#   - PostgreSQL 15 (initdb and pg_ctl as the `postgres` user when run as root), trust
#     authentication on loopback only, with a database `strata_test`; TLS on (the test PKI's
#     server certificate), and a database `strata_tls_only` that pg_hba.conf serves over TLS only
#
# Usage: scripts/test-servers.sh start | stop | status | env
#        scripts/test-servers.sh redis-stop | redis-start | postgres-stop | postgres-start
#        scripts/test-servers.sh sentinel-start DIR [auth|tls] | sentinel-stop DIR
#
# sentinel-start DIR starts a private Sentinel setup in the (new, empty) directory DIR and
# writes its URL to DIR/url, for a test that fails the master over (the shared one stays
# untouched); with `auth`, the data nodes and the sentinels require passwords (the URL carries
# both); with `tls`, everything speaks TLS only (the PKI in $STRATA_TEST_TLS_DIR; the URL is
# rediss+sentinel:// without its tls_ca option). sentinel-stop DIR stops it. A DIR inside the servers' directory is also stopped
# by `stop`, so nothing outlives a run even when the test crashes.
#
# `start` is idempotent: it first stops whatever an earlier `start` left behind. It writes
# $dir/env, a file of `export STRATA_TEST_...=...` lines, and records $dir in the pointer file
# $STRATA_SERVERS_POINTER (default: build/test-servers.dir). `stop` tears everything down and
# removes the directory. The *-stop/*-start commands let fault tests stop a server and bring it
# back on the same port with the same data.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
pointer=${STRATA_SERVERS_POINTER:-$root/build/test-servers.dir}
pg_bin=${STRATA_PG_BIN:-/usr/lib/postgresql/15/bin}
cluster_replicas=${STRATA_CLUSTER_REPLICAS:-1}
# Test-only credentials for the AUTH server; never use them anywhere else.
auth_password=strata-test-password
acl_user=strata_app
acl_password=strata-app-password

log() { echo "test-servers: $*"; }
die() { echo "test-servers: $*" >&2; exit 1; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free port p (with p+10000 free too when $2 is "bus", for a cluster node's bus port). Both
# stay below the kernel's ephemeral range (ip_local_port_range), so that no outgoing connection
# (a cluster bus link, a replica, a sentinel, a redis-cli) can hold a port between the moment it
# is chosen here and the moment its server binds it: port_in_use only sees listeners.
ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  local p span=$((ephemeral_low - 10000 - 10000))
  [ "$span" -ge 1000 ] || die "the ephemeral port range starts at $ephemeral_low: too low for the test servers"
  for _ in $(seq 1 200); do
    p=$((10000 + (RANDOM * 32768 + RANDOM) % span))
    port_in_use "$p" && continue
    [ "${1:-}" = bus ] && port_in_use $((p + 10000)) && continue
    grep -qx "$p" "$dir/ports" 2>/dev/null && continue
    echo "$p" >>"$dir/ports"
    echo "$p"
    return 0
  done
  die "no free port found"
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq 1 $((seconds * 10))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "timed out after ${seconds}s waiting for $what"
}

# redis_up SECONDS NAME PORT [redis-cli args...]: wait until the server started by
# `start_redis NAME` answers PING; if it does not, show why (the end of its log) and fail.
redis_up() {
  local seconds=$1 name=$2 port=$3
  shift 3
  local i
  for i in $(seq 1 $((seconds * 10))); do
    redis_ping "$port" "$@" && return 0
    sleep 0.1
  done
  echo "test-servers: $name (port $port) did not answer PING within ${seconds}s; the end of its log:" >&2
  tail -n 20 "$dir/$name/redis.log" >&2 2>/dev/null || echo "  (no log at $dir/$name/redis.log)" >&2
  die "timed out after ${seconds}s waiting for $name on port $port"
}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

redis_ping() { [ "$(redis-cli -p "$1" "${@:2}" ping 2>/dev/null)" = PONG ]; }

# The test PKI, in $dir/tls: ca (trusted by the tests), other-ca (trusted by nobody), a server
# certificate for localhost and 127.0.0.1 (and an expired one), a client certificate. EC keys:
# fast to make.
make_certs() {
  local d=$dir/tls
  dir_tls=$d
  mkdir -p "$d"
  local key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${key[@]}" -keyout "$d/ca.key" -out "$d/ca.crt" -days 3 \
    -subj "/CN=strata test CA" 2>/dev/null
  openssl req -x509 "${key[@]}" -keyout "$d/other-ca.key" -out "$d/other-ca.crt" -days 3 \
    -subj "/CN=strata untrusted CA" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$d/server.ext"
  printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext"
  openssl req "${key[@]}" -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=localhost" 2>/dev/null
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -out "$d/server.crt" -days 3 -extfile "$d/server.ext" 2>/dev/null
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -out "$d/expired.crt" -days -1 -extfile "$d/server.ext" 2>/dev/null
  openssl req "${key[@]}" -keyout "$d/client.key" -out "$d/client.csr" -subj "/CN=strata test client" 2>/dev/null
  openssl x509 -req -in "$d/client.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -out "$d/client.crt" -days 3 -extfile "$d/client.ext" 2>/dev/null
  chmod 644 "$d"/*.key  # the servers and tests run as this user; test-only keys
  [ -s "$d/client.crt" ] && [ -s "$d/expired.crt" ] || die "openssl could not make the test certificates"
}

tls_cli() {  # redis-cli arguments for the TLS servers
  echo --tls --cacert "$dir_tls/ca.crt" --cert "$dir_tls/client.crt" --key "$dir_tls/client.key"
}

start_tls_redis() {  # start_tls_redis NAME PORT AUTH_CLIENTS(optional|yes) [PLAINTEXT_PORT]
  local name=$1 port=$2 auth=$3 plain=${4:-0}
  start_redis "$name" "$plain" --tls-port "$port" --tls-cert-file "$dir/tls/server.crt" \
    --tls-key-file "$dir/tls/server.key" --tls-ca-cert-file "$dir/tls/ca.crt" \
    --tls-auth-clients "$auth"
  # shellcheck disable=SC2046
  redis_up 10 "$name" "$port" $(tls_cli)
}

start_redis() {  # start_redis NAME PORT [extra redis-server args...]
  local name=$1 port=$2
  shift 2
  mkdir -p "$dir/$name"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$dir/$name" --pidfile "$dir/$name/redis.pid" --logfile "$dir/$name/redis.log" "$@"
}

# start_sentinel_setup DIR [tls]: a master, a replica and three sentinels, each in a directory
# under DIR, on free ports (recorded in DIR/ports); writes DIR/url (redis+sentinel://... or,
# with tls, rediss+sentinel://... without its ?tls_ca= option). With tls every node listens on
# TLS only (the test PKI of make_certs; client certificates optional), and the replica and the
# sentinels reach the others over TLS (tls-replication). Returns once every sentinel knows the
# replica and the two other sentinels (what a failover needs).
sentinel_master=strata-master
# With auth instead of tls: the data nodes require the password `data-secret` (the replica
# authenticates with it too), the sentinels `sentinel-secret`; the sentinels are told both.
sentinel_data_password=data-secret
sentinel_own_password=sentinel-secret
start_sentinel_setup() {
  local base=$1 tls=${2:-} saved_dir=$dir master_port replica_port port i sentinels=()
  local auth=""
  if [ "$tls" = auth ]; then auth=yes; tls=""; fi
  dir=$base  # free_port and start_redis work in $dir
  mkdir -p "$base"
  touch "$base/sentinel-setup"  # the mark `stop` looks for
  master_port=$(free_port)
  replica_port=$(free_port)
  local cli=() conf_tls="" data_auth=() sentinel_cli=()
  if [ -n "$auth" ]; then
    data_auth=(--requirepass "$sentinel_data_password" --masterauth "$sentinel_data_password")
    cli=(--no-auth-warning -a "$sentinel_data_password")
    sentinel_cli=(--no-auth-warning -a "$sentinel_own_password")
  fi
  if [ "$tls" = tls ]; then
    # shellcheck disable=SC2207
    cli=($(tls_cli))
    conf_tls="tls-cert-file $dir_tls/server.crt
tls-key-file $dir_tls/server.key
tls-client-cert-file $dir_tls/client.crt
tls-client-key-file $dir_tls/client.key
tls-ca-cert-file $dir_tls/ca.crt
tls-auth-clients optional
tls-replication yes"
  fi
  node_args() {  # node_args PORT: how a data node listens
    if [ "$tls" = tls ]; then
      echo "0 --tls-port $1 --tls-cert-file $dir_tls/server.crt --tls-key-file $dir_tls/server.key" \
        "--tls-client-cert-file $dir_tls/client.crt --tls-client-key-file $dir_tls/client.key" \
        "--tls-ca-cert-file $dir_tls/ca.crt --tls-auth-clients optional --tls-replication yes"
    else
      echo "$1"
    fi
  }
  # shellcheck disable=SC2046
  start_redis master $(node_args "$master_port") --repl-diskless-sync-delay 0 "${data_auth[@]}"
  # shellcheck disable=SC2046
  start_redis replica $(node_args "$replica_port") --replicaof 127.0.0.1 "$master_port" \
    --repl-diskless-sync-delay 0 "${data_auth[@]}"
  redis_up 10 master "$master_port" "${cli[@]}"
  redis_up 10 replica "$replica_port" "${cli[@]}"
  wait_for 30 "the replica's link to the master" \
    bash -c "redis-cli -p $replica_port ${cli[*]} info replication | grep -q master_link_status:up"
  # Each sentinel is told its id, the other sentinels and the replica up front (as a sentinel
  # records them in its own config file), instead of learning them from hello messages and
  # INFO over several seconds.
  local ports=() ids=()
  for i in 1 2 3; do
    ports+=("$(free_port)")
    ids+=("$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n')")
  done
  for i in 1 2 3; do
    port=${ports[$((i - 1))]}
    mkdir -p "$base/sentinel-$i"
    # A sentinel rewrites its config file (it records what it learns): one per sentinel.
    {
      if [ "$tls" = tls ]; then echo "port 0"; echo "tls-port $port"; echo "$conf_tls"; else echo "port $port"; fi
      cat <<CONF
bind 127.0.0.1
daemonize yes
pidfile $base/sentinel-$i/redis.pid
logfile $base/sentinel-$i/redis.log
dir $base/sentinel-$i
sentinel monitor $sentinel_master 127.0.0.1 $master_port 2
sentinel down-after-milliseconds $sentinel_master 1000
sentinel failover-timeout $sentinel_master 3000
sentinel parallel-syncs $sentinel_master 1
sentinel myid ${ids[$((i - 1))]}
sentinel known-replica $sentinel_master 127.0.0.1 $replica_port
CONF
      if [ -n "$auth" ]; then
        echo "requirepass $sentinel_own_password"
        echo "sentinel auth-pass $sentinel_master $sentinel_data_password"
        echo "sentinel sentinel-pass $sentinel_own_password"
      fi
      for k in 1 2 3; do
        [ "$k" = "$i" ] && continue
        echo "sentinel known-sentinel $sentinel_master 127.0.0.1 ${ports[$((k - 1))]} ${ids[$((k - 1))]}"
      done
    } >"$base/sentinel-$i/sentinel.conf"
    redis-server "$base/sentinel-$i/sentinel.conf" --sentinel
    sentinels+=("127.0.0.1:$port")
  done
  [ -n "$auth" ] || sentinel_cli=("${cli[@]}")
  for i in 1 2 3; do
    node=${sentinels[$((i - 1))]}
    redis_up 10 "sentinel-$i" "${node#*:}" "${sentinel_cli[@]}"
    wait_for 30 "sentinel $node to know the replica and the other sentinels" bash -c \
      "redis-cli -p ${node#*:} ${sentinel_cli[*]} sentinel master $sentinel_master | tr '\n' ' ' \
         | grep -q 'num-slaves 1 .*num-other-sentinels 2 '"
  done
  local scheme=redis+sentinel userinfo="" options=""
  if [ "$tls" = tls ]; then scheme=rediss+sentinel; fi
  if [ -n "$auth" ]; then
    userinfo=":$sentinel_data_password@"
    options="?sentinel_password=$sentinel_own_password"
  fi
  echo "$scheme://$userinfo$(printf '%s\n' "${sentinels[@]}" | paste -sd, -)/$sentinel_master$options" >"$base/url"
  dir=$saved_dir
}

# stop_sentinel_setup DIR: SIGKILL (nothing in it is worth keeping, and a graceful shutdown
# costs 1-2 s per process), all at once, then waits for every process to be gone.
stop_sentinel_setup() {
  local pidfile pids=() pid
  [ -d "$1" ] || return 0
  for pidfile in $(find "$1" -name redis.pid 2>/dev/null); do
    pid=$(cat "$pidfile")
    # Only a redis-server of this setup: a stale pid file (a node a test killed) may name a
    # pid that was reused since.
    if grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do running "$pid" || break; sleep 0.1; done
  done
  rm -rf "$1"
}

start_standalone() {
  start_redis redis "$(cat "$dir/redis.port")"
  redis_up 10 redis "$(cat "$dir/redis.port")"
}

start_postgres() {
  as_postgres "$pg_bin/pg_ctl" start -w -t 30 -D "$dir/postgres/data" -l "$dir/postgres/postgres.log" >/dev/null \
    || { cat "$dir/postgres/postgres.log" >&2; die "PostgreSQL did not start"; }
}

cmd_start() {
  [ -f "$pointer" ] && cmd_stop
  command -v redis-server >/dev/null || die "redis-server missing: run scripts/install-deps.sh test"
  [ -x "$pg_bin/initdb" ] || die "PostgreSQL 15 missing: run scripts/install-deps.sh test"
  dir=$(mktemp -d "${TMPDIR:-/tmp}/strata-servers.XXXXXX")
  chmod 755 "$dir"
  mkdir -p "$(dirname "$pointer")"
  echo "$dir" >"$pointer"

  # Standalone Redis.
  free_port >"$dir/redis.port"
  start_standalone
  local redis_port
  redis_port=$(cat "$dir/redis.port")

  # Redis requiring AUTH: the default user has a password, and an ACL user has its own.
  local auth_port
  auth_port=$(free_port)
  start_redis redis-auth "$auth_port" --requirepass "$auth_password"
  redis_up 10 redis-auth "$auth_port" --no-auth-warning -a "$auth_password"
  redis-cli -p "$auth_port" --no-auth-warning -a "$auth_password" \
    ACL SETUSER "$acl_user" on ">$acl_password" '~*' '&*' +@all >/dev/null

  # TLS-only Redis: a client certificate optional on one, required on the other.
  make_certs
  local tls_port mtls_port tls_plain_port
  tls_port=$(free_port)
  mtls_port=$(free_port)
  tls_plain_port=$(free_port)  # the same server's plaintext port: `strata bench redis --tls`
  start_tls_redis redis-tls "$tls_port" optional "$tls_plain_port"
  start_tls_redis redis-mtls "$mtls_port" yes

  # Redis Cluster: three masters (+ replicas), created by redis-cli.
  local nodes=() node_count=$((3 * (1 + cluster_replicas))) port
  for _ in $(seq 1 "$node_count"); do
    port=$(free_port bus)
    start_redis "cluster/$port" "$port" --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout 3000
    nodes+=("127.0.0.1:$port")
  done
  for node in "${nodes[@]}"; do redis_up 10 "cluster/${node#*:}" "${node#*:}"; done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas "$cluster_replicas" --cluster-yes \
    >"$dir/cluster-create.log" 2>&1 || { cat "$dir/cluster-create.log" >&2; die "cluster create failed"; }
  for node in "${nodes[@]}"; do
    wait_for 30 "cluster_state:ok on $node" \
      bash -c "redis-cli -p ${node#*:} cluster info | grep -q cluster_state:ok"
  done
  # Every node must know all 16384 slots before tests start routing.
  for node in "${nodes[@]}"; do
    wait_for 30 "slots on $node" bash -c "redis-cli -p ${node#*:} cluster info | grep -q cluster_slots_ok:16384"
  done
  printf '%s\n' "${nodes[@]}" >"$dir/cluster.nodes"

  # A TLS-only Redis Cluster: three masters, TLS on the client port and on the cluster bus, so
  # that CLUSTER SLOTS gives TLS ports.
  local tls_nodes=()
  for _ in 1 2 3; do
    port=$(free_port bus)
    start_redis "cluster-tls/$port" 0 --tls-port "$port" --tls-cluster yes --tls-replication yes \
      --tls-cert-file "$dir_tls/server.crt" --tls-key-file "$dir_tls/server.key" \
      --tls-client-cert-file "$dir_tls/client.crt" --tls-client-key-file "$dir_tls/client.key" \
      --tls-ca-cert-file "$dir_tls/ca.crt" --tls-auth-clients optional \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 3000
    tls_nodes+=("127.0.0.1:$port")
  done
  # shellcheck disable=SC2046
  for node in "${tls_nodes[@]}"; do redis_up 10 "cluster-tls/${node#*:}" "${node#*:}" $(tls_cli); done
  # shellcheck disable=SC2046
  redis-cli $(tls_cli) --cluster create "${tls_nodes[@]}" --cluster-yes \
    >"$dir/cluster-tls-create.log" 2>&1 || { cat "$dir/cluster-tls-create.log" >&2; die "TLS cluster create failed"; }
  for node in "${tls_nodes[@]}"; do
    wait_for 30 "cluster_state:ok and every slot on TLS node $node" bash -c \
      "redis-cli -p ${node#*:} $(tls_cli) cluster info | tr '\r' ' ' | tr '\n' ' ' \
         | grep -q 'cluster_state:ok .*cluster_slots_ok:16384'"
  done

  # Sentinel: a master, a replica, three sentinels; and the same over TLS.
  start_sentinel_setup "$dir/sentinel"
  start_sentinel_setup "$dir/sentinel-tls" tls

  # PostgreSQL 15.
  local pg_port
  pg_port=$(free_port)
  echo "$pg_port" >"$dir/postgres.port"
  mkdir -p "$dir/postgres"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/postgres"
  # TLS with the test PKI: the server wants its key readable by itself only.
  as_postgres cp "$dir/tls/server.crt" "$dir/tls/server.key" "$dir/postgres/"
  as_postgres chmod 600 "$dir/postgres/server.key"
  as_postgres "$pg_bin/initdb" -D "$dir/postgres/data" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth=trust --no-sync >"$dir/postgres/initdb.log" 2>&1 \
    || { cat "$dir/postgres/initdb.log" >&2; die "initdb failed"; }
  as_postgres tee -a "$dir/postgres/data/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$dir/postgres'
fsync = off
full_page_writes = off
max_connections = 200
ssl = on
ssl_cert_file = '$dir/postgres/server.crt'
ssl_key_file = '$dir/postgres/server.key'
CONF
  as_postgres tee "$dir/postgres/data/pg_hba.conf" >/dev/null <<HBA
local all all trust
hostssl strata_tls_only all 127.0.0.1/32 trust
hostnossl strata_tls_only all 127.0.0.1/32 reject
host all all 127.0.0.1/32 trust
HBA
  start_postgres
  as_postgres "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres strata_test
  as_postgres "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres strata_tls_only

  local seeds
  seeds=$(head -n 3 "$dir/cluster.nodes" | paste -sd, -)
  cat >"$dir/env" <<ENV
export STRATA_TEST_SERVERS_DIR='$dir'
export STRATA_TEST_SERVERS_SCRIPT='$here/test-servers.sh'
export STRATA_SERVERS_POINTER='$pointer'
export STRATA_TEST_REDIS_URL='redis://127.0.0.1:$redis_port'
export STRATA_TEST_REDIS_AUTH_URL='redis://:$auth_password@127.0.0.1:$auth_port'
export STRATA_TEST_REDIS_ACL_URL='redis://$acl_user:$acl_password@127.0.0.1:$auth_port'
export STRATA_TEST_REDIS_CLUSTER_URL='redis+cluster://$seeds'
export STRATA_TEST_TLS_DIR='$dir/tls'
export STRATA_TEST_REDIS_TLS_URL='rediss://127.0.0.1:$tls_port?tls_ca=$dir/tls/ca.crt'
export STRATA_TEST_REDIS_TLS_PLAIN_URL='redis://127.0.0.1:$tls_plain_port'
export STRATA_TEST_REDIS_MTLS_URL='rediss://127.0.0.1:$mtls_port?tls_ca=$dir/tls/ca.crt&tls_cert=$dir/tls/client.crt&tls_key=$dir/tls/client.key'
export STRATA_TEST_REDIS_SENTINEL_URL='$(cat "$dir/sentinel/url")'
export STRATA_TEST_REDIS_TLS_CLUSTER_URL='rediss+cluster://$(printf '%s\n' "${tls_nodes[@]}" | paste -sd, -)?tls_ca=$dir/tls/ca.crt'
export STRATA_TEST_REDIS_TLS_SENTINEL_URL='$(cat "$dir/sentinel-tls/url")?tls_ca=$dir/tls/ca.crt'
export STRATA_TEST_POSTGRES_URL='postgresql://postgres@127.0.0.1:$pg_port/strata_test'
export STRATA_TEST_POSTGRES_TLS_URL='postgresql://postgres@127.0.0.1:$pg_port/strata_test?sslmode=verify-full&sslrootcert=$dir/tls/ca.crt'
export STRATA_TEST_POSTGRES_TLS_ONLY_URL='postgresql://postgres@127.0.0.1:$pg_port/strata_tls_only'
ENV
  log "redis          redis://127.0.0.1:$redis_port"
  log "redis (auth)   redis://127.0.0.1:$auth_port (password and ACL user $acl_user)"
  log "redis (TLS)    rediss://127.0.0.1:$tls_port, mutual TLS rediss://127.0.0.1:$mtls_port (PKI in $dir/tls)"
  log "redis cluster  redis+cluster://$seeds ($node_count nodes, $cluster_replicas replica(s) per master)"
  log "redis cluster  rediss+cluster://$(printf '%s\n' "${tls_nodes[@]}" | paste -sd, -) (TLS only, 3 masters, tls-cluster yes)"
  log "redis sentinel $(cat "$dir/sentinel/url") (a master, a replica, 3 sentinels)"
  log "redis sentinel $(cat "$dir/sentinel-tls/url") (the same, TLS only)"
  log "postgresql     postgresql://postgres@127.0.0.1:$pg_port/strata_test (TLS too: sslmode=verify-full; strata_tls_only: TLS only)"
  log "environment    $dir/env"
}

# True while process $1 runs; a zombie counts as gone (PID 1 here may reap it seconds later).
running() { ps -o stat= -p "$1" 2>/dev/null | grep -qv Z; }

stop_redis_dir() {  # stop_redis_dir DIR: kill the redis-server whose pidfile is in DIR
  local pidfile="$1/redis.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do running "$pid" || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

cmd_stop() {
  [ -f "$pointer" ] || { log "nothing to stop"; return 0; }
  dir=$(cat "$pointer")
  if [ -d "$dir" ]; then
    if [ -f "$dir/postgres/data/postmaster.pid" ]; then
      as_postgres "$pg_bin/pg_ctl" stop -w -t 30 -m fast -D "$dir/postgres/data" >/dev/null 2>&1 \
        || pkill -9 -f -- "-D $dir/postgres/data" || true
    fi
    # Sentinel setups first (the shared one, and private ones a crashed test left behind).
    for mark in $(find "$dir" -name sentinel-setup 2>/dev/null); do stop_sentinel_setup "$(dirname "$mark")"; done
    for pidfile in $(find "$dir" -name redis.pid 2>/dev/null); do stop_redis_dir "$(dirname "$pidfile")"; done
    rm -rf "$dir"
  fi
  rm -f "$pointer"
  log "stopped"
}

load_dir() {
  [ -f "$pointer" ] || die "no servers running (no $pointer): run '$0 start' first"
  dir=$(cat "$pointer")
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  env) load_dir; cat "$dir/env" ;;
  status)
    load_dir
    redis_ping "$(cat "$dir/redis.port")" && log "redis up" || log "redis down"
    as_postgres "$pg_bin/pg_ctl" status -D "$dir/postgres/data" >/dev/null && log "postgres up" || log "postgres down"
    ;;
  redis-stop) load_dir; stop_redis_dir "$dir/redis" ;;
  redis-start) load_dir; start_standalone ;;
  postgres-stop) load_dir; as_postgres "$pg_bin/pg_ctl" stop -w -m fast -D "$dir/postgres/data" >/dev/null ;;
  postgres-start) load_dir; start_postgres ;;
  sentinel-start)
    [ -n "${2:-}" ] || die "usage: $0 sentinel-start DIR [auth|tls]"
    dir=$2
    if [ "${3:-}" = tls ]; then  # the test PKI of the running servers
      dir_tls=${STRATA_TEST_TLS_DIR:-}
      [ -f "$dir_tls/ca.crt" ] || die "sentinel-start DIR tls needs STRATA_TEST_TLS_DIR (the running servers' PKI)"
    fi
    start_sentinel_setup "$2" "${3:-}"
    ;;
  sentinel-stop)
    [ -n "${2:-}" ] || die "usage: $0 sentinel-stop DIR"
    stop_sentinel_setup "$2"
    ;;
  *) echo "usage: $0 start|stop|status|env|redis-stop|redis-start|postgres-stop|postgres-start|sentinel-start DIR [auth|tls]|sentinel-stop DIR" >&2; exit 2 ;;
esac
