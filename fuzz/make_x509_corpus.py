#!/usr/bin/env python3
"""Writes the seed corpus of the x509_chain fuzz target (run from the fuzz/ directory;
needs the openssl command line). Seeds are certificates only: the keys stay in a
temporary directory that is removed.

Seed layout (see chain_harness.rs): a control byte, then certificates each prefixed by a
big-endian u16 length, the last one the trust anchor. Names ending in _ok verify.
"""
import os
import subprocess
import tempfile

LEAF = ("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:collector.test\n")
WILDCARD = LEAF.replace("DNS:collector.test", "DNS:*.vendor.example,DNS:other.example")
CN_ONLY = "basicConstraints=critical,CA:FALSE\n"
CA = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"


def main():
    with tempfile.TemporaryDirectory() as d:
        def ssl(*args):
            subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

        def key(name, spec):
            kind, param = spec.split(":")
            opt = f"rsa_keygen_bits:{param}" if kind == "rsa" else f"ec_paramgen_curve:{param}"
            ssl("genpkey", "-algorithm", "RSA" if kind == "rsa" else "EC", "-pkeyopt", opt,
                "-out", f"{name}.key")

        def der(name):
            ssl("x509", "-in", f"{name}.pem", "-outform", "DER", "-out", f"{name}.der")
            with open(os.path.join(d, f"{name}.der"), "rb") as f:
                return f.read()

        def root(name, spec, digest):
            key(name, spec)
            ssl("req", "-x509", "-new", "-key", f"{name}.key", "-subj", f"/CN=seed {name}",
                "-days", "3650", f"-{digest}", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", f"{name}.pem")
            return der(name)

        def issue(name, spec, issuer, ext, digest, cn=None):
            key(name, spec)
            ssl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn or 'seed ' + name}",
                "-out", f"{name}.csr")
            with open(os.path.join(d, f"{name}.ext"), "w") as f:
                f.write(ext)
            ssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey",
                f"{issuer}.key", "-set_serial", str(abs(hash(name)) % 10**12), "-days", "3650",
                f"-{digest}", "-extfile", f"{name}.ext", "-out", f"{name}.pem")
            return der(name)

        ec_root = root("ec-root", "ec:P-256", "sha256")
        ec_int = issue("ec-int", "ec:P-256", "ec-root", CA, "sha256")
        ec_leaf = issue("ec-leaf", "ec:P-256", "ec-int", LEAF, "sha256")
        rsa_root = root("rsa-root", "rsa:2048", "sha256")
        rsa_int = issue("rsa-int", "rsa:2048", "rsa-root", CA, "sha384")
        rsa_leaf = issue("rsa-leaf", "rsa:2048", "rsa-int", LEAF, "sha512")
        p256_under_rsa = issue("mixed-leaf", "ec:P-256", "rsa-int", LEAF, "sha256")
        p384_root = root("p384-root", "ec:P-384", "sha384")
        p384_int = issue("p384-int", "ec:P-384", "p384-root", CA, "sha384")
        p384_leaf = issue("p384-leaf", "ec:P-256", "p384-int", LEAF, "sha384")
        wildcard = issue("wild-leaf", "ec:P-256", "ec-int", WILDCARD, "sha256")
        cn_only = issue("cn-leaf", "ec:P-256", "ec-int", CN_ONLY, "sha256", cn="collector.test")
        under_leaf = issue("under-leaf", "ec:P-256", "ec-leaf", LEAF, "sha256")
        big_root = root("big-root", "rsa:4096", "sha256")
        big_int = issue("big-int", "rsa:2048", "big-root", CA, "sha256")
        big_leaf = issue("big-leaf", "ec:P-256", "big-int", LEAF, "sha256")

    def seed(control, *certs):
        out = bytes([control])
        for c in certs:
            out += len(c).to_bytes(2, "big") + c
        return out

    seeds = {
        "p256_chain_ok": seed(1, ec_leaf, ec_int, ec_root),
        "rsa_chain_ok": seed(1, rsa_leaf, rsa_int, rsa_root),
        "p256_leaf_rsa_chain_ok": seed(0, p256_under_rsa, rsa_int, rsa_root),
        "p384_chain_ok": seed(1, p384_leaf, p384_int, p384_root),
        "rsa4096_root_ok": seed(1, big_leaf, big_int, big_root),
        "root_in_chain_ok": seed(0, ec_leaf, ec_int, ec_root, ec_root),
        "unordered_ok": seed(0, ec_leaf, ec_root, ec_int, ec_root),
        "wildcard_ok": seed(2, wildcard, ec_int, ec_root),
        "cn_only_ok": seed(0, cn_only, ec_int, ec_root),
        "wrong_host": seed(2, ec_leaf, ec_int, ec_root),
        "wrong_root": seed(0, ec_leaf, ec_int, rsa_root),
        "leaf_as_issuer": seed(0, under_leaf, ec_leaf, ec_int, ec_root),
        "truncated_leaf": seed(0, ec_leaf[:-20], ec_int, ec_root),
        "too_long": seed(0, ec_leaf, ec_int, ec_int, ec_int, ec_int, ec_root),
        "empty": seed(0, ec_root),
    }
    os.makedirs("corpus/x509_chain", exist_ok=True)
    for name, data in seeds.items():
        assert len(data) <= 4096, (name, len(data))
        with open(f"corpus/x509_chain/{name}", "wb") as f:
            f.write(data)
    print(len(seeds), "x509_chain seeds")


main()
