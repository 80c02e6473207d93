#!/bin/sh
# Starts Redis (image redis:7.4) with the jobmatch ACL users.
#
# Renders users.acl.template into a tmpfs file, putting in the SHA-256 of each password
# read from the docker secrets (/run/secrets/redis_<user>_password), then hands over to
# the image's entrypoint, which drops to the redis user. A missing or empty secret stops
# the container with its name.
set -eu

here=$(dirname "$0")
secrets=${SECRETS_DIR:-/run/secrets}
acl_dir=${REDIS_ACL_DIR:-/run/redis-acl}

sha256_of() {
    file="$secrets/$1"
    if [ ! -r "$file" ]; then
        echo "redis: missing secret $file" >&2
        exit 1
    fi
    # One line; a trailing newline is not part of the password (as in the services).
    password=$(tr -d '\r\n' <"$file")
    if [ -z "$password" ]; then
        echo "redis: empty secret $file" >&2
        exit 1
    fi
    printf '%s' "$password" | sha256sum | cut -d' ' -f1
}

events=$(sha256_of redis_events_password)
profiles=$(sha256_of redis_profiles_password)
admin=$(sha256_of redis_admin_password)

umask 077
mkdir -p "$acl_dir"
# Redis ACL files allow no comments: the template's are dropped, with blank lines.
grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$here/users.acl.template" |
    sed -e "s/@REDIS_EVENTS_SHA256@/$events/" \
        -e "s/@REDIS_PROFILES_SHA256@/$profiles/" \
        -e "s/@REDIS_ADMIN_SHA256@/$admin/" >"$acl_dir/users.acl"
if grep -q '@REDIS_[A-Z]*_SHA256@' "$acl_dir/users.acl"; then
    echo "redis: users.acl.template has a user without a password secret" >&2
    exit 1
fi
if [ "$(id -u)" = 0 ]; then
    chown -R redis:redis "$acl_dir"
fi

exec /usr/local/bin/docker-entrypoint.sh redis-server "$here/redis.conf" --aclfile "$acl_dir/users.acl"
