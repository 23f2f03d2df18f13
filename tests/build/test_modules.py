"""The network backends are loadable modules (src/sink/module.h): libmida,
the mida program and the Python extension link no network or TLS library
(`mida serve` loads libmicrohttpd, which brings GnuTLS, when it starts:
src/serve/mhd.h);
a module that is missing, cannot be loaded, or comes from another build is
refused with a message that says what to install."""

import glob
import subprocess

import pytest

from build_support import BUILD, MIDA_BIN, clean_env

# Client libraries of the brokers and of PostgreSQL, and what libpq brings
# with it (TLS, Kerberos, LDAP, SASL).
NETWORK = ("libpq", "libhiredis", "libnats", "libmosquitto", "libssl",
           "libcrypto", "libgnutls", "libgssapi", "libkrb5", "libk5crypto",
           "libldap", "liblber", "libsasl2", "libmicrohttpd")

FAKE_MODULE = r"""
const char mida_module_version[] = VERSION;
const unsigned mida_module_abi = 2;
extern int a_function_no_library_has(void);
int mida_module_init(const void *host) {
#ifdef BROKEN
  return a_function_no_library_has();
#endif
  (void)host;
  return 0;
}
"""


def needed(path):
    out = subprocess.run(["ldd", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def network_libs(path):
    return [lib for lib in needed(path) if lib.startswith(NETWORK)]


@pytest.mark.parametrize("what", ["libmida.so", "mida", "preload", "python"])
def test_no_network_or_tls_library_is_linked(what):
    path = {"libmida.so": BUILD / "libmida.so",
            "mida": MIDA_BIN,
            "preload": BUILD / "src/preload/libmida_preload.so",
            "python": (glob.glob(str(BUILD / "python/mida/_mida*.so")) or
                       ["(no extension built)"])[0]}[what]
    assert network_libs(path) == [], f"{path} links {network_libs(path)}"


def test_the_modules_do_link_their_libraries():
    """The check above would see them: each module lists its library."""
    mods = {p.name: p for p in (BUILD / "src/modules").glob("mida_*.so")}
    if not mods:
        pytest.skip("no network module built (no client library found)")
    want = {"mida_postgresql.so": "libpq", "mida_redis.so": "libhiredis",
            "mida_nats.so": "libnats", "mida_mqtt.so": "libmosquitto"}
    for name, path in mods.items():
        assert any(lib.startswith(want[name]) for lib in needed(path)), name
    # Redis and MQTT make their TLS with OpenSSL themselves
    # (src/sink/tls.h): it is theirs to link, nobody else's.
    for name in ("mida_redis.so", "mida_mqtt.so"):
        if name in mods:
            assert any(lib.startswith("libssl") for lib in
                       needed(mods[name])), name


def mida(*args, **env):
    return subprocess.run([str(MIDA_BIN), *args], capture_output=True,
                          text=True, env=clean_env(**env), timeout=60)


def test_a_missing_module_names_the_package_to_install(tmp_path):
    r = mida("--store", "redis://127.0.0.1:1/s", "query", "SELECT 1",
             MIDA_MODULE_DIR=tmp_path)
    assert r.returncode == 1
    assert "mida_redis.so" in r.stderr and "libhiredis-dev" in r.stderr
    assert "libhiredis0.14" in r.stderr and str(tmp_path) in r.stderr
    r = mida("ingest", "--from", "mqtt://127.0.0.1:1/t", "--to",
             f"sqlite://{tmp_path}/s.db", MIDA_MODULE_DIR=tmp_path)
    assert r.returncode != 0 and "libmosquitto-dev" in r.stderr, r.stderr
    r = mida("observe", "mlflow", "--once", "--tracking-uri",
             "postgresql://u@127.0.0.1:1/m", "--store",
             f"sqlite://{tmp_path}/s.db", MIDA_MODULE_DIR=tmp_path)
    assert r.returncode != 0 and "libpq-dev" in r.stderr, r.stderr


def build_fake(tmp_path, name, version, broken=False):
    src = tmp_path / "fake.c"
    src.write_text(FAKE_MODULE)
    out = tmp_path / name
    cmd = ["cc", "-shared", "-fPIC", f'-DVERSION="{version}"', str(src),
           "-o", str(out)]
    if broken:
        cmd.insert(1, "-DBROKEN")
    subprocess.run(cmd, check=True)
    return out


def test_a_module_that_cannot_load_names_the_package(tmp_path):
    version = mida("version").stdout.split()[1]
    build_fake(tmp_path, "mida_nats.so", version, broken=True)
    r = mida("--store", "nats://127.0.0.1:1/s", "query", "SELECT 1",
             MIDA_MODULE_DIR=tmp_path)
    assert r.returncode == 1
    assert "a_function_no_library_has" in r.stderr, r.stderr
    assert "install the Debian package libnats3.4" in r.stderr, r.stderr


def test_a_module_of_another_build_is_refused(tmp_path):
    build_fake(tmp_path, "mida_redis.so", "0.0.0-other")
    r = mida("--store", "redis://127.0.0.1:1/s", "query", "SELECT 1",
             MIDA_MODULE_DIR=tmp_path)
    assert r.returncode == 1
    assert "not a module of this mida" in r.stderr, r.stderr
    assert "0.0.0-other" in r.stderr
