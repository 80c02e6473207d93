#!/bin/sh
# SCRAM users and ACLs of jobmatch on the production Kafka cluster: one principal per
# service, each allowed only the topics and consumer groups its code uses (the table is in
# deploy/README.md, "Production security"). Idempotent: run it again after any change.
#
# Runs as the `kafka-acls` job of docker-compose.yml (apache/kafka image), or by hand:
#   SECRETS_DIR=./secrets KAFKA_BIN=/opt/kafka/bin BOOTSTRAP=kafka-1:9092 sh kafka-acls.sh
# It authenticates as the super user jobmatch-admin (made by kafka/start.sh). Passwords are
# read from $SECRETS_DIR/kafka_<name>_password; a principal whose file is absent is skipped
# (its ACLs are still set, so it works once its SCRAM credential is added).
set -eu

bin=${KAFKA_BIN:-/opt/kafka/bin}
bootstrap=${BOOTSTRAP:-kafka-1:9092,kafka-2:9092,kafka-3:9092}
secrets=${SECRETS_DIR:-/run/secrets}
matching_group=${MATCHING_GROUP_ID:-jobmatch-matching}
downstream_group_prefix=${DOWNSTREAM_GROUP_PREFIX:-downstream-example.}

CITIZENS=jobmatch.citizens
EMPLOYERS=jobmatch.employers
JOB_ORDERS=jobmatch.job-orders
PLACEMENTS=jobmatch.placements
REPORTS=jobmatch.reports
AUDIT=jobmatch.audit
DEAD_LETTER=jobmatch.dead-letter

secret() {
    file="$secrets/$1"
    if [ ! -r "$file" ]; then
        echo "kafka-acls: missing secret $file" >&2
        exit 1
    fi
    value=$(tr -d '\r\n' <"$file")
    if [ -z "$value" ]; then
        echo "kafka-acls: empty secret $file" >&2
        exit 1
    fi
    printf '%s' "$value"
}

# The admin's client config holds its password: a private folder, removed on exit.
umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
admin_password=$(secret kafka_admin_password)
cat >"$work/admin.properties" <<PROPERTIES
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="jobmatch-admin" password="$admin_password";
ssl.truststore.type=PEM
ssl.truststore.location=$secrets/kafka_ca
PROPERTIES
admin="--bootstrap-server $bootstrap --command-config $work/admin.properties"

# Wait for the cluster (the brokers start at the same time as this job).
tries=0
until "$bin/kafka-broker-api-versions.sh" $admin >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 90 ]; then
        echo "kafka-acls: the cluster did not answer as jobmatch-admin at $bootstrap" >&2
        exit 1
    fi
    sleep 2
done

# SCRAM-SHA-512 credential of a principal (added or replaced: this is also the rotation).
scram_user() {
    user=$1
    file=$2
    if [ ! -r "$secrets/$file" ]; then
        echo "kafka-acls: no $file: SCRAM user $user not made" >&2
        return 0
    fi
    password=$(secret "$file")
    "$bin/kafka-configs.sh" $admin --alter --entity-type users --entity-name "$user" \
        --add-config "SCRAM-SHA-512=[iterations=8192,password=$password]" >/dev/null
    echo "SCRAM user $user"
}

# Allow: acl PRINCIPAL OPERATION... -- RESOURCE OPTIONS (topics, group, pattern type).
# READ and WRITE imply DESCRIBE on the same resource.
acl() {
    principal=$1
    shift
    ops=""
    while [ "$1" != "--" ]; do
        ops="$ops --operation $1"
        shift
    done
    shift
    # shellcheck disable=SC2086 # $admin and $ops are lists of options
    "$bin/kafka-acls.sh" $admin --add --allow-principal "User:$principal" $ops "$@" >/dev/null
    echo "ACL $principal:$ops $*"
}

topics() {
    for t in "$@"; do printf ' --topic %s' "$t"; done
}

scram_user jobmatch-events kafka_events_password
scram_user jobmatch-profiles kafka_profiles_password
scram_user jobmatch-matching kafka_matching_password
scram_user jobmatch-model kafka_model_password
scram_user downstream-example kafka_downstream_password

# events: appends the domain events (commands) and its audit records, dead-letters what
# its projector cannot read, and reads what it decides on (assigned partitions, no consumer
# group): the aggregate states, and an append whose answer was lost (read back by event id).
# shellcheck disable=SC2046
acl jobmatch-events Write -- $(topics $CITIZENS $EMPLOYERS $JOB_ORDERS $PLACEMENTS $AUDIT $DEAD_LETTER)
# shellcheck disable=SC2046
acl jobmatch-events Read -- $(topics $CITIZENS $EMPLOYERS $JOB_ORDERS $PLACEMENTS)

# profiles: reads every domain topic and the audit trail (assigned partitions, no consumer
# group; the same for `jobmatch projections rebuild`), dead-letters what it cannot read, and
# appends an audit record for every read of a citizen's data.
# shellcheck disable=SC2046
acl jobmatch-profiles Read -- $(topics $CITIZENS $EMPLOYERS $JOB_ORDERS $PLACEMENTS $REPORTS $AUDIT)
acl jobmatch-profiles Write -- --topic $DEAD_LETTER --topic $AUDIT

# matching: the faust agent's group (MATCHING_GROUP_ID; the start-up replay reads its
# committed offsets), its inputs, and the suggestions and dead letters it writes.
# shellcheck disable=SC2046
acl jobmatch-matching Read -- $(topics $CITIZENS $JOB_ORDERS $PLACEMENTS)
acl jobmatch-matching Write -- --topic $PLACEMENTS --topic $DEAD_LETTER
acl jobmatch-matching Read -- --group "$matching_group"

# model: `jobmatch model evaluate|train|fairness` read the log (no group) and `--publish`
# appends to the reports topic. An operator's tool, not a service.
# shellcheck disable=SC2046
acl jobmatch-model Read -- $(topics $CITIZENS $EMPLOYERS $JOB_ORDERS $PLACEMENTS $REPORTS)
acl jobmatch-model Write -- --topic $REPORTS

# An example downstream system (a municipality's case management, say): reads the
# placements only, in consumer groups named downstream-example.<anything>. Read-only.
acl downstream-example Read -- --topic $PLACEMENTS
acl downstream-example Read -- --resource-pattern-type prefixed --group "$downstream_group_prefix"

"$bin/kafka-acls.sh" $admin --list
