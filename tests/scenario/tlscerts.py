"""Certificates for the TLS scenario tests, made at test time with the
`openssl` command (Debian package openssl) in a directory of the caller's.

    certs = tlscerts.make(tmp)       # a few hundred ms; EC P-256 keys
    certs.ca                         # the test CA (PEM), for ca_file
    certs.server                     # (cert, key): IP:127.0.0.1 and DNS:localhost, signed by the CA
    certs.other_name                 # (cert, key): DNS:es.example.invalid only, signed by the CA
    certs.expired                    # (cert, key): like server, valid 2020-01-01..2020-02-01
    certs.self_signed                # (cert, key): IP:127.0.0.1 and DNS:localhost, its own issuer

Every server certificate is signed with `openssl ca`, which takes explicit
-startdate/-enddate on OpenSSL 3.0 (`openssl x509 -req` only has -days
there), so the expired one needs no fake clock.
"""
import os
import shutil
import subprocess
from types import SimpleNamespace

SERVER_NAMES = "IP:127.0.0.1,DNS:localhost"
OTHER_NAME = "DNS:es.example.invalid"
EXPIRED = ("20200101000000Z", "20200201000000Z")

CA_CONFIG = """
[ca]
default_ca = test_ca

[test_ca]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
certificate = $dir/ca.pem
private_key = $dir/ca.key
serial = $dir/serial
default_md = sha256
default_days = 30
policy = any_name
unique_subject = no
copy_extensions = none

[any_name]
commonName = supplied

[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $ENV::TLS_SAN
"""

KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def available():
    return shutil.which("openssl") is not None


def openssl(args, env=None):
    r = subprocess.run(["openssl"] + args, capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, **(env or {})))
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {r.stderr.strip()}")
    return r.stdout


def make(directory):
    """Creates the CA and the four server certificates under directory/tls."""
    d = os.path.join(directory, "tls")
    os.makedirs(os.path.join(d, "issued"), exist_ok=True)
    with open(os.path.join(d, "index.txt"), "w"):
        pass
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("1000\n")
    cnf = os.path.join(d, "ca.cnf")
    with open(cnf, "w") as f:
        f.write(CA_CONFIG.format(dir=d))
    ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    openssl(["req", "-x509"] + KEY + ["-keyout", ca_key, "-out", ca, "-days", "30", "-subj", "/CN=vizfeed test CA",
                                      "-addext", "basicConstraints=critical,CA:TRUE",
                                      "-addext", "keyUsage=critical,keyCertSign,cRLSign"])

    def signed(name, san, dates=None):
        cert, key, csr = (os.path.join(d, f"{name}.{ext}") for ext in ("pem", "key", "csr"))
        openssl(["req", "-new"] + KEY + ["-keyout", key, "-out", csr, "-subj", f"/CN={name}"])
        validity = ["-startdate", dates[0], "-enddate", dates[1]] if dates else ["-days", "30"]
        openssl(["ca", "-batch", "-notext", "-config", cnf, "-extensions", "server", "-in", csr, "-out", cert]
                + validity, env={"TLS_SAN": san})
        return cert, key

    def self_signed(name, san):
        cert, key = os.path.join(d, f"{name}.pem"), os.path.join(d, f"{name}.key")
        openssl(["req", "-x509"] + KEY + ["-keyout", key, "-out", cert, "-days", "30", "-subj", f"/CN={name}",
                                          "-addext", f"subjectAltName={san}"])
        return cert, key

    return SimpleNamespace(ca=ca, server=signed("server", SERVER_NAMES),
                           other_name=signed("other-name", OTHER_NAME),
                           expired=signed("expired", SERVER_NAMES, EXPIRED),
                           self_signed=self_signed("self-signed", SERVER_NAMES))
