#!/usr/bin/env bash
# Install the system packages qos-probe's tests use, on Debian/Ubuntu, only where missing.
# ping (ICMP prober), ip + nft (network-namespace loss tests), mosquitto (MQTT integration tests),
# tshark (outside check of the STAMP wire format), chromium (the report page, end to end, via playwright-core),
# openssl (self-signed certificates for the HTTPS configuration-delivery test).
set -euo pipefail
need=()
command -v ping >/dev/null || need+=(iputils-ping)
command -v ip >/dev/null || need+=(iproute2)
command -v nft >/dev/null || need+=(nftables)
command -v mosquitto >/dev/null || need+=(mosquitto)
command -v tshark >/dev/null || need+=(tshark)
command -v chromium >/dev/null || need+=(chromium)
command -v openssl >/dev/null || need+=(openssl)
if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
