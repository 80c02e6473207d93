#!/bin/sh
# Makes the secrets the production stack mounts (docker secrets), in ./secrets or $1:
#   kafka_ca.pem                         the CA that signed the brokers' certificates (public)
#   kafka-1.p12 kafka-2.p12 kafka-3.p12  each broker's key and certificate (PKCS#12)
#   kafka_keystore_password              the PKCS#12 files' password
#   kafka_<principal>_password           SCRAM passwords: admin, events, profiles, matching,
#                                        model, downstream
#   redis_<user>_password                Redis ACL passwords: events, profiles, admin
#   ca/ca.key                            the CA's private key: never mounted; keep it offline
# An existing file is kept (delete it to make a new one: that is how a secret is rotated,
# see deploy/README.md). Passwords are 64 hex characters, safe in URLs, JAAS and ACL files.
# Needs openssl. Nothing made here is committed (.gitignore).
set -eu

out=${1:-$(dirname "$0")/secrets}
umask 077
mkdir -p "$out/ca"
chmod 700 "$out" "$out/ca"

password() {
    if [ ! -s "$out/$1" ]; then
        openssl rand -hex 32 >"$out/$1"
        echo "made $1"
    fi
}

for name in admin events profiles matching model downstream; do
    password "kafka_${name}_password"
done
for name in events profiles admin; do
    password "redis_${name}_password"
done
password kafka_keystore_password

if [ ! -s "$out/ca/ca.key" ]; then
    openssl req -x509 -new -newkey rsa:3072 -nodes -sha256 -days 1825 \
        -subj "/CN=jobmatch Kafka CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$out/ca/ca.key" -out "$out/kafka_ca.pem" 2>/dev/null
    rm -f "$out"/kafka-*.p12 # certificates of another CA are of no use now
    echo "made the CA (kafka_ca.pem, ca/ca.key)"
fi

# Brokers: CN and subjectAltName kafka-N (clients check the host name), usable as server and
# as client (brokers and controllers authenticate one another with these, mTLS).
for node in 1 2 3; do
    host="kafka-$node"
    [ -s "$out/$host.p12" ] && continue
    work=$(mktemp -d)
    cat >"$work/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:$host,DNS:localhost
EXT
    openssl req -new -newkey rsa:3072 -nodes -sha256 -subj "/CN=$host" \
        -keyout "$work/key.pem" -out "$work/req.pem" 2>/dev/null
    openssl x509 -req -sha256 -days 825 -in "$work/req.pem" -CA "$out/kafka_ca.pem" \
        -CAkey "$out/ca/ca.key" -CAcreateserial -CAserial "$out/ca/ca.srl" \
        -extfile "$work/ext.cnf" -out "$work/cert.pem" 2>/dev/null
    openssl pkcs12 -export -name "$host" -inkey "$work/key.pem" -in "$work/cert.pem" \
        -certfile "$out/kafka_ca.pem" -out "$out/$host.p12" \
        -passout "file:$out/kafka_keystore_password"
    rm -rf "$work"
    echo "made $host.p12"
done

# docker compose bind-mounts file secrets with these modes: the containers run as
# unprivileged users (nobody, appuser, redis), so the files are readable by all, and the
# folder (0700) keeps them from the other users of this host.
find "$out" -maxdepth 1 -type f -exec chmod 644 {} +
chmod 600 "$out/ca/ca.key"
