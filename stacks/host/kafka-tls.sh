#!/bin/bash
# Make Kafka's TLS material: a private CA and a broker certificate it signs, for the name and address clients dial.
#
#   kafka-tls.sh OUT_DIR DNS_NAME IP_ADDRESS
#
# Writes into OUT_DIR (created 0700):
#   ca.pem      the CA's certificate: what clients trust (`ssl.ca.location`); public
#   broker.pem  the broker's unencrypted PKCS#8 private key, then its certificate and the CA's: a PEM keystore for
#               Kafka (`ssl.keystore.type=PEM`); mode 0600
# The CA's private key is deleted as soon as it has signed the broker's certificate, so it can sign nothing else:
# a new CA comes with a new host.
set -euo pipefail

if [ "$#" -ne 3 ]; then
  echo "usage: $0 OUT_DIR DNS_NAME IP_ADDRESS" >&2
  exit 2
fi
out_dir=$1 dns_name=$2 ip_address=$3
readonly VALID_DAYS=${KAFKA_TLS_VALID_DAYS:-825}

install -d -m 0700 "$out_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

# The CA: P-256 key, self-signed, may sign end-entity certificates only (pathlen 0).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ca.key"
openssl req -x509 -new -key "$work/ca.key" -sha256 -days "$VALID_DAYS" \
  -subj "/O=fitness-pipeline/CN=fitness-pipeline Kafka CA $(date -u +%Y%m%dT%H%M%SZ)" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" \
  -out "$work/ca.pem"

# The broker: P-256 key in PKCS#8 (the only private-key form Kafka's PEM keystore reads), a server certificate whose
# subject alternative names are the ones clients connect to, so hostname verification holds.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/broker.key"
openssl req -new -key "$work/broker.key" -subj "/O=fitness-pipeline/CN=$dns_name" -out "$work/broker.csr"
cat >"$work/broker.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$dns_name,IP:$ip_address
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
openssl x509 -req -in "$work/broker.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -sha256 \
  -days "$VALID_DAYS" -extfile "$work/broker.ext" -out "$work/broker.crt"
openssl verify -CAfile "$work/ca.pem" "$work/broker.crt" >/dev/null

cat "$work/broker.key" "$work/broker.crt" "$work/ca.pem" >"$out_dir/broker.pem"
chmod 0600 "$out_dir/broker.pem"
install -m 0644 "$work/ca.pem" "$out_dir/ca.pem"
