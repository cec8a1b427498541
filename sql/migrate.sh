#!/usr/bin/env bash
# migrate.sh — applies a database's numbered migrations (DIR/NNN_name.sql) that it lacks.
# Each file runs in one transaction and records its version in schema_migrations itself.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: sql/migrate.sh CONNINFO DIR

Applies DIR/NNN_name.sql in numeric order to the database CONNINFO names (a libpq
conninfo string or postgresql:// URI), skipping versions already listed in its
schema_migrations table. Each file runs with psql --single-transaction and ON_ERROR_STOP,
so a failing file leaves nothing behind. Safe to run again.

  e.g. sql/migrate.sh "host=127.0.0.1 port=55432 dbname=pchat user=pchat" sql/pchat
EOF
}

die() { echo "migrate.sh: $*" >&2; exit 1; }

case "${1:-}" in
    -h|--help) usage; exit 0 ;;
esac
(($# == 2)) || { usage >&2; exit 2; }
CONNINFO=$1
DIR=${2%/}
[[ -d $DIR ]] || die "$DIR is not a directory of migrations"

# Notices such as "relation already exists, skipping" are noise here.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

run_psql() {
    psql -X -q -v ON_ERROR_STOP=1 -d "$CONNINFO" "$@"
}

query() {
    run_psql -At -c "$1"
}

# Collect versions -> files; refuse anything ambiguous before touching the database.
declare -A file_of=()
shopt -s nullglob
for path in "$DIR"/*.sql; do
    name=${path##*/}
    [[ $name =~ ^([0-9]+)_[A-Za-z0-9_-]+\.sql$ ]] ||
        die "$path: migration files must be named NNN_name.sql (digits, underscore, letters)"
    version=$((10#${BASH_REMATCH[1]}))
    [[ -z ${file_of[$version]:-} ]] ||
        die "$path and ${file_of[$version]} both claim version $version: renumber one"
    file_of[$version]=$path
done
shopt -u nullglob
((${#file_of[@]} > 0)) || die "no NNN_name.sql files in $DIR"

mapfile -t versions < <(printf '%s\n' "${!file_of[@]}" | sort -n)

if ! has_table=$(query "SELECT to_regclass('schema_migrations') IS NOT NULL"); then
    die "cannot query the database at '$CONNINFO' (see the psql error above)"
fi
declare -A applied=()
if [[ $has_table == t ]]; then
    while read -r v; do
        [[ -n $v ]] && applied[$v]=1
    done < <(query "SELECT version FROM schema_migrations")
fi

dbname=$(query "SELECT current_database()")
count=0
for version in "${versions[@]}"; do
    [[ -z ${applied[$version]:-} ]] || continue
    path=${file_of[$version]}
    file=${path##*/}
    # The check runs inside the file's transaction, so a file that forgets to record itself
    # is rolled back instead of being applied again next time.
    check="DO \$\$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $version) THEN
            RAISE EXCEPTION '$file does not record version $version in schema_migrations: end it with INSERT INTO schema_migrations (version, name) VALUES ($version, ''${file%.sql}'')';
        END IF; END \$\$"
    run_psql --single-transaction -f "$path" -c "$check" >/dev/null ||
        die "$path failed on database $dbname; it was rolled back, nothing from it is applied. Fix it and run again."
    echo "migrate.sh: applied $file to $dbname"
    count=$((count + 1))
done

latest=$(query "SELECT coalesce(max(version), 0) FROM schema_migrations")
if ((count == 0)); then
    echo "migrate.sh: $dbname is up to date (version $latest)"
else
    echo "migrate.sh: $dbname is at version $latest ($count applied)"
fi
