#!/usr/bin/env python3
"""paho_peer.py's scenarios over TLS, for myqtt's interop tests (tests/tests/interop_tls.rs).

    python3 paho_tls_peer.py --ca CA.pem SCENARIO --port PORT --version {311,5} [...]

Everything after --ca CA.pem is paho_peer.py's command line (see its docstring); every client
it makes connects with TLS to 127.0.0.1:PORT, trusting only the PEM CA certificate CA.pem and
checking that the server's certificate names 127.0.0.1.
"""

import os
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import paho_peer  # noqa: E402


def main():
    argv = sys.argv[1:]
    if len(argv) < 2 or argv[0] != "--ca":
        paho_peer.fail("usage: paho_tls_peer.py --ca CA.pem SCENARIO ...")
    ca = argv[1]
    plain_init = paho_peer.Peer.__init__

    def tls_init(self, *args, **kwargs):
        plain_init(self, *args, **kwargs)
        self.client.tls_set(ca_certs=ca, cert_reqs=ssl.CERT_REQUIRED)

    paho_peer.Peer.__init__ = tls_init
    sys.argv = [sys.argv[0]] + argv[2:]
    paho_peer.main()


if __name__ == "__main__":
    main()
