#!/bin/sh
# Starts one node (broker and controller, KRaft) of the production cluster, in the
# apache/kafka image. Listeners:
#   CLIENTS     9092  SASL_SSL, SCRAM-SHA-512: the services and tools, one user each
#   CONTROLLER  9093  SSL with client certificates: the KRaft quorum
#   REPLICATION 9094  SSL with client certificates: broker to broker
# Brokers are principals User:kafka-N (their certificate's CN) and super users; so is
# User:jobmatch-admin, the only SCRAM user made here (at the first start, when the storage
# is formatted); kafka-acls.sh makes the others and their ACLs.
#
# Secrets come from docker secrets in /run/secrets: kafka_keystore (this node's PKCS#12),
# kafka_keystore_password, kafka_ca (PEM), kafka_admin_password. The config is written to
# $KAFKA_CONF_DIR (a tmpfs), readable by this user only.
set -eu

: "${KAFKA_NODE_ID:?set KAFKA_NODE_ID (1, 2 or 3)}"
: "${KAFKA_CLUSTER_ID:?set KAFKA_CLUSTER_ID (kafka-storage.sh random-uuid)}"
: "${KAFKA_CONTROLLER_QUORUM_VOTERS:=1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093}"
host=${KAFKA_ADVERTISED_HOST:-kafka-$KAFKA_NODE_ID}
secrets=${SECRETS_DIR:-/run/secrets}
conf_dir=${KAFKA_CONF_DIR:-/tmp/kafka-conf}
bin=${KAFKA_BIN:-/opt/kafka/bin}

secret() {
    file="$secrets/$1"
    if [ ! -r "$file" ]; then
        echo "kafka: missing secret $file" >&2
        exit 1
    fi
    value=$(tr -d '\r\n' <"$file")
    if [ -z "$value" ]; then
        echo "kafka: empty secret $file" >&2
        exit 1
    fi
    printf '%s' "$value"
}

keystore_password=$(secret kafka_keystore_password)
admin_password=$(secret kafka_admin_password)
for file in kafka_keystore kafka_ca; do
    [ -r "$secrets/$file" ] || { echo "kafka: missing secret $secrets/$file" >&2; exit 1; }
done

umask 077
mkdir -p "$conf_dir"
conf="$conf_dir/server.properties"
cat >"$conf" <<PROPERTIES
process.roles=broker,controller
node.id=$KAFKA_NODE_ID
controller.quorum.voters=$KAFKA_CONTROLLER_QUORUM_VOTERS
controller.listener.names=CONTROLLER
listeners=CLIENTS://:9092,CONTROLLER://:9093,REPLICATION://:9094
advertised.listeners=CLIENTS://$host:9092,REPLICATION://$host:9094
listener.security.protocol.map=CLIENTS:SASL_SSL,CONTROLLER:SSL,REPLICATION:SSL
inter.broker.listener.name=REPLICATION
log.dirs=/var/lib/kafka/data

# TLS on every listener; the truststore is the CA (PEM); certificates' host names are checked.
ssl.keystore.type=PKCS12
ssl.keystore.location=$secrets/kafka_keystore
ssl.keystore.password=$keystore_password
ssl.key.password=$keystore_password
ssl.truststore.type=PEM
ssl.truststore.location=$secrets/kafka_ca
ssl.enabled.protocols=TLSv1.3,TLSv1.2
ssl.endpoint.identification.algorithm=https
listener.name.controller.ssl.client.auth=required
listener.name.replication.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([a-zA-Z0-9.-]+)$/\$1/,DEFAULT

# Clients authenticate with SCRAM-SHA-512 (users and credentials live in the metadata log).
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.clients.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.clients.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;

# Authorisation: nothing without an ACL (kafka-acls.sh), except the super users.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:jobmatch-admin;User:kafka-1;User:kafka-2;User:kafka-3

# The log is the event store: replicated, never deleted, topics made only on purpose.
auto.create.topics.enable=false
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
unclean.leader.election.enable=false
log.retention.ms=-1
log.retention.bytes=-1
PROPERTIES

# Formats the storage on the first start only (--ignore-formatted), with the admin's SCRAM
# credential in the bootstrap metadata (the other users are added through the admin).
"$bin/kafka-storage.sh" format --ignore-formatted --cluster-id "$KAFKA_CLUSTER_ID" \
    --config "$conf" \
    --add-scram "SCRAM-SHA-512=[name=jobmatch-admin,password=$admin_password]"

exec "$bin/kafka-server-start.sh" "$conf"
