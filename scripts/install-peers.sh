#!/usr/bin/env bash
# Installs the real peers the test suite checks faxcore against (Debian packages).
# Runs apt-get only when something is missing and we are root; otherwise it reports
# what is missing and the tests decide (skip locally, fail when CI=true).
set -u
# command-or-file to check  ->  Debian package providing it
declare -A PEERS=(
  [/usr/bin/tiffcp]=libtiff-tools
  [/usr/bin/gs]=ghostscript
  [/usr/bin/pbmtog3]=netpbm
  [/usr/include/tiffio.h]=libtiff-dev
  [/usr/include/spandsp/version.h]=libspandsp-dev
  [/usr/lib/x86_64-linux-gnu/libspandsp.so.2]=libspandsp2
  [/usr/lib/postgresql]=postgresql
  [/usr/bin/efax]=efax
  # HylaFAX's daemons (faxq, hfaxd, faxgetty) and client (sendfax), for
  # tests/interop/hylafax (run on a private spool; nothing is started at install here)
  [/usr/sbin/faxgetty]=hylafax-server
  [/usr/bin/sendfax]=hylafax-client
  # AddressSanitizer runtime for the ASan replay of `make test` (gcc 12's; it usually
  # comes with gcc, via libgcc-12-dev)
  [/usr/lib/x86_64-linux-gnu/libasan.so.8]=libasan8
  # fax over SIP (tests/interop/sip): SIPp scenarios, Kamailio as registrar/proxy,
  # tshark to decode what faxcore put on the wire (RTP, UDPTL/T.38)
  [/usr/bin/sipp]=sip-tester
  [/usr/bin/tshark]=tshark
  [/usr/sbin/kamailio]=kamailio
  # the customer's ways in (tests/web, tests/mail, tests/cups): a real browser driven by
  # Selenium, swaks for SMTP sessions, cupsd for the printer driver
  [/usr/bin/chromium]=chromium
  [/usr/bin/chromedriver]=chromium-driver
  [/usr/bin/swaks]=swaks
  [/usr/sbin/cupsd]=cups
  [/usr/bin/lp]=cups-client
  # JBIG T.85 interop (tests/interop/jbigkit, benchmarks/codec.py): jbigkit's tools and libjbig85
  [/usr/bin/pbmtojbg85]=jbigkit-bin
  [/usr/include/jbig85.h]=libjbig-dev
)
missing=()
for path in "${!PEERS[@]}"; do
  # multiarch: libraries under /usr/lib/<triplet>/, headers may be under /usr/include/<triplet>/
  if [ ! -e "$path" ] && ! ls /usr/lib/*/"$(basename "$path")" >/dev/null 2>&1 \
     && ! ls "$(dirname "$path")"/*/"$(basename "$path")" >/dev/null 2>&1; then
    missing+=("${PEERS[$path]}")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "peers: all present"
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "peers: missing ${missing[*]} (not root: install them with apt-get)" >&2
  exit 0
fi
echo "peers: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || echo "peers: apt-get update failed" >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/faxcore-peers.log 2>&1 \
  || { echo "peers: apt-get install failed, see /tmp/faxcore-peers.log" >&2; tail -20 /tmp/faxcore-peers.log >&2; }
exit 0
