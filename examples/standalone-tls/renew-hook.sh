#!/bin/sh
# certbot deploy hook (/etc/letsencrypt/renewal-hooks/deploy/ssechat.sh): copies the renewed
# pair where the service can read it and asks ssechat to reload it without dropping streams.
set -eu
install -d -m 0755 /etc/ssechat/tls
install -m 0644 "$RENEWED_LINEAGE/fullchain.pem" /etc/ssechat/tls/fullchain.pem
# The key: readable by root and the ssl-cert group only (override.conf adds the group).
install -m 0640 -g ssl-cert "$RENEWED_LINEAGE/privkey.pem" /etc/ssechat/tls/privkey.pem
systemctl reload ssechat
